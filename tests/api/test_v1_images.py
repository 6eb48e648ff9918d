"""/v1/images: the OpenAI-compatible endpoints (seed 004) over the studio's jobs.

These wait for the job, so they run with real commits (transaction=True): the on-commit
enqueue fires and the eager worker renders inside the request.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gallery.models import Image
from providers.catalog import sync_catalog
from providers.models import CatalogModel
from providers.registry import route_for_model
from studio.api.v1 import choose_quality_model, nearest_size
from studio.models import Job, JobStatus, ProviderCall, ProviderLimit
from studio.services import credits
from tests.api.helpers import error_of
from tests.images import make_png, open_image

pytestmark = pytest.mark.django_db(transaction=True)


def generate(client: Client, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/v1/images/generations", body, content_type="application/json", headers=headers)


def test_generation_returns_base64_images_and_what_was_applied(api, designer, gpt_model):
    response = generate(api, {"model": "gpt-image-test", "prompt": "a red fox", "n": 2, "size": "1536x1024"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["data"]) == 2
    picture = open_image(base64.b64decode(body["data"][0]["b64_json"]))
    assert picture.size == (96, 54)  # 1536x1024 is nearest the catalogue's 16:9 entry
    assert body["size"] == "96x54"
    assert body["output_format"] == "png"
    assert body["quality"] == "medium"
    assert body["background"] == "opaque"
    assert body["usage"]["images"] == 2 and body["usage"]["credits"] == 40
    assert isinstance(body["created"], int)
    job = Job.objects.get(public_id=body["id"])
    assert job.status == JobStatus.SUCCEEDED and job.source == "api"
    assert Image.objects.filter(job=job).count() == 2  # they land in the gallery
    assert credits.member_balance(membership=designer) == 960


def test_an_alias_and_output_format_are_honoured(api, gpt_model):
    response = generate(api, {"model": "openai/gpt-image-test", "prompt": "x", "output_format": "webp"})
    body = response.json()
    assert body["output_format"] == "webp"
    assert base64.b64decode(body["data"][0]["b64_json"])[8:12] == b"WEBP"


def test_quality_picks_the_catalogue_entry_priced_for_it(api, designer, gpt_model, gpt_high):
    body = generate(api, {"model": "gpt-image-test", "prompt": "x", "quality": "high"}).json()
    assert body["quality"] == "high"
    assert Job.objects.get(public_id=body["id"]).model_slug == "gpt-image-test-high"
    assert credits.member_balance(membership=designer) == 1000 - gpt_high.credits_per_image
    error = error_of(generate(api, {"model": "gpt-image-test", "prompt": "x", "quality": "low"}), 400)
    assert error["param"] == "quality"


def test_gemini_answers_text_and_parts_and_maps_size_to_ratio_and_resolution(api, gemini_model):
    body = generate(
        api,
        {"model": "nano-test", "prompt": "a koi pond", "size": "2048x1536", "response_modalities": ["text", "image"],
         "thinking_effort": "high", "output_format": "webp", "quality": "high"},
    ).json()
    assert body["size"] == "160x120"  # 4:3 at 2K
    assert body["output_format"] == "png"  # Gemini has no webp
    assert "quality" not in body and "background" not in body  # GPT-only fields
    assert body["text"]
    assert body["parts"][0] == {"type": "text", "text": body["text"]}
    assert body["parts"][1] == {"type": "image", "index": 0}
    job = Job.objects.get(public_id=body["id"])
    assert job.params["options"] == {"thinking": "high", "response_modalities": ["TEXT", "IMAGE"]}


def test_nearest_size(gemini_model, gpt_model):
    assert nearest_size(gemini_model, "auto") == ("1:1", "1K")
    assert nearest_size(gemini_model, "1920x1080") == ("16:9", "2K")
    assert nearest_size(gemini_model, "60x60") == ("1:1", "1K")
    assert nearest_size(gpt_model, "1024x1792") == ("9:16", "default")


def test_an_edit_with_a_base64_image_and_its_presence_means_edit(api, gpt_model):
    source = base64.b64encode(make_png(64, 64, "blue")).decode()
    response = generate(api, {"model": "gpt-image-test", "prompt": "make it warmer", "image": f"data:image/png;base64,{source}"})
    assert response.status_code == 200, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert job.inputs.count() == 1


def test_multipart_edit_with_files_and_a_mask(api, gpt_model):
    response = api.post(
        "/v1/images/edits",
        {
            "model": "gpt-image-test",
            "prompt": "paint a sun",
            "image[]": [_file("a.png", make_png(64, 64, "blue")), _file("b.png", make_png(64, 64, "green"))],
            "mask": _file("mask.png", make_png(64, 64, "white")),
            "n": "1",
        },
    )
    assert response.status_code == 200, response.content
    job = Job.objects.get(public_id=response.json()["id"])
    assert sorted(job.inputs.values_list("kind", flat=True)) == ["mask", "reference", "reference"]


def _file(name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/png")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": 7, "prompt": "x"}, "model"),  # omitted is Auto (test_auto_model.py)
        ({"model": "gpt-image-test"}, "prompt"),
        ({"model": "gpt-image-test", "prompt": "x", "n": 0}, "n"),
        ({"model": "gpt-image-test", "prompt": "x", "n": 11}, "n"),
        ({"model": "gpt-image-test", "prompt": "x", "n": 5}, "n"),  # over the model's max_count
        ({"model": "gpt-image-test", "prompt": "x", "n": "two"}, "n"),
        ({"model": "gpt-image-test", "prompt": "x", "size": "big"}, "size"),
        ({"model": "gpt-image-test", "prompt": "x", "response_format": "url"}, "response_format"),
        ({"model": "gpt-image-test", "prompt": "x", "background": "glass"}, "background"),
        ({"model": "gpt-image-test", "prompt": "x", "background": "transparent", "output_format": "jpeg"}, "background"),
        ({"model": "gpt-image-test", "prompt": "x", "output_compression": 101}, "output_compression"),
        ({"model": "gpt-image-test", "prompt": "x", "moderation": "none"}, "moderation"),
        ({"model": "gpt-image-test", "prompt": "x", "image": "%%%"}, "image"),
        ({"model": "gpt-image-test", "prompt": "x", "mask": base64.b64encode(make_png()).decode()}, "mask"),
        ({"model": "nano-test", "prompt": "x", "response_modalities": ["text"]}, "response_modalities"),
        ({"model": "no-such", "prompt": "x"}, "model"),
    ],
)
def test_bad_fields_are_400_with_the_param(api, gpt_model, gemini_model, body, param):
    error = error_of(generate(api, body), 400)
    assert (error["code"], error["param"]) == ("validation_error", param)
    assert Job.objects.count() == 0


def test_the_edits_endpoint_needs_an_image(api, gpt_model):
    error = error_of(api.post("/v1/images/edits", {"model": "gpt-image-test", "prompt": "x"}), 400)
    assert error["param"] == "image"


def test_a_content_policy_failure_is_400_and_costs_nothing(api, designer, gpt_model):
    response = generate(api, {"model": "gpt-image-test", "prompt": "[[fail:content_policy]] something"})
    error = error_of(response, 400)
    assert error["code"] == "content_policy"
    assert response["x-should-retry"] == "false"
    assert credits.member_balance(membership=designer) == 1000
    assert Job.objects.get().status == JobStatus.FAILED


def test_a_provider_outage_is_503_after_the_job_layer_retried(api, designer, gpt_model):
    error = error_of(generate(api, {"model": "gpt-image-test", "prompt": "[[fail:unavailable]] x"}), 503)
    assert error["code"] == "unavailable"
    assert Job.objects.get().attempts > 1
    assert credits.member_balance(membership=designer) == 1000


def test_the_answer_with_an_idempotency_key_is_replayed_including_a_job_failure(api, designer, gpt_model):
    body = {"model": "gpt-image-test", "prompt": "[[fail:content_policy]] x"}
    first = generate(api, body, **{"Idempotency-Key": "v1-key"})
    again = generate(api, body, **{"Idempotency-Key": "v1-key"})
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1
    ok = {"model": "gpt-image-test", "prompt": "fine"}
    first = generate(api, ok, **{"Idempotency-Key": "v1-ok"})
    again = generate(api, ok, **{"Idempotency-Key": "v1-ok"})
    assert again.json() == first.json()
    assert Job.objects.count() == 2


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.decode().split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads(next(line[6:] for line in lines if line.startswith("data: ")))
        events.append((name, data))
    return events


def test_stream_sends_partial_images_from_previews_then_completed(api, gpt_model, monkeypatch):
    from providers.backends import local
    from studio.services import jobs as job_services

    real_generate = local.LocalRenderer.generate

    def streaming_generate(self: Any, request: Any, *, on_progress: Any = None) -> Any:
        # Like a streaming provider: hand the job layer a preview before the result.
        if on_progress is not None and hasattr(job_services, "store_preview"):
            on_progress(50, make_png(32, 32, "gray"))
        return real_generate(self, request, on_progress=on_progress)

    monkeypatch.setattr(local.LocalRenderer, "generate", streaming_generate)
    captured: list[bytes] = []
    original_discard = getattr(job_services, "discard_preview", None)
    if original_discard is not None:
        # Keep the preview on the row long enough for the stream (it polls after the eager run).
        monkeypatch.setattr(job_services.settle, "discard_preview", lambda **_: captured.append(b"x"))
    response = generate(api, {"model": "gpt-image-test", "prompt": "a comet", "n": 2, "stream": True, "partial_images": 1})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = parse_sse(b"".join(response.streaming_content))
    names = [name for name, _ in events]
    if hasattr(job_services, "store_preview"):
        assert names[0] == "image_generation.partial_image"
        assert base64.b64decode(events[0][1]["b64_json"]).startswith(b"\x89PNG")
    assert names[-2:] == ["image_generation.completed", "image_generation.completed"]
    completed = events[-1][1]
    assert completed["type"] == "image_generation.completed"
    assert completed["size"] == "64x64" and completed["output_format"] == "png"
    assert base64.b64decode(completed["b64_json"]).startswith(b"\x89PNG")


def test_stream_of_a_failing_job_ends_with_an_error_event(api, gpt_model):
    response = generate(api, {"model": "gpt-image-test", "prompt": "[[fail:content_policy]]", "stream": "true"})
    events = parse_sse(b"".join(response.streaming_content))
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["code"] == "content_policy"


def test_a_stream_with_an_idempotency_key_replays_as_json(api, gpt_model):
    body = {"model": "gpt-image-test", "prompt": "a comet", "stream": True}
    first = generate(api, body, **{"Idempotency-Key": "stream-1"})
    b"".join(first.streaming_content)
    again = generate(api, body, **{"Idempotency-Key": "stream-1"})
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert len(again.json()["data"]) == 1
    assert Job.objects.count() == 1


def test_a_crash_after_the_job_started_never_starts_a_second_job_on_retry(api, gpt_model, monkeypatch):
    def crash(**_: Any) -> None:
        raise RuntimeError("lost the database connection")

    # The job is committed, started, before the request runs it: it dies there.
    monkeypatch.setattr("studio.api.v1.run_started_job", crash)
    body = {"model": "gpt-image-test", "prompt": "x"}
    first = generate(api, body, **{"Idempotency-Key": "crash-1"})
    assert error_of(first, 500)["code"] == "server_error"
    again = generate(api, body, **{"Idempotency-Key": "crash-1"})
    assert again.status_code == 500 and again["Idempotent-Replayed"] == "true"
    job = Job.objects.get()
    assert str(job.public_id) in again.json()["error"]["message"]


def test_a_provider_with_no_room_leaves_the_job_queued_and_published_for_a_worker(api, designer, gpt_model, monkeypatch):
    published: list[int] = []
    monkeypatch.setattr("studio.services.jobs.queue.enqueue_run", lambda *, job_id, countdown=0: published.append(job_id))
    # The worker never comes: the request gives up at once instead of after the model's timeout.
    monkeypatch.setattr("studio.api.v1.wait_for_job", lambda *, job_id, timeout: Job.objects.get(pk=job_id))
    family = route_for_model(gpt_model).family
    ProviderLimit.objects.create(family=family, paused_until=timezone.now() + timedelta(minutes=1))
    response = generate(api, {"model": "gpt-image-test", "prompt": "a heron"})
    assert error_of(response, 504)["code"] == "timeout"
    job = Job.objects.get()
    assert (job.status, job.attempts, job.lease_expires_at) == (JobStatus.QUEUED, 0, None)
    assert published == [job.pk]  # on commit, not left for the sweep
    assert not ProviderCall.objects.exists()  # the paused provider was not counted a call
    assert credits.member_balance(membership=designer) == 1000 - job.credits_held  # still held, for the worker


def test_a_demo_render_says_so(api, gpt_model):
    # No OPENAI_API_KEY in the suite: the local demo renderer draws (STUDIO_DEMO_RENDER=auto).
    body = generate(api, {"model": "gpt-image-test", "prompt": "a red fox"}).json()
    assert body["is_demo"] is True
    assert Job.objects.get(public_id=body["id"]).is_demo


def test_a_background_the_model_does_not_offer_is_refused_from_its_capabilities(api, gpt_model):
    # gpt-image-2 answers 400 to a transparent background: the catalogue says so (backgrounds).
    gpt_model.capabilities = {**gpt_model.capabilities, "backgrounds": ["opaque", "auto"]}
    gpt_model.save()
    error = error_of(generate(api, {"model": "gpt-image-test", "prompt": "x", "background": "transparent"}), 400)
    assert error["param"] == "background"
    assert error["message"] == "Gpt Image Test does not offer a transparent background."
    assert Job.objects.count() == 0
    assert generate(api, {"model": "gpt-image-test", "prompt": "x", "background": "opaque"}).status_code == 200


def test_a_quality_sibling_is_never_a_retired_models_entry(designer):
    sync_catalog()
    ctx = SimpleNamespace(membership=designer)
    gpt2 = CatalogModel.objects.get(slug="gpt-image-2")
    assert choose_quality_model(ctx, gpt2, "low").slug == "gpt-image-2-mini"
    assert choose_quality_model(ctx, gpt2, "high").slug == "gpt-image-2-hd"


def test_a_free_demo_render_says_so_and_charges_nothing(api, designer, gpt_model, settings):
    # v1 is OpenAI's snake_case shape, so the flag is `is_demo` there (`isDemo` on /v2).
    settings.STUDIO_DEMO_CHARGE = False
    body = generate(api, {"model": "gpt-image-test", "prompt": "a red fox", "n": 2}).json()
    assert body["is_demo"] is True and body["usage"]["credits"] == 0 and len(body["data"]) == 2
    job = Job.objects.get(public_id=body["id"])
    assert (job.is_demo, job.credits_held, job.credits_charged) == (True, 0, 0)


def test_a_synchronous_edit_reads_back_none_of_the_rows_it_wrote(api, gpt_model, fake_provider, settings, monkeypatch):
    """Issue 12: the request wrote the job's inputs and its images itself, so building the
    provider's request and answering read neither again (nor an ORM webhook lookup)."""
    fake_provider.apply_to(settings)
    gpt_model.family = "openai"
    gpt_model.save()
    # The thumbnail is the worker's; with eager tasks it would run inside this request.
    monkeypatch.setattr("gallery.services.enqueue_thumbnail", lambda image_id: None)
    body = {
        "model": "gpt-image-test", "prompt": "paint a sun", "n": "1",
        "image[]": [_file("a.png", make_png(64, 64, "blue")), _file("b.png", make_png(64, 64, "green"))],
        "mask": _file("mask.png", make_png(64, 64, "white")),
    }
    with CaptureQueriesContext(connection) as captured:
        response = api.post("/v1/images/edits", body)
    assert response.status_code == 200, response.content
    sent = fake_provider.requests_to("openai.edits")[-1]
    files = [value for name, value in sent.form if name in ("image[]", "mask")]
    assert [name for name, _, _ in files] == ["image-0.png", "image-1.png", "mask.png"]
    assert [open_image(data).getpixel((0, 0))[:3] for _, data, _ in files[:2]] == [(0, 0, 255), (0, 128, 0)]
    assert open_image(files[2][1]).size == (64, 64)
    assert len(response.json()["data"]) == 1
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [sql for sql in reads if "studio_jobinput" in sql or "gallery_image" in sql or '"api_jobwebhook"' in sql]
    assert any("api_jobwebhook" in sql for sql in reads)  # the one-row probe stays
