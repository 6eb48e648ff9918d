"""The catalogue file, its loader and its sync into the database."""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from providers.catalog import CAPABILITY_TYPES, CatalogError, load_catalog_data, sync_catalog
from providers.models import CatalogModel, ModelAlias

# 000 is the canonical price list: (model string, tier, credits per image), copied by hand
# so the suite does not depend on the seeds folder beside the clone.
PRICE_LIST_000: list[tuple[str, str, int]] = [
    ("flux-1-quick", "standard", 2),
    ("flux-2-klein", "standard", 2),
    ("flux-kontext-fast", "standard", 2),
    ("imagen-3-flash", "standard", 2),
    ("gpt-image-1-mini-low", "standard", 2),
    ("luma-photon-flash-1", "standard", 2),
    ("gpt-image-2-mini", "standard", 5),
    ("flux-1-pro", "standard", 8),
    ("imagen-3-pro", "standard", 8),
    ("flux-2-pro", "standard", 8),
    ("gpt-image-1-mini-medium", "standard", 8),
    ("ideogram-v3-turbo", "standard", 6),
    ("luma-photon-1", "standard", 10),
    ("recraft-v4", "standard", 12),
    ("leonardo-phoenix", "standard", 15),
    ("flux-2-flex", "advanced", 20),
    ("flux-2-max", "advanced", 20),
    ("flux-kontext-pro", "advanced", 20),
    ("ideogram-v3", "advanced", 20),
    ("imagen-4-pro", "advanced", 20),
    ("recraft-v3", "advanced", 20),
    ("gemini-2.5-flash-image", "advanced", 20),
    ("gpt-image-1-mini-high", "advanced", 20),
    ("gpt-image-1-medium", "advanced", 30),
    ("gpt-image-2", "advanced", 20),
    ("flux-1-ultra", "advanced", 30),
    ("imagen-4-ultra", "advanced", 30),
    ("dall-e-3", "advanced", 33),
    ("gemini-3.1-flash-image-mini", "premium", 34),
    ("flux-kontext-max", "premium", 40),
    ("recraft-v3-svg", "premium", 40),
    ("recraft-v4-svg", "premium", 40),
    ("ideogram-v3-quality", "premium", 45),
    ("gemini-3.1-flash-image", "premium", 50),
    ("gemini-3-pro-image", "premium", 70),
    ("gemini-3.1-flash-image-hd", "premium", 75),
    ("gpt-image-2-hd", "ultra", 115),
    ("gpt-image-1-high", "ultra", 120),
    ("gemini-3-pro-image-hd", "ultra", 120),
    ("recraft-v4-pro", "ultra", 125),
]
PRICES_000 = {slug: (tier, credits) for slug, tier, credits in PRICE_LIST_000}

IDENTIFIERS_002 = [
    "midjourney", "nano-banana", "nano-banana-pro", "nano-banana-2", "flux-1.1-pro",
    "flux-1.1-pro-ultra", "flux-2-pro", "flux-2-dev", "flux-2-flex", "flux-2-max",
    "seedream-3", "seedream-3.1", "seedream-4", "seedream-4.5", "seedream-5-lite",
    "ideogram-v2", "ideogram-v2-turbo", "ideogram-v2a", "ideogram-v2a-turbo",
    "ideogram-v3-balanced", "ideogram-v3-turbo", "ideogram-v3-quality", "ideogram-character",
    "imagen-3", "imagen-3-fast", "imagen-4", "imagen-4-ultra", "imagen-4-fast",
    "dall-e-3", "dall-e-2", "gpt-image-1.5", "kling-image", "qwen-image", "qwen-image-2",
    "qwen-image-2-pro", "wan-image-2.6", "wan-image-2.7", "wan-image-2.7-pro",
    "grok-imagine-image", "reve-create",
]  # fmt: skip
IDENTIFIERS_004 = [
    "openai/gpt-image-2", "openai/gpt-image-1-mini", "google/gemini-3-pro-image",
    "google/gemini-3.1-flash-image", "nano-banana-pro", "nano-banana-2",
]  # fmt: skip
IDENTIFIERS_003 = ["gemini-2.5-flash-image", "gemini-3-pro-image-preview"]
IDENTIFIERS_001 = ["dall-e-3", "gemini-2-5-flash-image", "imagen-4", "qwen-image", "flux-1-pro", "grok-image"]
ALL_IDENTIFIERS = sorted(
    {s for s, _, _ in PRICE_LIST_000} | {*IDENTIFIERS_002, *IDENTIFIERS_004, *IDENTIFIERS_003, *IDENTIFIERS_001}
)

