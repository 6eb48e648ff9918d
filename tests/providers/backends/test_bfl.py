"""Black Forest Labs: submit a FLUX task, poll the returned polling_url (no network: respx)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
import respx

from providers.backends._batches import batch_sizes, seed_for
from providers.backends.bfl import BFLAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage, Submission
from tests.images import make_jpeg, make_png
from tests.providers.backends.helpers import reloaded

BASE = "https://api.bfl.ai"
# The task lives on one cluster: its polling host differs from the base URL.
POLL_HOST = "https://api.us1.bfl.ai"
DELIVERY = "https://delivery-us1.bfl.ai/results/abc/sample.jpeg"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "flux-2-pro",
        "remote_model": "flux-2-pro",
        "prompt": "a lighthouse at dusk",
        "aspect_ratio": "16:9",
        "width": 1920,
        "height": 1088,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def adapter() -> BFLAdapter:
    return BFLAdapter(api_key="bfl-key")


def accepted(task_id: str) -> dict[str, Any]:
    return {"id": task_id, "polling_url": f"{POLL_HOST}/v1/get_result?id={task_id}", "cost": 3.0}


def ref(color: str = "red") -> InputImage:
    return InputImage(make_png(64, 48, color), "image/png", 64, 48)


def test_submit_posts_flux2_fields_with_x_key(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(json=accepted("t1"))

    submission = adapter().submit(make_request(seed=42, output_format="png"))

    sent = route.calls[0].request
    assert sent.headers["x-key"] == "bfl-key"
    assert "authorization" not in sent.headers
    body = json.loads(sent.content)
    assert body == {
        "prompt": "a lighthouse at dusk",
        "output_format": "png",
        "safety_tolerance": 2,
        "seed": 42,
        "width": 1920,
        "height": 1088,
    }
    assert submission.provider_job_id == "t1"
    assert submission.poll_url == f"{POLL_HOST}/v1/get_result?id=t1"


def test_flux2_sizes_snap_to_multiples_of_16_and_flux1_to_32(respx_mock: respx.MockRouter) -> None:
    flux2 = respx_mock.post(f"{BASE}/v1/flux-2-max").respond(json=accepted("a"))
    flux1 = respx_mock.post(f"{BASE}/v1/flux-pro-1.1").respond(json=accepted("b"))

    adapter().submit(make_request(remote_model="flux-2-max", width=1010, height=1090))
    adapter().submit(make_request(remote_model="flux-pro-1.1", width=1376, height=770, output_format="jpg"))

    assert json.loads(flux2.calls[0].request.content)["width"] == 1008
    assert json.loads(flux2.calls[0].request.content)["height"] == 1088
    body = json.loads(flux1.calls[0].request.content)
    assert (body["width"], body["height"]) == (1376, 768)
    assert body["output_format"] == "jpeg"


def test_kontext_edit_sends_references_as_numbered_base64_inputs(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/flux-kontext-pro").respond(json=accepted("k1"))
    first, second = ref("red"), ref("blue")

    adapter().submit(
        make_request(
            remote_model="flux-kontext-pro",
            references=(first, second),
            options={"safety_tolerance": 9},
        )
    )

    body = json.loads(route.calls[0].request.content)
    assert base64.b64decode(body["input_image"]) == first.data
    assert base64.b64decode(body["input_image_2"]) == second.data
    assert body["aspect_ratio"] == "16:9"
    assert "width" not in body
    # FLUX.1-era endpoints cap the tolerance at 6.
    assert body["safety_tolerance"] == 6


def test_fill_sends_image_and_mask_unchanged(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/flux-pro-1.0-fill").respond(json=accepted("f1"))
    mask = InputImage(make_png(64, 48, "white"), "image/png", 64, 48)

    adapter().submit(make_request(remote_model="flux-pro-1.0-fill", references=(ref(),), mask=mask))

    body = json.loads(route.calls[0].request.content)
    assert base64.b64decode(body["image"]) == ref().data
    assert base64.b64decode(body["mask"]) == mask.data


def test_mask_on_an_endpoint_without_one_is_invalid() -> None:
    mask = InputImage(make_png(64, 48, "white"), "image/png", 64, 48)
    with pytest.raises(ProviderError) as excinfo:
        adapter().submit(make_request(references=(ref(),), mask=mask))
    assert excinfo.value.code is ErrorCode.INVALID_REQUEST


def test_submit_poll_pending_then_ready_downloads_the_sample(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(json=accepted("t1"))
    poll = respx_mock.get(f"{POLL_HOST}/v1/get_result", params={"id": "t1"}).mock(
        side_effect=[
            httpx.Response(200, json={"id": "t1", "status": "Pending", "progress": 0.4}),
            httpx.Response(
                200,
                json={"id": "t1", "status": "Ready", "result": {"sample": DELIVERY, "seed": 1234}},
            ),
        ]
    )
    download = respx_mock.get(DELIVERY).respond(content=make_jpeg(1920, 1088))
    bfl = adapter()

    submission = reloaded(bfl.submit(make_request()))
    pending = bfl.poll(submission)
    done = bfl.poll(reloaded(submission))

    assert (pending.done, pending.progress) == (False, 40)
    assert pending.poll_after >= 1.0
    assert all(call.request.headers["x-key"] == "bfl-key" for call in poll.calls)
    assert download.called
    assert done.done and done.result is not None
    image = done.result.images[0]
    assert (image.mime_type, image.width, image.height) == ("image/jpeg", 1920, 1088)
    assert done.result.seed == 1234
    assert done.result.metadata["provider_job_ids"] == ["t1"]


def test_content_moderated_is_a_content_policy_failure(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(json=accepted("t1"))
    respx_mock.get(f"{POLL_HOST}/v1/get_result").respond(
        json={
            "id": "t1",
            "status": "Content Moderated",
            "details": {"Moderation Reasons": ["Derivative Works"]},
        }
    )
    bfl = adapter()
    submission = bfl.submit(make_request())

    with pytest.raises(ProviderError) as excinfo:
        bfl.poll(submission)

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY
    assert "Derivative Works" in excinfo.value.message
    assert not excinfo.value.retryable


def test_count_fans_out_and_a_moderated_sibling_becomes_a_refusal(respx_mock: respx.MockRouter) -> None:
    submit = respx_mock.post(f"{BASE}/v1/flux-2-pro").mock(
        side_effect=[httpx.Response(200, json=accepted("a")), httpx.Response(200, json=accepted("b"))]
    )
    respx_mock.get(f"{POLL_HOST}/v1/get_result", params={"id": "a"}).respond(
        json={"id": "a", "status": "Ready", "result": {"sample": DELIVERY}}
    )
    respx_mock.get(f"{POLL_HOST}/v1/get_result", params={"id": "b"}).respond(
        json={"id": "b", "status": "Request Moderated"}
    )
    respx_mock.get(DELIVERY).respond(content=make_jpeg(1920, 1088))
    bfl = adapter()

    submission = bfl.submit(make_request(count=2, seed=7))
    result = bfl.poll(reloaded(submission)).result

    assert [json.loads(c.request.content)["seed"] for c in submit.calls] == [7, 8]
    assert result is not None
    assert len(result.images) == 1
    assert result.refusals == ("Request Moderated",)


def test_a_failed_second_submit_keeps_the_first_task(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").mock(
        side_effect=[
            httpx.Response(200, json=accepted("a")),
            httpx.Response(429, headers={"Retry-After": "3"}, json={"detail": "too many active tasks"}),
        ]
    )

    submission = adapter().submit(make_request(count=2))

    assert [t["id"] for t in submission.state["tasks"]] == ["a"]
    assert "too many active tasks" in submission.state["lost"][0]


def test_error_status_is_a_retryable_upstream_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(json=accepted("t1"))
    respx_mock.get(f"{POLL_HOST}/v1/get_result").respond(
        json={"id": "t1", "status": "Error", "details": "oom"}
    )
    bfl = adapter()
    submission = bfl.submit(make_request())

    with pytest.raises(ProviderError) as excinfo:
        bfl.poll(submission)

    assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR
    assert excinfo.value.retryable


def test_429_carries_retry_after(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(
        429, headers={"Retry-After": "12"}, json={"detail": "slow down"}
    )

    with pytest.raises(ProviderError) as excinfo:
        adapter().submit(make_request())

    assert excinfo.value.code is ErrorCode.RATE_LIMITED
    assert excinfo.value.retry_after == 12.0


def test_5xx_is_retryable(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(503, text="busy")

    with pytest.raises(ProviderError) as excinfo:
        adapter().submit(make_request())

    assert excinfo.value.code is ErrorCode.UNAVAILABLE
    assert excinfo.value.retryable


def test_422_validation_detail_is_readable(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(
        422,
        json={
            "detail": [{"loc": ["body", "width"], "msg": "must be a multiple of 16", "type": "value_error"}]
        },
    )

    with pytest.raises(ProviderError) as excinfo:
        adapter().submit(make_request())

    assert excinfo.value.code is ErrorCode.INVALID_REQUEST
    assert "width: must be a multiple of 16" in excinfo.value.message


def test_402_without_credits_is_not_retried(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(402, json={"detail": "Insufficient credits"})

    with pytest.raises(ProviderError) as excinfo:
        adapter().submit(make_request())

    assert not excinfo.value.retryable


def test_a_polling_url_on_a_foreign_host_never_gets_the_key(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(
        json={"id": "t1", "polling_url": "https://evil.example/v1/get_result?id=t1"}
    )

    with pytest.raises(ProviderError) as excinfo:
        adapter().submit(make_request())

    assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR


def test_pending_without_progress_estimates_from_elapsed_time(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/flux-2-pro").respond(json=accepted("t1"))
    respx_mock.get(f"{POLL_HOST}/v1/get_result").respond(
        json={"id": "t1", "status": "Pending", "progress": None}
    )
    bfl = adapter()
    submission = bfl.submit(make_request())
    aged = Submission(
        submission.provider_job_id,
        submission.poll_url,
        {**submission.state, "submitted_at": time.time() - 60},
    )

    fresh, old = bfl.poll(submission), bfl.poll(aged)

    assert fresh.progress < old.progress < 100
    assert fresh.poll_after < old.poll_after <= 5.0


def test_batch_sizes_and_seeds() -> None:
    assert batch_sizes(10, 4) == [4, 4, 2]
    assert batch_sizes(3, 1) == [1, 1, 1]
    assert seed_for(None, 3) is None
    assert seed_for(2_147_483_647, 1) == 0


def test_kontext_text_to_image_sends_the_ratio_and_answers_about_one_megapixel(respx_mock: respx.MockRouter) -> None:
    """Kontext pro/max take `aspect_ratio` only and return ~1 MP on FLUX.1 Kontext's grid
    (16:9 is 1392x752), not seed 000's 1920x1088: the catalogue's sizes are what comes back."""
    from providers.catalog import load_catalog_data

    entry = next(e for e in load_catalog_data() if e["slug"] == "flux-kontext-max")
    width, height = entry["sizes"]["default"]["16:9"]
    assert (width, height) == (1392, 752)
    route = respx_mock.post(f"{BASE}/v1/flux-kontext-max").respond(json=accepted("kt"))
    respx_mock.get(f"{POLL_HOST}/v1/get_result", params={"id": "kt"}).respond(
        json={"id": "kt", "status": "Ready", "result": {"sample": DELIVERY, "seed": 7}}
    )
    respx_mock.get(DELIVERY).respond(content=make_png(width, height))
    bfl = adapter()

    submission = bfl.submit(make_request(remote_model="flux-kontext-max", width=width, height=height))
    done = bfl.poll(reloaded(submission))

    body = json.loads(route.calls[0].request.content)
    assert body["aspect_ratio"] == "16:9" and "width" not in body and "input_image" not in body
    assert body["output_format"] == "png"
    image = done.result.images[0]
    assert (image.width, image.height) == (1392, 752)
    assert width * height < 1.1 * 1024 * 1024  # about one megapixel, as every Kontext ratio
