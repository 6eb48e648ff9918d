"""The aggregator family against recorded-style answers of seeds 002 and 004 (no network: respx)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import respx

from providers.backends.aggregator import AggregatorAdapter, AggregatorOpenAIAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage, Submission
from tests.images import make_png
from tests.providers.backends.fixtures import load_json

BASE = "https://agg.example"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "midjourney",
        "remote_model": "midjourney",
        "prompt": "a lighthouse, painterly",
        "aspect_ratio": "16:9",
        "width": 1456,
        "height": 816,
        "idempotency_key": "job-1",
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def adapter() -> AggregatorAdapter:
    return AggregatorAdapter(api_key="agg-key", base_url=BASE)


def test_submit_posts_the_job_with_an_idempotency_key(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v2/images/generate").respond(202, json=load_json("aggregator_accepted.json"))

    submission = adapter().submit(make_request(count=2, seed=5))

    sent = route.calls[0].request
    assert sent.headers["authorization"] == "Bearer agg-key"
    assert json.loads(sent.content) == {
        "model": "midjourney",
        "prompt": "a lighthouse, painterly",
        "aspectRatio": "16:9",
        "count": 2,
        "seed": 5,
        "outputFormat": "png",
    }
    assert submission.provider_job_id == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    # The same job submitted again carries the same key; another job another key.
    adapter().submit(make_request(count=2, seed=5))
    adapter().submit(make_request(idempotency_key="job-2"))
    keys = [call.request.headers["idempotency-key"] for call in route.calls]
    assert keys[0] == keys[1] != keys[2]


def test_poll_waits_then_downloads_the_signed_images(respx_mock: respx.MockRouter) -> None:
    job = respx_mock.get(f"{BASE}/v2/jobs/a1b2c3d4-e5f6-7890-abcd-ef1234567890")
    job.side_effect = [
        respx.MockResponse(200, json={"status": "RUNNING", "progress": 40}),
        respx.MockResponse(200, json=load_json("aggregator_job_succeeded.json")),
    ]
    download = respx_mock.get(f"{BASE}/v2/files/tok-1").respond(
        content=make_png(1456, 816), headers={"content-type": "image/png"}
    )
    submission = Submission(
        provider_job_id="a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        state={"job_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "expect": {"model": "midjourney", "remote_model": "midjourney", "width": 1456, "height": 816}},
    )

    first = adapter().poll(submission)
    assert (first.done, first.progress) == (False, 40)
    done = adapter().poll(submission)

    assert done.done and done.result is not None
    [image] = done.result.images
    assert (image.width, image.height) == (1456, 816)
    # Signed links carry no key: the key is never sent with a download.
    assert "authorization" not in download.calls[0].request.headers


def test_a_failed_upstream_job_keeps_its_error_code(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{BASE}/v2/jobs/x").respond(json=load_json("aggregator_job_failed.json"))

    with pytest.raises(ProviderError) as caught:
        adapter().poll(Submission(provider_job_id="x", state={"job_id": "x", "expect": {"model": "m", "remote_model": "m"}}))

    assert caught.value.code is ErrorCode.CONTENT_POLICY


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (400, {"error": {"code": "validation_error", "message": "bad size"}}, ErrorCode.INVALID_REQUEST, False),
        (401, {"error": {"code": "unauthorized", "message": "Missing or invalid API key"}}, ErrorCode.AUTH, False),
        (402, load_json("aggregator_insufficient_credits.json"), ErrorCode.PROVIDER_BILLING, False),
        (503, {"error": {"code": "unavailable", "message": "Job queue is temporarily down"}}, ErrorCode.UNAVAILABLE, True),
    ],
)
def test_seed_002_error_codes_map_to_the_taxonomy(
    respx_mock: respx.MockRouter, status: int, body: dict[str, Any], code: ErrorCode, retryable: bool
) -> None:
    respx_mock.post(f"{BASE}/v2/images/generate").respond(status, json=body)

    with pytest.raises(ProviderError) as caught:
        adapter().submit(make_request())

    assert (caught.value.code, caught.value.retryable) == (code, retryable)


def test_openai_compatible_shape_sends_base64_image_for_edits(respx_mock: respx.MockRouter) -> None:
    png = make_png(1024, 1024)
    route = respx_mock.post(f"{BASE}/v1/images/edits").respond(
        json={"created": 1, "data": [{"b64_json": base64.b64encode(png).decode()}]}
    )
    reference = InputImage(make_png(512, 512, "blue"), "image/png", 512, 512)

    result = AggregatorOpenAIAdapter(api_key="agg-key", base_url=BASE).generate(
        make_request(remote_model="google/gemini-3-pro-image", width=1024, height=1024, references=(reference,))
    )

    sent = json.loads(route.calls[0].request.content)
    assert sent["model"] == "google/gemini-3-pro-image"
    assert base64.b64decode(sent["image"]) == reference.data
    assert len(result.images) == 1
