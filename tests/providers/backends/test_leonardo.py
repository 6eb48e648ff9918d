"""Leonardo.ai v1: create a generation, poll it by id (no network: respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from providers.backends.leonardo import LeonardoAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_jpeg, make_png
from tests.providers.backends.helpers import reloaded

BASE = "https://cloud.leonardo.ai/api/rest"
PHOENIX = "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3"
CDN = "https://cdn.leonardo.ai/users/u/generations/gen-1"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "leonardo-phoenix",
        "remote_model": PHOENIX,
        "prompt": "koala with a purple hat",
        "aspect_ratio": "16:9",
        "width": 1376,
        "height": 768,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def created(gen_id: str) -> dict[str, Any]:
    return {"sdGenerationJob": {"generationId": gen_id, "apiCreditCost": 12}}


def polled(gen_id: str, status: str, images: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "generations_by_pk": {"id": gen_id, "status": status, "generated_images": images or [], "seed": 99}
    }


def test_submit_poll_pending_then_complete(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/v1/generations").respond(json=created("gen-1"))
    respx_mock.get(f"{BASE}/v1/generations/gen-1").mock(
        side_effect=[
            httpx.Response(200, json=polled("gen-1", "PENDING")),
            httpx.Response(
                200,
                json=polled(
                    "gen-1",
                    "COMPLETE",
                    [
                        {"id": "i1", "url": f"{CDN}/1.jpg", "nsfw": False},
                        {"id": "i2", "url": f"{CDN}/2.jpg", "nsfw": False},
                    ],
                ),
            ),
        ]
    )
    respx_mock.get(f"{CDN}/1.jpg").respond(content=make_jpeg(1376, 768))
    respx_mock.get(f"{CDN}/2.jpg").respond(content=make_jpeg(1376, 768))
    leonardo = LeonardoAdapter(api_key="leo-key")

    submission = reloaded(leonardo.submit(make_request(count=2, seed=5, negative_prompt="blurry")))
    pending = leonardo.poll(submission)
    done = leonardo.poll(submission)

    sent = create.calls[0].request
    assert sent.headers["authorization"] == "Bearer leo-key"
    assert json.loads(sent.content) == {
        "modelId": PHOENIX,
        "prompt": "koala with a purple hat",
        "width": 1376,
        "height": 768,
        "num_images": 2,
        "public": False,
        "negative_prompt": "blurry",
        "seed": 5,
    }
    assert submission.provider_job_id == "gen-1"
    assert not pending.done and pending.progress < 100
    assert done.result is not None
    assert [(i.mime_type, i.width, i.height) for i in done.result.images] == [("image/jpeg", 1376, 768)] * 2
    assert done.result.seed == 99


def test_a_large_side_caps_a_call_at_four_images(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/v1/generations").mock(
        side_effect=[httpx.Response(200, json=created("a")), httpx.Response(200, json=created("b"))]
    )

    submission = LeonardoAdapter(api_key="k").submit(make_request(count=6))

    assert [json.loads(c.request.content)["num_images"] for c in create.calls] == [4, 2]
    assert [t["count"] for t in submission.state["tasks"]] == [4, 2]


def test_nsfw_images_become_refusals(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/generations").respond(json=created("gen-1"))
    respx_mock.get(f"{BASE}/v1/generations/gen-1").respond(
        json=polled(
            "gen-1",
            "COMPLETE",
            [
                {"id": "i1", "url": f"{CDN}/1.jpg", "nsfw": True},
                {"id": "i2", "url": f"{CDN}/2.jpg", "nsfw": False},
            ],
        )
    )
    respx_mock.get(f"{CDN}/2.jpg").respond(content=make_jpeg(1376, 768))
    leonardo = LeonardoAdapter(api_key="k")

    result = leonardo.poll(leonardo.submit(make_request(count=2))).result

    assert result is not None
    assert len(result.images) == 1
    assert result.refusals == ("Leonardo flagged the image as NSFW",)


def test_all_nsfw_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/generations").respond(json=created("gen-1"))
    respx_mock.get(f"{BASE}/v1/generations/gen-1").respond(
        json=polled("gen-1", "COMPLETE", [{"id": "i1", "url": f"{CDN}/1.jpg", "nsfw": True}])
    )
    leonardo = LeonardoAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        leonardo.poll(leonardo.submit(make_request()))

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY


def test_failed_generation_is_upstream_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/generations").respond(json=created("gen-1"))
    respx_mock.get(f"{BASE}/v1/generations/gen-1").respond(json=polled("gen-1", "FAILED"))
    leonardo = LeonardoAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        leonardo.poll(leonardo.submit(make_request()))

    assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR


def test_auth_hook_error_is_auth(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/generations").respond(
        401,
        json={"error": "Authentication hook unauthorized this request", "path": "$", "code": "access-denied"},
    )

    with pytest.raises(ProviderError) as excinfo:
        LeonardoAdapter(api_key="bad").submit(make_request())

    assert excinfo.value.code is ErrorCode.AUTH
    assert "Authentication hook unauthorized" in excinfo.value.message


def test_429_and_5xx(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/generations").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "4"}, json={"error": "rate limit"}),
            httpx.Response(502, text="bad gateway"),
        ]
    )
    leonardo = LeonardoAdapter(api_key="k")

    with pytest.raises(ProviderError) as limited:
        leonardo.submit(make_request())
    with pytest.raises(ProviderError) as broken:
        leonardo.submit(make_request())

    assert (limited.value.code, limited.value.retry_after) == (ErrorCode.RATE_LIMITED, 4.0)
    assert broken.value.code is ErrorCode.UNAVAILABLE and broken.value.retryable


def test_references_are_refused(respx_mock: respx.MockRouter) -> None:
    ref = InputImage(make_png(8, 8), "image/png", 8, 8)

    with pytest.raises(ProviderError) as excinfo:
        LeonardoAdapter(api_key="k").submit(make_request(references=(ref,)))

    assert excinfo.value.code is ErrorCode.INVALID_REQUEST
    assert not respx_mock.calls
