"""fal.ai queue: submit, poll the returned status_url, read response_url (no network: respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from providers.backends.fal import FalAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_jpeg, make_png
from tests.providers.backends.helpers import reloaded

QUEUE = "https://queue.fal.run"
APP = "fal-ai/flux-pro/v1.1-ultra"
# Status and result URLs drop the app's subpath (fal's queue API docs).
REQUESTS = f"{QUEUE}/fal-ai/flux-pro/requests"
CDN = "https://v3.fal.media/files/koala/out.jpg"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "flux-1-ultra",
        "remote_model": APP,
        "prompt": "a koala astronaut",
        "aspect_ratio": "16:9",
        "width": 1376,
        "height": 768,
        "output_format": "jpeg",
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def queued(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "status_url": f"{REQUESTS}/{request_id}/status",
        "response_url": f"{REQUESTS}/{request_id}",
        "cancel_url": f"{REQUESTS}/{request_id}/cancel",
        "queue_position": 0,
    }


def output(nsfw: list[bool]) -> dict[str, Any]:
    images = [{"url": CDN, "content_type": "image/jpeg", "width": 1376, "height": 768} for _ in nsfw]
    return {"images": images, "seed": 77, "has_nsfw_concepts": nsfw, "prompt": "a koala astronaut"}


def test_submit_then_queue_progress_then_completed_via_returned_urls(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{QUEUE}/{APP}").respond(json=queued("r1"))
    status = respx_mock.get(f"{REQUESTS}/r1/status").mock(
        side_effect=[
            httpx.Response(202, json={"status": "IN_QUEUE", "queue_position": 3}),
            httpx.Response(202, json={"status": "IN_PROGRESS", "logs": []}),
            httpx.Response(200, json={"status": "COMPLETED", "logs": []}),
        ]
    )
    result_route = respx_mock.get(f"{REQUESTS}/r1").respond(json=output([False]))
    respx_mock.get(CDN).respond(content=make_jpeg(1376, 768))
    fal = FalAdapter(api_key="id:secret")

    submission = reloaded(fal.submit(make_request(seed=4, options={"size_field": "aspect_ratio"})))
    in_queue = fal.poll(submission)
    running = fal.poll(submission)
    done = fal.poll(submission)

    sent = create.calls[0].request
    assert sent.headers["authorization"] == "Key id:secret"
    assert json.loads(sent.content) == {
        "prompt": "a koala astronaut",
        "aspect_ratio": "16:9",
        "seed": 4,
        "output_format": "jpeg",
    }
    assert submission.provider_job_id == "r1"
    assert submission.poll_url == f"{REQUESTS}/r1/status"
    assert status.call_count == 3 and result_route.call_count == 1
    assert all(call.request.headers["authorization"] == "Key id:secret" for call in status.calls)
    assert (in_queue.done, in_queue.progress) == (False, 7)
    assert not running.done and running.progress >= 10
    assert done.result is not None
    image = done.result.images[0]
    assert (image.mime_type, image.width, image.height) == ("image/jpeg", 1376, 768)
    assert done.result.seed == 77


def test_default_size_is_image_size_and_count_goes_in_num_images(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{QUEUE}/fal-ai/flux/dev").respond(json=queued("r1"))

    FalAdapter(api_key="k").submit(make_request(remote_model="fal-ai/flux/dev", count=3))

    body = json.loads(create.calls[0].request.content)
    assert body["image_size"] == {"width": 1376, "height": 768}
    assert body["num_images"] == 3


def test_edit_goes_to_the_edit_route_with_image_urls_and_mask(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{QUEUE}/fal-ai/flux-pro/v1/fill").respond(json=queued("r1"))
    source = InputImage(make_png(16, 16), "image/png", 16, 16)
    mask = InputImage(make_png(16, 16, "white"), "image/png", 16, 16)

    FalAdapter(api_key="k").submit(
        make_request(
            references=(source,), mask=mask, options={"edit_remote_model": "fal-ai/flux-pro/v1/fill"}
        )
    )

    body = json.loads(create.calls[0].request.content)
    assert body["image_url"].startswith("data:image/png;base64,")
    assert body["mask_url"].startswith("data:image/png;base64,")


def test_nsfw_concepts_become_refusals(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{QUEUE}/{APP}").respond(json=queued("r1"))
    respx_mock.get(f"{REQUESTS}/r1/status").respond(json={"status": "COMPLETED"})
    respx_mock.get(f"{REQUESTS}/r1").respond(json=output([True, False]))
    respx_mock.get(CDN).respond(content=make_jpeg(1376, 768))
    fal = FalAdapter(api_key="k")

    result = fal.poll(fal.submit(make_request(count=2))).result

    assert result is not None
    assert len(result.images) == 1
    assert result.refusals == ("fal's safety checker flagged the image",)


def test_all_nsfw_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{QUEUE}/{APP}").respond(json=queued("r1"))
    respx_mock.get(f"{REQUESTS}/r1/status").respond(json={"status": "COMPLETED"})
    respx_mock.get(f"{REQUESTS}/r1").respond(json=output([True]))
    fal = FalAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        fal.poll(fal.submit(make_request()))

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY


def test_content_policy_error_type_on_the_result_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{QUEUE}/{APP}").respond(json=queued("r1"))
    respx_mock.get(f"{REQUESTS}/r1/status").respond(json={"status": "COMPLETED"})
    respx_mock.get(f"{REQUESTS}/r1").respond(
        422,
        json={
            "detail": [{"loc": ["body", "prompt"], "msg": "not allowed", "type": "content_policy_violation"}]
        },
    )
    fal = FalAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        fal.poll(fal.submit(make_request()))

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY


def test_completed_with_an_error_is_upstream_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{QUEUE}/{APP}").respond(json=queued("r1"))
    respx_mock.get(f"{REQUESTS}/r1/status").respond(
        json={"status": "COMPLETED", "error": "Runner crashed", "error_type": "runner_disconnected"}
    )
    fal = FalAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        fal.poll(fal.submit(make_request()))

    assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR
    assert "Runner crashed" in excinfo.value.message


def test_submit_errors(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{QUEUE}/{APP}").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "Too many requests"}),
            httpx.Response(503, json={"detail": "ingress unavailable"}),
            httpx.Response(401, json={"detail": "Invalid key"}),
        ]
    )
    fal = FalAdapter(api_key="k")
    errors = []
    for _ in range(3):
        with pytest.raises(ProviderError) as excinfo:
            fal.submit(make_request())
        errors.append(excinfo.value)

    assert (errors[0].code, errors[0].retry_after) == (ErrorCode.RATE_LIMITED, 2.0)
    assert errors[1].code is ErrorCode.UNAVAILABLE and errors[1].retryable
    assert errors[2].code is ErrorCode.AUTH


def test_status_urls_off_fal_are_refused(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{QUEUE}/{APP}").respond(
        json={**queued("r1"), "status_url": "https://elsewhere.example/status"}
    )

    with pytest.raises(ProviderError) as excinfo:
        FalAdapter(api_key="k").submit(make_request())

    assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR


def catalogue_request(slug: str, **overrides: Any) -> GenerationRequest:
    from providers.catalog import load_catalog_data

    entry = next(e for e in load_catalog_data() if e["slug"] == slug)
    width, height = entry["sizes"]["default"]["16:9"]
    fields = {"model": slug, "remote_model": entry["remote_model"], "options": dict(entry.get("options") or {}),
              "width": width, "height": height, "output_format": "png"}
    return make_request(**{**fields, **overrides})


def test_kling_image_to_image_sends_one_image_url_string(respx_mock: respx.MockRouter) -> None:
    # fal's kling-image/v3 image-to-image takes a single `image_url`, not a list (issue 14, section 4).
    create = respx_mock.post(f"{QUEUE}/fal-ai/kling-image/v3/image-to-image").respond(json=queued("k1"))
    source = InputImage(make_png(16, 16), "image/png", 16, 16)

    FalAdapter(api_key="k").submit(catalogue_request("kling-image", references=(source,)))

    body = json.loads(create.calls[0].request.content)
    assert isinstance(body["image_url"], str) and body["image_url"].startswith("data:image/png;base64,")
    assert "image_urls" not in body and body["aspect_ratio"] == "16:9"


def test_kontext_fast_draws_text_only_on_flux_dev_and_edits_on_kontext_dev(respx_mock: respx.MockRouter) -> None:
    # fal-ai/flux-kontext/dev needs an image_url (a text-only job answers 422): text goes to flux/dev.
    text = respx_mock.post(f"{QUEUE}/fal-ai/flux/dev").respond(json=queued("t1"))
    edit = respx_mock.post(f"{QUEUE}/fal-ai/flux-kontext/dev").respond(json=queued("e1"))
    fal = FalAdapter(api_key="k")

    fal.submit(catalogue_request("flux-kontext-fast"))
    fal.submit(catalogue_request("flux-kontext-fast", references=(InputImage(make_png(16, 16), "image/png", 16, 16),)))

    assert "image_url" not in json.loads(text.calls[0].request.content)
    assert json.loads(edit.calls[0].request.content)["image_url"].startswith("data:image/png;base64,")
