"""Luma Photon: create a generation, poll it by id (no network: respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from providers.backends.luma import LumaAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_jpeg, make_png
from tests.providers.backends.helpers import reloaded

BASE = "https://api.lumalabs.ai/dream-machine/v1"
ASSET = "https://storage.cdn-luma.com/photon/gen-1/result.jpg"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "luma-photon-1",
        "remote_model": "photon-1",
        "prompt": "a teddy bear playing guitar",
        "aspect_ratio": "16:9",
        "width": 2048,
        "height": 1152,
        "output_format": "jpeg",
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def generation(gen_id: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": gen_id, "generation_type": "image", "state": state, "failure_reason": None, **extra}


def test_submit_poll_dreaming_then_completed(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/generations/image").respond(201, json=generation("g1", "queued"))
    poll = respx_mock.get(f"{BASE}/generations/g1").mock(
        side_effect=[
            httpx.Response(200, json=generation("g1", "dreaming")),
            httpx.Response(200, json=generation("g1", "completed", assets={"image": ASSET})),
        ]
    )
    respx_mock.get(ASSET).respond(content=make_jpeg(2048, 1152))
    luma = LumaAdapter(api_key="luma-key")

    submission = reloaded(luma.submit(make_request()))
    pending = luma.poll(submission)
    done = luma.poll(submission)

    sent = create.calls[0].request
    assert sent.headers["authorization"] == "Bearer luma-key"
    assert json.loads(sent.content) == {
        "model": "photon-1",
        "prompt": "a teddy bear playing guitar",
        "aspect_ratio": "16:9",
        "generation_type": "image",
        "format": "jpg",
    }
    assert submission.provider_job_id == "g1"
    assert poll.call_count == 2
    assert not pending.done and 10 <= pending.progress < 100
    assert done.result is not None
    image = done.result.images[0]
    assert (image.mime_type, image.width, image.height) == ("image/jpeg", 2048, 1152)


def test_one_reference_is_a_modify_edit_from_its_public_url(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/generations/image").respond(201, json=generation("g1", "queued"))
    source = InputImage(make_png(32, 32), "image/png", 32, 32)

    LumaAdapter(api_key="k").submit(
        make_request(references=(source,), options={"reference_urls": ["https://studio.example/s/ref1.png"]})
    )

    body = json.loads(create.calls[0].request.content)
    assert body["modify_image_ref"] == {"url": "https://studio.example/s/ref1.png", "weight": 1.0}


def test_several_references_are_image_refs(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/generations/image").respond(201, json=generation("g1", "queued"))
    refs = tuple(InputImage(make_png(32, 32), "image/png", 32, 32) for _ in range(2))
    urls = ["https://studio.example/s/a.png", "https://studio.example/s/b.png"]

    LumaAdapter(api_key="k").submit(make_request(references=refs, options={"reference_urls": urls}))

    body = json.loads(create.calls[0].request.content)
    assert body["image_ref"] == [{"url": urls[0], "weight": 0.85}, {"url": urls[1], "weight": 0.85}]


def test_references_without_public_urls_are_refused_before_any_call(respx_mock: respx.MockRouter) -> None:
    source = InputImage(make_png(32, 32), "image/png", 32, 32)

    with pytest.raises(ProviderError) as excinfo:
        LumaAdapter(api_key="k").submit(make_request(references=(source,)))

    assert excinfo.value.code is ErrorCode.INVALID_REQUEST
    assert not respx_mock.calls


def test_count_fans_out_one_generation_per_image(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/generations/image").mock(
        side_effect=[httpx.Response(201, json=generation(f"g{i}", "queued")) for i in range(3)]
    )

    submission = LumaAdapter(api_key="k").submit(make_request(count=3))

    assert create.call_count == 3
    assert [t["id"] for t in submission.state["tasks"]] == ["g0", "g1", "g2"]


def test_failed_with_a_moderation_reason_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/generations/image").respond(201, json=generation("g1", "queued"))
    respx_mock.get(f"{BASE}/generations/g1").respond(
        json={**generation("g1", "failed"), "failure_reason": "Prompt not allowed because of moderation"}
    )
    luma = LumaAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        luma.poll(luma.submit(make_request()))

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY


def test_failed_for_another_reason_is_upstream_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/generations/image").respond(201, json=generation("g1", "queued"))
    respx_mock.get(f"{BASE}/generations/g1").respond(
        json={**generation("g1", "failed"), "failure_reason": "internal error"}
    )
    luma = LumaAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        luma.poll(luma.submit(make_request()))

    assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR
    assert "internal error" in excinfo.value.message


def test_400_detail_is_invalid_request(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/generations/image").respond(
        422,
        json={
            "detail": [{"type": "enum", "loc": ["body", "aspect_ratio"], "msg": "bad ratio", "input": "2:1"}]
        },
    )

    with pytest.raises(ProviderError) as excinfo:
        LumaAdapter(api_key="k").submit(make_request())

    assert excinfo.value.code is ErrorCode.INVALID_REQUEST
    assert "aspect_ratio: bad ratio" in excinfo.value.message


def test_429_and_5xx(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/generations/image").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "30"}, json={"detail": "rate limited"}),
            httpx.Response(500, json={"detail": "boom"}),
        ]
    )
    luma = LumaAdapter(api_key="k")

    with pytest.raises(ProviderError) as limited:
        luma.submit(make_request())
    with pytest.raises(ProviderError) as broken:
        luma.submit(make_request())

    assert (limited.value.code, limited.value.retry_after) == (ErrorCode.RATE_LIMITED, 30.0)
    assert broken.value.code is ErrorCode.UPSTREAM_ERROR and broken.value.retryable


def test_401_is_auth(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/generations/image").respond(401, json={"detail": "Invalid API key"})

    with pytest.raises(ProviderError) as excinfo:
        LumaAdapter(api_key="bad").submit(make_request())

    assert excinfo.value.code is ErrorCode.AUTH
