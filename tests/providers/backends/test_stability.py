"""Stability AI v2beta: multipart in, raw image bytes out (no network: respx)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from providers.backends.stability import StabilityAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_png, make_webp
from tests.providers.backends.test_ideogram import form_fields, form_parts

BASE = "https://api.stability.ai"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "stable-image-core",
        "remote_model": "core",
        "prompt": "a lighthouse, oil painting",
        "aspect_ratio": "16:9",
        "width": 1344,
        "height": 768,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def image_response(
    data: bytes, *, finish: str = "SUCCESS", seed: int = 123, mime: str = "image/png"
) -> httpx.Response:
    return httpx.Response(
        200, content=data, headers={"content-type": mime, "finish-reason": finish, "seed": str(seed)}
    )


def source() -> InputImage:
    return InputImage(make_png(64, 64, "blue"), "image/png", 64, 64)


def test_generate_is_multipart_without_files_and_reads_raw_bytes(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v2beta/stable-image/generate/core").mock(
        return_value=image_response(make_webp(1344, 768), seed=555, mime="image/webp")
    )

    result = StabilityAdapter(api_key="sk-st").generate(
        make_request(seed=555, negative_prompt="fog", output_format="webp", style="photographic")
    )

    sent = route.calls[0].request
    assert sent.headers["authorization"] == "Bearer sk-st"
    assert sent.headers["accept"] == "image/*"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert form_fields(sent) == {
        "prompt": "a lighthouse, oil painting",
        "negative_prompt": "fog",
        "output_format": "webp",
        "style_preset": "photographic",
        "aspect_ratio": "16:9",
        "seed": "555",
    }
    image = result.images[0]
    assert (image.mime_type, image.width, image.height) == ("image/webp", 1344, 768)
    assert result.seed == 555


def test_count_fans_out_one_call_per_image(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v2beta/stable-image/generate/ultra").mock(
        side_effect=[image_response(make_png(1344, 768)) for _ in range(3)]
    )

    result = StabilityAdapter(api_key="k").generate(make_request(remote_model="ultra", count=3, seed=1))

    assert [form_fields(c.request)["seed"] for c in route.calls] == ["1", "2", "3"]
    assert len(result.images) == 3


def test_sd3_sends_the_model_and_image_to_image_mode(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v2beta/stable-image/generate/sd3").mock(
        return_value=image_response(make_png(64, 64))
    )

    StabilityAdapter(api_key="k").generate(
        make_request(remote_model="sd3.5-large", references=(source(),), options={"strength": 0.3})
    )

    fields = form_fields(route.calls[0].request)
    assert fields["model"] == "sd3.5-large"
    assert fields["mode"] == "image-to-image"
    assert fields["strength"] == "0.3"
    assert "aspect_ratio" not in fields
    files = [(name, data) for name, filename, data in form_parts(route.calls[0].request) if filename]
    assert files == [("image", source().data)]


def test_inpaint_sends_image_and_mask_files(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v2beta/stable-image/edit/inpaint").mock(
        return_value=image_response(make_png(64, 64))
    )
    mask = InputImage(make_png(64, 64, "white"), "image/png", 64, 64)

    StabilityAdapter(api_key="k").generate(
        make_request(references=(source(),), mask=mask, options={"grow_mask": 5})
    )

    parts = {name: data for name, filename, data in form_parts(route.calls[0].request) if filename}
    assert parts == {"image": source().data, "mask": mask.data}
    assert form_fields(route.calls[0].request)["grow_mask"] == "5"


def test_core_refuses_a_source_image_without_calling(respx_mock: respx.MockRouter) -> None:
    with pytest.raises(ProviderError) as excinfo:
        StabilityAdapter(api_key="k").generate(make_request(references=(source(),)))

    assert excinfo.value.code is ErrorCode.INVALID_REQUEST
    assert not respx_mock.calls


def test_content_filtered_images_are_refused_not_delivered(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v2beta/stable-image/generate/core").mock(
        side_effect=[
            image_response(make_png(1344, 768)),
            image_response(make_png(1344, 768), finish="CONTENT_FILTERED"),
        ]
    )

    result = StabilityAdapter(api_key="k").generate(make_request(count=2))

    assert len(result.images) == 1
    assert len(result.refusals) == 1


def test_all_filtered_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v2beta/stable-image/generate/core").mock(
        return_value=image_response(make_png(1344, 768), finish="CONTENT_FILTERED")
    )

    with pytest.raises(ProviderError) as excinfo:
        StabilityAdapter(api_key="k").generate(make_request())

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY


def test_403_content_moderation_is_content_policy_not_auth(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v2beta/stable-image/generate/core").respond(
        403,
        json={
            "id": "e1",
            "name": "content_moderation",
            "errors": ["Your request was flagged by our content moderation system"],
        },
    )

    with pytest.raises(ProviderError) as excinfo:
        StabilityAdapter(api_key="k").generate(make_request())

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY
    assert "content_moderation" in excinfo.value.message


def test_other_errors(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v2beta/stable-image/generate/core").mock(
        side_effect=[
            httpx.Response(400, json={"id": "e", "name": "bad_request", "errors": ["aspect_ratio: invalid"]}),
            httpx.Response(401, json={"id": "e", "name": "unauthorized", "errors": ["missing key"]}),
            httpx.Response(
                429,
                headers={"Retry-After": "10"},
                json={"id": "e", "name": "rate_limit_exceeded", "errors": ["slow"]},
            ),
            httpx.Response(500, json={"id": "e", "name": "internal_error", "errors": ["oops"]}),
        ]
    )
    stability = StabilityAdapter(api_key="k")
    errors = []
    for _ in range(4):
        with pytest.raises(ProviderError) as excinfo:
            stability.generate(make_request())
        errors.append(excinfo.value)

    assert errors[0].code is ErrorCode.INVALID_REQUEST and "aspect_ratio: invalid" in errors[0].message
    assert errors[1].code is ErrorCode.AUTH
    assert (errors[2].code, errors[2].retry_after) == (ErrorCode.RATE_LIMITED, 10.0)
    assert errors[3].code is ErrorCode.UPSTREAM_ERROR and errors[3].retryable