# Identifiers that name the same model must land on one entry.
SAME_MODEL = {
    "nano-banana": "gemini-2.5-flash-image",
    "gemini-2-5-flash-image": "gemini-2.5-flash-image",
    "nano-banana-pro": "gemini-3-pro-image",
    "google/gemini-3-pro-image": "gemini-3-pro-image",
    "gemini-3-pro-image-preview": "gemini-3-pro-image",
    "nano-banana-2": "gemini-3.1-flash-image",
    "google/gemini-3.1-flash-image": "gemini-3.1-flash-image",
    "openai/gpt-image-2": "gpt-image-2",
    "flux-1.1-pro-ultra": "flux-1-ultra",
    "ideogram-v3-balanced": "ideogram-v3",
    "imagen-3": "imagen-3-pro",
    "imagen-3-fast": "imagen-3-flash",
    "imagen-4": "imagen-4-pro",
    "grok-image": "grok-imagine-image",
}


@pytest.fixture(scope="module")
def entries() -> list[dict[str, Any]]:
    return load_catalog_data()


@pytest.fixture
def synced(db: None) -> None:
    sync_catalog()


def write_catalog(tmp_path: Path, models: list[dict[str, Any]], name: str = "catalog.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"version": 1, "models": models}), encoding="utf-8")
    return path


def by_slug(entries: list[dict[str, Any]], slug: str) -> dict[str, Any]:
    return copy.deepcopy(next(e for e in entries if e["slug"] == slug))


# -- the file ------------------------------------------------------------------------------
def test_every_000_model_has_its_tier_and_price(entries: list[dict[str, Any]]) -> None:
    catalogue = {e["slug"]: e for e in entries}
    for slug, (tier, credits) in PRICES_000.items():
        assert slug in catalogue, f"{slug} from 000 is missing"
        entry = catalogue[slug]
        assert (entry["tier"], entry["credits_per_image"]) == (tier, credits), slug
        assert entry["price_note"] == "000"


def test_models_outside_000_take_a_named_000_equivalent_price(entries: list[dict[str, Any]]) -> None:
    others = [e for e in entries if e["slug"] not in PRICES_000]
    assert others, "002's extra models should be in the catalogue"
    for entry in others:
        prefix = "nearest 000 equivalent: "
        assert entry["price_note"].startswith(prefix), entry["slug"]
        twin = entry["price_note"].removeprefix(prefix)
        assert twin in PRICES_000, f"{entry['slug']} points at {twin}, which is not in 000"
        assert (entry["tier"], entry["credits_per_image"]) == PRICES_000[twin], entry["slug"]
    assert by_slug(entries, "flux-1.1-pro")["price_note"] == "nearest 000 equivalent: flux-1-pro"


def test_every_entry_is_internally_consistent(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        caps = entry["capabilities"]
        assert set(caps) >= set(CAPABILITY_TYPES), entry["slug"]
        assert caps["resolutions"] == list(entry["sizes"])
        for table in entry["sizes"].values():
            assert list(table) == caps["aspect_ratios"], f"{entry['slug']}: ratios out of order"
        assert entry["default_aspect_ratio"] in entry["sizes"][entry["default_resolution"]]
        if not caps["edit"]:
            assert caps["max_references"] == 0 and not caps["mask"]


def test_fixed_quality_variants_carry_their_provider_options(entries: list[dict[str, Any]]) -> None:
    expected = {
        "gpt-image-1-mini-low": ("gpt-image-1-mini", {"quality": "low"}),
        "gpt-image-1-mini-medium": ("gpt-image-1-mini", {"quality": "medium"}),
        "gpt-image-1-high": ("gpt-image-1", {"quality": "high"}),
        "gpt-image-2-hd": ("gpt-image-2", {"quality": "high"}),
        "ideogram-v3-turbo": ("ideogram-v3", {"rendering_speed": "TURBO"}),
        "ideogram-v3-quality": ("ideogram-v3", {"rendering_speed": "QUALITY"}),
    }
    for slug, (remote, options) in expected.items():
        entry = by_slug(entries, slug)
        assert entry["remote_model"] == remote
        assert options.items() <= entry["options"].items()
        # A fixed quality is part of the price, so it is not offered as a choice.
        assert entry["capabilities"]["qualities"] == []


def test_capabilities_match_the_provider_documents(entries: list[dict[str, Any]]) -> None:
    pro = by_slug(entries, "gemini-3-pro-image")["capabilities"]
    assert (pro["max_references"], pro["grounding"], pro["thinking"]) == (14, True, True)
    flash = by_slug(entries, "gemini-2.5-flash-image")["capabilities"]
    assert (flash["max_references"], flash["thinking"]) == (3, False)
    assert len(flash["aspect_ratios"]) == 10
    assert by_slug(entries, "recraft-v3-svg")["capabilities"]["svg"] is True
    assert by_slug(entries, "gpt-image-2")["capabilities"]["mask"] is True
    assert by_slug(entries, "gpt-image-2")["capabilities"]["streaming"] is True
    assert by_slug(entries, "ideogram-v3")["capabilities"]["max_count"] == 8
    assert by_slug(entries, "recraft-v3")["capabilities"]["max_count"] == 6
    assert "REALISTIC" in by_slug(entries, "ideogram-v3")["capabilities"]["styles"]


# -- sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("slug", "resolution", "ratio", "pixels"),
    [
        # Served by gemini-3.1-flash-image at 1K since 2 October 2026 (seed 003, Gemini 3 table).
        ("gemini-2.5-flash-image", "default", "16:9", (1376, 768)),
        ("gemini-2.5-flash-image", "default", "21:9", (1584, 672)),
        ("gpt-image-1-high", "default", "16:9", (1536, 1024)),
        ("gpt-image-1-high", "default", "9:16", (1024, 1536)),
        # Served by gemini-3-pro-image at 1K since Imagen left the Gemini API (seed 003's table).
        ("imagen-4-ultra", "default", "16:9", (1376, 768)),
        ("recraft-v4", "default", "16:9", (1344, 768)),
        ("recraft-v4-pro", "default", "4:3", (2432, 1792)),
        ("flux-1-ultra", "default", "16:9", (2752, 1536)),
        ("ideogram-v3", "default", "16:9", (1312, 736)),
        ("ideogram-v2", "default", "16:9", (1312, 736)),  # 1280x768 is 5:3
        # Kontext pro/max: ~1 MP on FLUX.1 Kontext's grid at the requested ratio, not 000's FLUX.2 sizes.
        ("flux-kontext-pro", "default", "1:1", (1024, 1024)),
        ("flux-kontext-pro", "default", "16:9", (1392, 752)),
        ("flux-kontext-max", "default", "9:16", (752, 1392)),
        ("flux-kontext-max", "default", "21:9", (1568, 672)),
        ("gemini-3-pro-image", "2K", "1:1", (2048, 2048)),
        ("gemini-3-pro-image", "1K", "16:9", (1376, 768)),
        ("gemini-3-pro-image-hd", "4K", "16:9", (5504, 3072)),
        ("luma-photon-1", "default", "16:9", (2048, 1152)),
        ("recraft-v3", "default", "16:9", (1820, 1024)),
        ("flux-2-pro", "default", "16:9", (1920, 1088)),
        ("ideogram-v3", "default", "9:16", (768, 1344)),
        ("dall-e-3", "default", "16:9", (1792, 1024)),
    ],
)
def test_output_sizes(synced: None, slug: str, resolution: str, ratio: str, pixels: tuple[int, int]) -> None:
    assert CatalogModel.objects.get(slug=slug).output_size(ratio, resolution) == pixels


def test_gemini_resolutions_and_defaults(synced: None) -> None:
    pro = CatalogModel.objects.get(slug="gemini-3-pro-image")
    assert (pro.resolutions, pro.default_resolution) == (["1K", "2K"], "2K")
    # 4K is what the dearer HD entry sells, so the 70-credit entry must not offer it.
    assert CatalogModel.objects.get(slug="gemini-3-pro-image-hd").resolutions == ["4K"]


def test_every_default_choice_has_a_size(synced: None) -> None:
    models = list(CatalogModel.objects.all())
    assert len(models) == len(load_catalog_data())
    for model in models:
        width, height = model.output_size(model.default_aspect_ratio, model.default_resolution) or (0, 0)
        assert width > 0 and height > 0, model.slug
        # Landscape ratios give landscape pixels, portrait ones portrait.
        for resolution in model.resolutions:
            for ratio in model.aspect_ratios:
                w, h = model.output_size(ratio, resolution) or (0, 0)
                a, b = (float(x) for x in ratio.split(":"))
                assert (a > b) == (w > h) and (a < b) == (w < h), f"{model.slug} {resolution} {ratio}"


# -- resolving identifiers ----------------------------------------------------------------
@pytest.mark.parametrize("identifier", ALL_IDENTIFIERS)
def test_every_seed_identifier_resolves(synced: None, identifier: str) -> None:
    model = CatalogModel.objects.resolve(identifier)
    assert model is not None, identifier
    assert model == CatalogModel.objects.resolve(identifier.upper())


def test_identifiers_for_one_model_share_an_entry(synced: None) -> None:
    for identifier, slug in SAME_MODEL.items():
        assert CatalogModel.objects.resolve(identifier).slug == slug, identifier


# -- sync ----------------------------------------------------------------------------------
def test_sync_creates_then_is_idempotent(db: None) -> None:
    first = sync_catalog()
    total = len(load_catalog_data())
    assert (first.created, first.updated, first.unchanged) == (total, 0, 0)
    assert first.aliases == ModelAlias.objects.count() > 0
    second = sync_catalog()
    assert (second.created, second.updated, second.unchanged) == (0, 0, total)
    assert second.aliases_changed == 0
    assert CatalogModel.objects.count() == total


def test_fixed_options_reach_the_row(synced: None) -> None:
    assert CatalogModel.objects.get(slug="gpt-image-1-mini-low").fixed_options == {"quality": "low"}
    assert CatalogModel.objects.get(slug="flux-2-pro").fixed_options == {}


def test_admin_edits_survive_a_sync_until_reset(synced: None) -> None:
    CatalogModel.objects.filter(slug="flux-2-pro").update(
        credits_per_image=11,
        enabled=False,
        family="replicate",
        remote_model="black-forest-labs/flux-2-pro",
        admin_edited=["credits_per_image", "enabled", "family", "remote_model"],
    )
    # A field nobody marked as edited follows the file on a normal sync.
    CatalogModel.objects.filter(slug="flux-2-pro").update(display_name="Renamed")

    report = sync_catalog()
    row = CatalogModel.objects.get(slug="flux-2-pro")
    assert (row.credits_per_image, row.enabled, row.family, row.remote_model) == (
        11,
        False,
        "replicate",
        "black-forest-labs/flux-2-pro",
    )
    assert row.display_name == "Flux 2 Pro"
    assert report.updated == 1

    sync_catalog(reset=True)
    row.refresh_from_db()
    assert (row.credits_per_image, row.enabled, row.family, row.remote_model) == (8, True, "bfl", "flux-2-pro")
    assert row.admin_edited == []


def test_a_route_nobody_edited_follows_the_file(synced: None) -> None:
    # Before the per-field record, family and remote_model were never updated on existing rows.
    CatalogModel.objects.filter(slug="flux-2-pro").update(family="replicate", remote_model="old/route", credits_per_image=9)
    sync_catalog()
    row = CatalogModel.objects.get(slug="flux-2-pro")
    assert (row.family, row.remote_model, row.credits_per_image) == ("bfl", "flux-2-pro", 8)


def test_a_model_dropped_from_the_file_is_disabled_not_deleted(
    db: None, tmp_path: Path, entries: list[dict[str, Any]]
) -> None:
    sync_catalog()
    kept = [e for e in entries if e["slug"] != "dall-e-2"]
    report = sync_catalog(path=write_catalog(tmp_path, kept))
    assert report.disabled == 1
    dropped = CatalogModel.objects.get(slug="dall-e-2")
    assert dropped.enabled is False
    assert CatalogModel.objects.filter(enabled=True).count() == len(kept) - sum(
        1 for e in kept if not e["enabled"]
    )


def test_aliases_follow_the_file_exactly(db: None, tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    sync_catalog()
    models = copy.deepcopy(entries)
    flash = next(e for e in models if e["slug"] == "gemini-2.5-flash-image")
    flash["aliases"] = ["nano-banana"]  # drop the others
    imagen = next(e for e in models if e["slug"] == "imagen-4-ultra")
    imagen["aliases"] = ["imagen-4"]  # move imagen-4 off imagen-4-pro
    next(e for e in models if e["slug"] == "imagen-4-pro")["aliases"] = []

    sync_catalog(path=write_catalog(tmp_path, models))
    assert list(ModelAlias.objects.filter(model__slug="gemini-2.5-flash-image").values_list("alias", flat=True)) == [
        "nano-banana"
    ]
    assert CatalogModel.objects.resolve("gemini-2-5-flash-image") is None
    assert CatalogModel.objects.resolve("imagen-4").slug == "imagen-4-ultra"
    assert ModelAlias.objects.count() == sum(len(e["aliases"]) for e in models)


def test_sync_command_prints_the_report(db: None) -> None:
    out = StringIO()
    call_command("sync_catalog", stdout=out)
    assert f"{len(load_catalog_data())} created" in out.getvalue()
    out = StringIO()
    call_command("sync_catalog", "--reset", stdout=out)
    assert "0 created, 0 updated" in out.getvalue()


# -- rejecting bad files ------------------------------------------------------------------
def test_rejects_a_duplicate_alias(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    a, b = by_slug(entries, "imagen-4-pro"), by_slug(entries, "imagen-4-ultra")
    b["aliases"] = ["IMAGEN-4"]
    with pytest.raises(CatalogError, match="alias 'IMAGEN-4' of 'imagen-4-ultra' is already an alias of 'imagen-4-pro'"):
        load_catalog_data(write_catalog(tmp_path, [a, b]))


def test_rejects_an_alias_equal_to_a_slug(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    a, b = by_slug(entries, "imagen-4-pro"), by_slug(entries, "imagen-4-ultra")
    a["aliases"] = ["imagen-4-ultra"]
    with pytest.raises(CatalogError, match="is already slug"):
        load_catalog_data(write_catalog(tmp_path, [a, b]))


def test_rejects_a_bad_tier(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    entry = by_slug(entries, "flux-2-pro")
    entry["tier"] = "platinum"
    with pytest.raises(CatalogError, match=r"flux-2-pro.*tier 'platinum'"):
        load_catalog_data(write_catalog(tmp_path, [entry]))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.update(credits_per_image=0), "credits_per_image must be a positive integer"),
        (lambda e: e.update(credits_per_image=True), "credits_per_image must be int"),
        (lambda e: e.pop("sizes"), "missing sizes"),
        (lambda e: e.update(default_aspect_ratio="7:5"), "default_aspect_ratio '7:5'"),
        (lambda e: e.update(default_resolution="8K"), "default_resolution '8K'"),
        (lambda e: e["sizes"]["default"].pop("16:9"), "must give exactly the aspect ratios"),
        (lambda e: e["capabilities"].pop("mask"), "capabilities is missing mask"),
        (lambda e: e["capabilities"].update(resolutions=["1K"]), "capabilities.resolutions"),
        (lambda e: e.update(family="midjourney"), "family 'midjourney'"),
        (lambda e: e.update(colour="red"), "unknown key"),
    ],
)
def test_rejects_inconsistent_entries(tmp_path: Path, entries: list[dict[str, Any]], mutate: Any, message: str) -> None:
    entry = by_slug(entries, "flux-2-pro")
    mutate(entry)
    with pytest.raises(CatalogError, match=message):
        load_catalog_data(write_catalog(tmp_path, [entry]))


def test_rejects_a_duplicate_slug(tmp_path: Path, entries: list[dict[str, Any]]) -> None:
    entry = by_slug(entries, "flux-2-pro")
    twin = {**copy.deepcopy(entry), "aliases": []}
    with pytest.raises(CatalogError, match="duplicate slug"):
        load_catalog_data(write_catalog(tmp_path, [entry, twin]))


def test_a_bad_file_changes_nothing(db: None, tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text('{"version": 1, "models": [', encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        sync_catalog(path=path)
    assert not CatalogModel.objects.exists()


# -- admin ---------------------------------------------------------------------------------
def test_admin_lists_and_searches_models(synced: None, admin_client: Client) -> None:
    url = reverse("admin:providers_catalogmodel_changelist")
    response = admin_client.get(url, {"q": "nano-banana-pro"})
    assert response.status_code == 200
    assert "gemini-3-pro-image" in response.content.decode()
    assert admin_client.get(reverse("admin:providers_providerstatus_changelist")).status_code == 200


def test_gpt_image_2_refuses_a_transparent_background_at_submit_from_the_catalogue(synced: None, designer: Any) -> None:
    """gpt-image-2 answers 400 to background=transparent: the catalogue's `backgrounds` says so, and
    the job service refuses it before anything is held (not a rule private to /v1)."""
    from studio.models import Job
    from studio.services.errors import ValidationFailed
    from studio.services.jobs import validate_job

    for slug in ("gpt-image-2-mini", "gpt-image-2", "gpt-image-2-hd"):
        model = CatalogModel.objects.get(slug=slug)
        assert "transparent" not in model.cap("backgrounds"), slug
        with pytest.raises(ValidationFailed) as refused:
            validate_job(membership=designer, model=slug, prompt="a logo", options={"background": "transparent"})
        assert refused.value.errors["background"] == f"{model.display_name} does not offer a transparent background."
    assert validate_job(membership=designer, model="gpt-image-2", prompt="a logo", options={"background": "opaque"})
    assert not Job.objects.exists()
