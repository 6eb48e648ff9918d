"""Model lifecycle as data: retirement dates, successor routes, and what shows them."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.forms.models import model_to_dict
from django.test import Client, RequestFactory
from django.urls import reverse

from providers.admin import CatalogModelAdmin
from providers.catalog import CatalogError, load_catalog_data, sync_catalog
from providers.models import CatalogModel

RETIRED = {
    # model string: (family, remote model, fixed options the successor is called with)
    "dall-e-3": ("openai", "gpt-image-2", {"quality": "medium"}),
    "dall-e-2": ("openai", "gpt-image-2", {"quality": "low"}),
    "gpt-image-1-mini-low": ("openai", "gpt-image-2", {"quality": "low"}),
    "gpt-image-1-mini-medium": ("openai", "gpt-image-2", {"quality": "medium"}),
    "gpt-image-1-mini-high": ("openai", "gpt-image-2", {"quality": "high"}),
    "gpt-image-1.5": ("openai", "gpt-image-2", {"quality": "medium"}),
    "imagen-3-flash": ("gemini", "gemini-3.1-flash-image", {"thinking": "MINIMAL"}),
    "imagen-3-pro": ("gemini", "gemini-3.1-flash-image", {"thinking": "HIGH"}),
    "imagen-4-fast": ("gemini", "gemini-3.1-flash-image", {"thinking": "MINIMAL"}),
    "imagen-4-pro": ("gemini", "gemini-3.1-flash-image", {"thinking": "HIGH"}),
    "imagen-4-ultra": ("gemini", "gemini-3-pro-image", {}),
    "gemini-2.5-flash-image": ("gemini", "gemini-3.1-flash-image", {}),
}
TODAY = datetime.date(2026, 12, 2)


def write(tmp_path: Path, models: list[dict[str, Any]]) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"version": 1, "models": models}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("slug", "route"), RETIRED.items())
def test_a_retired_model_string_is_served_by_its_successor(db: None, slug: str, route: tuple[Any, ...]) -> None:
    sync_catalog(today=TODAY)
    row = CatalogModel.objects.get(slug=slug)
    family, remote, options = route
    assert (row.family, row.remote_model) == (family, remote)
    assert options.items() <= row.fixed_options.items()
    served = row.served_route(TODAY)
    assert (served.family, served.remote_model, served.since) == (family, remote, row.retires_on)
    assert row.lifecycle["source"].startswith("https://")
    assert row.lifecycle["retired_route"]["remote_model"] != remote
    assert row.served_by(TODAY).startswith(f"served by {remote} since ")


def test_before_its_date_a_model_keeps_its_own_route_and_switches_on_the_day(db: None) -> None:
    sync_catalog(today=datetime.date(2026, 11, 20))
    row = CatalogModel.objects.get(slug="gpt-image-1.5")
    assert (row.family, row.remote_model) == ("openai", "gpt-image-1.5")
    assert row.served_by(datetime.date(2026, 11, 30)) == ""
    # served_route switches on the day without waiting for the next sync.
    on_the_day = row.served_route(datetime.date(2026, 12, 1))
    assert (on_the_day.remote_model, on_the_day.options["quality"]) == ("gpt-image-2", "medium")
    assert row.served_by(datetime.date(2026, 12, 1)) == "served by gpt-image-2 since 1 December 2026"
    assert [m.slug for m in CatalogModel.objects.filter(slug="gpt-image-1.5").retiring_within()] == []


def test_the_admin_lists_what_retires_within_30_days(db: None, admin_client: Client, tmp_path: Path) -> None:
    entries = copy.deepcopy(load_catalog_data())
    soon = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    flux = next(e for e in entries if e["slug"] == "flux-2-pro")
    flux["lifecycle"] = {
        "retires_on": soon,
        "successor": {"family": "bfl", "remote_model": "flux-2-max"},
        "reason": "test",
        "source": "https://docs.bfl.ai/",
    }
    sync_catalog(path=write(tmp_path, entries))
    assert [m.slug for m in CatalogModel.objects.retiring_within()] == ["flux-2-pro"]
    page = admin_client.get(reverse("admin:providers_catalogmodel_changelist"), follow=True).content.decode()
    assert "Retiring within 30 days: flux-2-pro" in page
    filtered = admin_client.get(reverse("admin:providers_catalogmodel_changelist"), {"lifecycle": "retiring"})
    assert filtered.context["cl"].result_count == 1


def test_an_admin_edit_is_recorded_per_field_and_survives_the_sync(db: None, rf: RequestFactory, admin_user: Any) -> None:
    sync_catalog()
    row = CatalogModel.objects.get(slug="flux-2-pro")
    model_admin = CatalogModelAdmin(CatalogModel, site)
    request = rf.post("/")
    request.user = admin_user
    form_class = model_admin.get_form(request, row)
    # What the change form posts back: every field as rendered, one of them changed.
    fields = form_class.base_fields
    data = {k: fields[k].prepare_value(v) for k, v in model_to_dict(row).items() if k in fields}
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    data["credits_per_image"] = 13
    form = form_class(data=data, instance=row)
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    row.refresh_from_db()
    assert row.admin_edited == ["credits_per_image"]

    CatalogModel.objects.filter(pk=row.pk).update(description="stale")
    sync_catalog()
    row.refresh_from_db()
    assert row.credits_per_image == 13  # edited: kept
    assert row.description != "stale"  # not edited: from the file


def test_an_admin_reroute_of_a_retired_model_wins_over_the_successor(db: None) -> None:
    sync_catalog(today=TODAY)
    CatalogModel.objects.filter(slug="dall-e-3").update(
        remote_model="gpt-image-1", admin_edited=["remote_model"]
    )
    sync_catalog(today=TODAY)
    row = CatalogModel.objects.get(slug="dall-e-3")
    assert row.remote_model == "gpt-image-1"
    assert row.served_route(TODAY).remote_model == "gpt-image-1"


@pytest.mark.parametrize(
    ("lifecycle", "message"),
    [
        ({"retires_on": "soon", "successor": {"family": "bfl", "remote_model": "x"}, "reason": "r", "source": "https://a"}, "a date"),
        ({"retires_on": "2027-01-01", "successor": {"family": "nope", "remote_model": "x"}, "reason": "r", "source": "https://a"}, "not a family"),
        ({"retires_on": "2027-01-01", "successor": {"family": "bfl"}, "reason": "r", "source": "https://a"}, "needs family and remote_model"),
        ({"retires_on": "2027-01-01", "successor": {"family": "bfl", "remote_model": "x"}, "reason": "r", "source": "a memo"}, "https"),
        ({"retires_on": "2027-01-01", "successor": {"family": "bfl", "remote_model": "x"}, "reason": "r"}, "missing source"),
    ],
)
def test_a_bad_lifecycle_is_refused(tmp_path: Path, lifecycle: dict[str, Any], message: str) -> None:
    entries = copy.deepcopy(load_catalog_data())
    entries[0]["lifecycle"] = lifecycle
    with pytest.raises(CatalogError, match=message):
        load_catalog_data(write(tmp_path, entries))


def test_models_api_shows_who_serves_a_retired_model(db: None) -> None:
    from studio.api.resources import lifecycle_resource

    sync_catalog()
    note = lifecycle_resource(CatalogModel.objects.get(slug="dall-e-3"))
    assert note is not None
    assert note["retired"] is True
    assert note["served_by"] == {"provider": "openai", "model": "gpt-image-2", "since": "2026-05-12"}
    assert note["source"].startswith("https://developers.openai.com/")
    assert lifecycle_resource(CatalogModel.objects.get(slug="flux-2-pro")) is None


def test_the_migration_marks_only_what_admins_changed_from_the_previous_file(db: None) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("providers.migrations.0003_lifecycle_and_admin_edits")
    sync_catalog()
    # As the previous file had them: dall-e-3 on its own route (not an admin's doing) …
    CatalogModel.objects.filter(slug="dall-e-3").update(remote_model="dall-e-3", admin_edited=[])
    # … and flux-2-pro re-priced by an admin.
    CatalogModel.objects.filter(slug="flux-2-pro").update(credits_per_image=9, admin_edited=[])

    migration.mark_admin_edits(apps, None)

    assert CatalogModel.objects.get(slug="dall-e-3").admin_edited == []
    assert CatalogModel.objects.get(slug="flux-2-pro").admin_edited == ["credits_per_image"]
    # So the next sync re-routes dall-e-3 and keeps the admin's price.
    sync_catalog()
    assert CatalogModel.objects.get(slug="dall-e-3").remote_model == "gpt-image-2"
    assert CatalogModel.objects.get(slug="flux-2-pro").credits_per_image == 9


def test_kling_and_reve_go_to_the_aggregator_once_it_is_configured(db: None, settings: Any) -> None:
    from providers.registry import route_for_model

    sync_catalog()
    kling = CatalogModel.objects.get(slug="kling-image")
    assert kling.served_route().family == "fal"
    settings.AGGREGATOR_API_KEY, settings.AGGREGATOR_BASE_URL = "agg-key", "https://agg.example"
    served = kling.served_route()
    assert (served.family, served.remote_model) == ("aggregator", "kling-image")
    assert route_for_model(CatalogModel.objects.get(slug="reve-create")).family == "aggregator"
    # Key without address is not configured: the reason says which setting is missing.
    settings.AGGREGATOR_BASE_URL = ""
    settings.STUDIO_DEMO_RENDER = "off"
    route = route_for_model(CatalogModel.objects.get(slug="midjourney"))
    assert route.unavailable_reason == "AGGREGATOR_BASE_URL is not set"
