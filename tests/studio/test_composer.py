"""The composer's services: menu, options, references, threads, compare, batch, previews."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from gallery.models import Image, Visibility
from providers.catalog import sync_catalog
from providers.models import CatalogModel
from providers.types import GeneratedImage, GenerationResult, Part
from studio.models import Job, JobInput, JobStatus, TransferKind
from studio.services import composer, credits, jobs
from studio.services.errors import InsufficientCredits, ValidationFailed
from studio.services.jobs import Upload
from studio.services.templates_library import TEMPLATES, get_template
from tests.images import make_pattern, make_png

pytestmark = pytest.mark.django_db


def run(membership: Any, capture: Any, **kwargs: Any) -> Job:
    """Submit and run one job through the local renderer (eager, on commit)."""
    kwargs.setdefault("model", "test-model")
    kwargs.setdefault("prompt", "a harbour at dawn")
    parent = kwargs.pop("parent", None)
    with capture(execute=True):
        job = jobs.submit_job(membership=membership, spec=jobs.validate_job(membership=membership, **kwargs), parent=parent)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    return job


# -- menu and options -------------------------------------------------------------------
def test_badges_say_what_a_model_can_do(make_model):
    model = make_model(
        "everything",
        capabilities={"edit": True, "max_references": 14, "mask": True, "text_in_image": True, "output_formats": ["png", "svg"]},
        sizes={"1K": {"1:1": [1024, 1024]}, "4K": {"1:1": [4096, 4096]}},
        default_resolution="1K",
    )
    assert composer.model_badges(model) == ("edit", "references ≤ 14", "mask", "4K", "text in image", "SVG")
    plain = make_model("plain", capabilities={"edit": False, "max_references": 5})
    assert composer.model_badges(plain) == ()


def test_menu_groups_by_tier_filters_and_keeps_the_chosen_model(designer, make_model):
    make_model("cheap-a", tier="standard", credits_per_image=2, description="quick drafts")
    make_model("pro-b", tier="premium", credits_per_image=70, description="legible text and 4K")
    make_model("off-c", tier="ultra", enabled=False)
    menu = composer.build_menu(membership=designer)
    assert [tier for tier, _ in menu] == ["standard", "premium"]
    filtered = composer.build_menu(membership=designer, query="LEGIBLE text")
    assert [e.model.slug for _, entries in filtered for e in entries] == ["pro-b"]
    kept = composer.build_menu(membership=designer, query="legible", keep="cheap-a")
    assert {e.model.slug for _, entries in kept for e in entries} == {"cheap-a", "pro-b"}


def test_unconfigured_models_say_why(designer, make_model, settings):
    settings.STUDIO_DEMO_RENDER = "off"
    make_model("needs-key", family="bfl")
    entry = composer.build_menu(membership=designer)[0][1][0]
    assert entry.blocked_reason == "Not configured: BFL_API_KEY is not set."


def test_exact_output_size_and_price_from_the_real_catalogue(designer):
    sync_catalog()
    state = composer.composer_state(
        membership=designer, values={"model": "gemini-2.5-flash-image", "aspect_ratio": "16:9", "count": "4"}
    )
    # Served by gemini-3.1-flash-image at 1K since its upstream retired (Gemini 3 size table).
    assert ("16:9", "1376×768") in state.ratios and state.values["aspect_ratio"] == "16:9"
    assert (state.quote.count, state.quote.per_image, state.quote.total, state.quote.balance_after) == (4, 20, 80, 920)
    pro = composer.composer_state(membership=designer, values={"model": "gemini-3-pro-image", "resolution": "1K"})
    assert ("16:9", "1376×768") in pro.ratios and pro.free_references == 14


def test_switching_models_keeps_what_applies_and_says_what_was_dropped(designer, make_model):
    make_model("small", capabilities={"aspect_ratios": ["1:1"], "max_count": 2, "output_formats": ["png"]},
               sizes={"default": {"1:1": [1024, 1024]}})
    state = composer.composer_state(
        membership=designer,
        values={"model": "small", "aspect_ratio": "16:9", "count": "4", "seed": "7", "negative_prompt": "blur",
                "output_format": "webp", "prompt": "kept"},
    )
    assert state.values["prompt"] == "kept" and state.values["count"] == 2
    assert state.dropped == ["aspect ratio 16:9", "seed", "negative prompt", "format webp"]
    # The count is not dropped silently: it has its own notice, beside the count (issue 15, defect 6).
    assert state.count_notice == "You asked for 4 images; Small makes at most 2 per request, so the count is 2."


# -- references -------------------------------------------------------------------------
def test_references_merge_in_the_order_the_composer_sent(designer, ai_model, django_capture_on_commit_callbacks):
    job = run(designer, django_capture_on_commit_callbacks)
    image = job.images.get()
    uploads = [Upload(make_png(10, 10, "red"), "a.png"), Upload(make_png(12, 12, "blue"), "b.png")]
    merged = composer.collect_references(
        user=designer.user, image_ids=[str(image.pk)], uploads=uploads, order=f"file,image:{image.pk},file"
    )
    assert [u.name for u in merged] == ["a.png", f"gallery-{image.pk}.png", "b.png"]
    unordered = composer.collect_references(user=designer.user, image_ids=[str(image.pk)], uploads=uploads)
    assert [u.name for u in unordered] == [f"gallery-{image.pk}.png", "a.png", "b.png"]


def test_someone_elses_private_image_cannot_be_a_reference(designer, make_member, ai_model, django_capture_on_commit_callbacks):
    other = make_member("other")
    image = run(other, django_capture_on_commit_callbacks).images.get()
    Image.objects.filter(pk=image.pk).update(visibility=Visibility.PRIVATE)
    with pytest.raises(ValidationFailed) as caught:
        composer.collect_references(user=designer.user, image_ids=[str(image.pk)], uploads=[])
    assert "not available" in caught.value.errors["references"]
    state = composer.composer_state(membership=designer, values={}, reference_ids=[str(image.pk), "junk"])
    assert state.references == [] and "not available" in state.reference_notice
    Image.objects.filter(pk=image.pk).update(visibility=Visibility.TEAM)
    assert composer.composer_state(membership=designer, values={}, reference_ids=[str(image.pk)]).references == [image]


def test_edit_this_picks_a_model_that_paints_masks(designer, make_model, django_capture_on_commit_callbacks):
    make_model("no-edit", credits_per_image=1, capabilities={"edit": False, "aspect_ratios": ["1:1"]})
    source = make_model("source", capabilities={"edit": False, "aspect_ratios": ["1:1"]})
    make_model("masker", credits_per_image=30)
    image = run(designer, django_capture_on_commit_callbacks, model="source").images.get()
    state = composer.composer_state(membership=designer, values={}, edit_id=str(image.pk))
    assert state.model.slug == "masker" and state.edit_image == image and state.references == [image]
    assert source.max_references == 0


def test_references_beyond_the_model_limit_are_dropped_with_a_note(designer, make_model, django_capture_on_commit_callbacks):
    make_model("one-ref", capabilities={"edit": True, "max_references": 1, "aspect_ratios": ["1:1"]})
    make_model("maker")
    ids = [str(run(designer, django_capture_on_commit_callbacks, model="maker", prompt=f"p{i}").images.get().pk) for i in range(2)]
    state = composer.composer_state(membership=designer, values={"model": "one-ref"}, reference_ids=ids)
    assert len(state.references) == 1 and "1 reference image (One Ref takes at most 1)" in state.dropped


# -- threads ----------------------------------------------------------------------------
def test_gemini_continues_with_the_history_others_with_the_previous_image(designer, make_model, django_capture_on_commit_callbacks):
    make_model("gem", family="gemini")
    make_model("gem-2", family="gemini")
    make_model("gpt", family="openai")
    make_model("imagen", family="imagen", capabilities={"edit": False, "aspect_ratios": ["1:1"]})
    root = run(designer, django_capture_on_commit_callbacks, model="gem")
    gem_2 = CatalogModel.objects.get(slug="gem-2")
    gpt = CatalogModel.objects.get(slug="gpt")
    assert composer.continuation_references(parent=root, model=gem_2) == []
    [reference] = composer.continuation_references(parent=root, model=gpt)
    assert reference.name == f"gallery-{root.images.get().pk}.png"
    with pytest.raises(ValidationFailed) as caught:
        composer.continuation_references(parent=root, model=CatalogModel.objects.get(slug="imagen"))
    assert "cannot start from an image" in caught.value.errors["model"]

    spec = composer.refine_spec(membership=designer, parent=root, prompt="make the lighting warmer")
    assert spec.model.slug == "gem" and spec.count == 1 and spec.references == ()
    child = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="warmer", parent=root)
    history = jobs.build_history(child)
    assert [turn.role for turn in history] == ["user", "model"]
    assert history[0].parts == (Part(text=root.prompt),)


def test_history_stops_where_another_provider_family_answered(designer, make_model, django_capture_on_commit_callbacks):
    make_model("gem", family="gemini")
    make_model("gpt", family="openai")
    first = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="one")
    second = run(designer, django_capture_on_commit_callbacks, model="gpt", prompt="two", parent=first)
    third = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="three", parent=second)
    fourth = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="four", parent=third)
    assert jobs.build_history(third) == ()
    assert [t.parts[0].text for t in jobs.build_history(fourth) if t.role == "user"] == ["three"]


def test_continuing_needs_a_finished_result(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        queued = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="x"))
    with pytest.raises(ValidationFailed) as caught:
        composer.refine_spec(membership=designer, parent=queued, prompt="more")
    assert "finished result" in caught.value.errors["parent"]


def test_thread_lists_every_branch_depth_first(designer, make_model, django_capture_on_commit_callbacks):
    make_model("gem", family="gemini")
    root = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="root")
    a = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="a", parent=root)
    a1 = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="a1", parent=a)
    b = run(designer, django_capture_on_commit_callbacks, model="gem", prompt="b", parent=root)
    turns = composer.thread_of(job=a1)
    assert [(t.job.prompt, t.depth) for t in turns] == [("root", 0), ("a", 1), ("a1", 2), ("b", 1)]
    assert b.parent_id == root.pk


# -- compare and batch ------------------------------------------------------------------
def test_compare_submits_one_job_per_model_each_held_on_its_own(designer, make_model, django_capture_on_commit_callbacks):
    make_model("m-20", credits_per_image=20)
    make_model("m-2", credits_per_image=2)
    specs = composer.compare_specs(membership=designer, prompt="a fox", models=["m-20", "m-2", "", ""], aspect_ratio="16:9")
    with django_capture_on_commit_callbacks(execute=True):
        submitted = jobs.submit_jobs(membership=designer, specs=specs)
    assert len({j.batch_id for j in submitted}) == 1 and submitted[0].batch_id is not None
    for job in submitted:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED and job.params["aspect_ratio"] == "16:9"
        assert job.transfers.filter(kind=TransferKind.HOLD).get().amount == job.credits_per_image
    assert credits.member_balance(membership=designer) == 1000 - 22
    quote = composer.compare_quote(membership=designer, models=["m-20", "m-2", "nope"], count="2")
    assert (quote.total, len(quote.lines)) == (44, 2)


@pytest.mark.parametrize(
    ("models", "key", "message"),
    [
        (["m-20"], "models", "at least two"),
        (["m-20", "m-20"], "model_1", "already in this comparison"),
        (["m-20", "nope"], "model_1", "Unknown model"),
        (["m-20", "square"], "model_1", "does not offer 16:9"),
    ],
)
def test_compare_refuses_bad_choices_beside_the_model(designer, make_model, models, key, message):
    make_model("m-20")
    make_model("square", capabilities={"aspect_ratios": ["1:1"]}, sizes={"default": {"1:1": [1024, 1024]}})
    with pytest.raises(ValidationFailed) as caught:
        composer.compare_specs(membership=designer, prompt="a fox", models=models, aspect_ratio="16:9")
    assert message in caught.value.errors[key]


def test_a_group_holds_everything_or_nothing(designer, make_model, django_capture_on_commit_callbacks):
    make_model("pricey", credits_per_image=400)
    specs = [jobs.validate_job(membership=designer, model="pricey", prompt=f"p{i}") for i in range(3)]
    files_before = _stored_files()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InsufficientCredits) as caught:
        jobs.submit_jobs(membership=designer, specs=specs)
    assert "these 3 jobs need 1200 in all and your balance is 1000" in caught.value.message
    assert not Job.objects.exists() and credits.member_balance(membership=designer) == 1000
    assert _stored_files() == files_before and credits.ledger_is_balanced()


def test_a_failed_group_leaves_no_input_files(designer, ai_model, make_model, django_capture_on_commit_callbacks):
    make_model("pricey", credits_per_image=990)
    with_ref = jobs.validate_job(membership=designer, model="test-model", prompt="x", references=[Upload(make_png(20, 20), "r.png")])
    too_much = jobs.validate_job(membership=designer, model="pricey", prompt="y")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InsufficientCredits):
        jobs.submit_jobs(membership=designer, specs=[with_ref, too_much])
    assert not JobInput.objects.exists() and _stored_files() == set()


def _stored_files() -> set[str]:
    try:
        _, files = default_storage.listdir("inputs")
    except FileNotFoundError:
        return set()
    found: set[str] = set()
    for folder in default_storage.listdir("inputs")[0]:
        found |= {f"{folder}/{name}" for name in default_storage.listdir(f"inputs/{folder}")[1]}
    return found | set(files)


def test_batch_reads_lines_or_csv_with_options():
    assert [r.values for r in composer.parse_batch("a fox\n\n  a lighthouse  \n")] == [{"prompt": "a fox"}, {"prompt": "a lighthouse"}]
    rows = composer.parse_batch('Prompt,Model,count\n"a fox, in snow",m-2,2\n,,\na cat,,\n')
    assert [(r.number, r.values) for r in rows] == [
        (2, {"prompt": "a fox, in snow", "model": "m-2", "count": "2"}),
        (4, {"prompt": "a cat", "model": "", "count": ""}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Paste at least one prompt"),
        ("prompt,colour\nx,red\n", "Unknown column colour"),
        ("prompt\n", "no rows"),
        ("prompt\na,b\n", "has 2 cells"),
        ("\n".join(f"p{i}" for i in range(101)), "at most 100"),
    ],
)
def test_batch_input_errors_are_clear(text, message):
    with pytest.raises(ValidationFailed) as caught:
        composer.parse_batch(text)
    assert message in caught.value.errors["prompts"]


def test_a_row_with_its_own_model_keeps_only_the_options_that_model_offers(designer, make_model):
    make_model("wide", sizes={"1K": {"16:9": [1376, 768]}}, default_resolution="1K", default_aspect_ratio="16:9",
               capabilities={"aspect_ratios": ["16:9"], "max_count": 4, "output_formats": ["jpeg"]})
    make_model("square", capabilities={"aspect_ratios": ["1:1"], "max_count": 1, "output_formats": ["png"]},
               sizes={"default": {"1:1": [1024, 1024]}})
    rows = composer.parse_batch("prompt,model\na,\nb,square\n")
    defaults = {"model": "wide", "aspect_ratio": "16:9", "resolution": "1K", "count": "3", "output_format": "jpeg"}
    preview = composer.preview_batch(membership=designer, rows=rows, defaults=defaults)
    assert [line.error for line in preview.lines] == ["", ""]
    second = preview.lines[1].spec
    assert (second.params["aspect_ratio"], second.params["resolution"], second.count) == ("1:1", "default", 1)


def test_batch_preview_prices_each_row_and_flags_bad_ones(designer, make_model):
    make_model("m-20", credits_per_image=20)
    make_model("m-2", credits_per_image=2)
    rows = composer.parse_batch("prompt,model,count,aspect_ratio\na,,2,\nb,m-2,,\nc,m-2,,4:3\nd,nope,,\n")
    preview = composer.preview_batch(membership=designer, rows=rows, defaults={"model": "m-20", "count": "1"})
    assert [(line.model_name, line.total) for line in preview.lines[:2]] == [("M 20", 40), ("M 2", 2)]
    assert "does not offer 4:3" in preview.lines[2].error and "Unknown model" in preview.lines[3].error
    assert (preview.total, preview.errors, preview.ready, len(preview.specs)) == (42, 2, False, 2)


# -- live progress ----------------------------------------------------------------------
def test_the_latest_preview_is_kept_while_running_and_dropped_at_the_end(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="p"))
    assert jobs.store_preview(job_id=job.pk, data=make_png(8, 8)) is False  # still queued
    jobs.claim_job(job_id=job.pk)
    report = jobs.progress_reporter(job_id=job.pk)
    report(30, make_png(16, 16, "red"))
    first = Job.objects.get(pk=job.pk).preview.name
    report(60, make_pattern(32, 32))
    job.refresh_from_db()
    assert job.progress == 60 and job.preview.name != first
    assert not default_storage.exists(first) and default_storage.exists(job.preview.name)
    assert jobs.store_preview(job_id=job.pk, data=b"not an image") is False
    latest = job.preview.name
    result = GenerationResult(images=(GeneratedImage(data=make_png(16, 16), mime_type="image/png", width=16, height=16),))
    jobs.complete_job(job_id=job.pk, result=result)
    job.refresh_from_db()
    assert job.preview.name == "" and not default_storage.exists(latest)


def test_queue_position_counts_the_jobs_ahead(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        queued = [jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt=f"p{i}")) for i in range(3)]
    assert [jobs.queue_position(job=j) for j in queued] == [1, 2, 3]
    jobs.claim_job(job_id=queued[0].pk)
    queued[0].refresh_from_db()
    assert [jobs.queue_position(job=j) for j in queued] == [None, 1, 2]


# -- prompt templates -------------------------------------------------------------------
def test_every_guide_template_is_there_and_fills_in():
    slugs = {t.slug for t in TEMPLATES}
    assert {"photorealistic", "sticker", "text-in-image", "product-mockup", "minimalist", "comic-panel",
            "edit-elements", "edit-inpaint", "style-transfer"} <= slugs
    for template in TEMPLATES:
        values = {b.name: (b.choices[0] if b.choices else b.example or "x") for b in template.blanks}
        prompt = template.render(values)
        assert "{" not in prompt and len(prompt) < 2000


def test_template_blanks_are_checked():
    template = get_template("text-in-image")
    with pytest.raises(ValidationFailed) as caught:
        template.render({"image_type": "logo", "text": "x" * 301})
    assert caught.value.errors["brand"] == "Fill in “brand or concept”."
    assert "under 300" in caught.value.errors["text"]
    assert get_template("minimalist").render(
        {"subject": "a leaf", "position": "top-left", "colour": "white", "aspect_ratio": "16:9"}
    ).endswith("Soft, subtle lighting. 16:9.")


def test_mask_pngs_reach_the_job_at_the_reference_size(designer, ai_model, django_capture_on_commit_callbacks):
    mask = PILImage.new("L", (40, 30), 0)
    mask.paste(255, (10, 10, 30, 20))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    spec, _ = composer.compose_job(
        membership=designer,
        values={"model": "test-model", "prompt": "edit"},
        uploads=[Upload(make_png(40, 30), "src.png")],
        mask=Upload(buffer.getvalue(), "mask.png"),
    )
    assert spec.mask is not None and (spec.mask.width, spec.mask.height) == (40, 30)
