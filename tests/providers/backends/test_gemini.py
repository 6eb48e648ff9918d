"""Gemini generateContent and Imagen predict against recorded-style answers (no network: respx)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from providers.backends.gemini import GeminiAdapter, ImagenAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage, Part, Turn
from tests.images import make_png
from tests.providers.backends.fixtures import load_json

BASE = "https://generativelanguage.googleapis.com/v1beta"
PRO = f"{BASE}/models/gemini-3-pro-image-preview:generateContent"
FLASH = f"{BASE}/models/gemini-2.5-flash-image:generateContent"
IMAGEN = f"{BASE}/models/imagen-4.0-generate-001:predict"

SIGNATURE_TEXT = "Q2lRQjBlMmtxN2pIVUF0aGQ3SXlvdWdodF9zaWduYXR1cmVfQQ=="
SIGNATURE_IMAGE = "Q2lRQjBlMmtxN2pIVUF0aGQ3SXlvdWdodF9zaWduYXR1cmVfQg=="


def pro_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "gemini-3-pro-image",
        "remote_model": "gemini-3-pro-image-preview",
        "prompt": "a lighthouse at dusk",
        "aspect_ratio": "16:9",
        "resolution": "2K",
        "width": 2752,
        "height": 1536,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def flash_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "gemini-2.5-flash-image",
        "remote_model": "gemini-2.5-flash-image",
        "prompt": "a lighthouse at dusk",
        "resolution": "default",
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def sent_json(route: respx.Route, call: int = 0) -> Any:
    return json.loads(route.calls[call].request.content)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def raise_for(adapter: Any, request: GenerationRequest) -> ProviderError:
    with pytest.raises(ProviderError) as excinfo:
        adapter.generate(request)
    return excinfo.value


# -- request shape ----------------------------------------------------------------------
def test_generate_sends_prompt_modalities_and_image_config(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))

    GeminiAdapter(api_key="g-key").generate(pro_request())

    sent = route.calls[0].request
    assert sent.method == "POST"
    assert sent.url.path == "/v1beta/models/gemini-3-pro-image-preview:generateContent"
    assert sent.headers["x-goog-api-key"] == "g-key"
    assert "authorization" not in sent.headers
    assert sent_json(route) == {
        "contents": [{"role": "user", "parts": [{"text": "a lighthouse at dusk"}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
        },
    }


def test_image_size_only_for_upper_case_levels_and_modalities_from_options(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(FLASH).respond(json=load_json("gemini_grounded.json"))

    GeminiAdapter(api_key="g-key").generate(
        flash_request(aspect_ratio="1:1", options={"response_modalities": ["image"], "thinking": "high"})
    )

    config = sent_json(route)["generationConfig"]
    # No imageSize for "default", and 2.5 Flash Image does not think: no thinkingConfig.
    assert config == {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "1:1"}}


def test_thinking_level_for_gemini_3(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))

    GeminiAdapter(api_key="g-key").generate(pro_request(options={"thinking": "high"}))

    assert sent_json(route)["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "high"}


def test_input_image_resolution_becomes_media_resolution(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))

    GeminiAdapter(api_key="g-key").generate(pro_request(options={"media_resolution": "low"}))
    GeminiAdapter(api_key="g-key").generate(pro_request(options={"media_resolution": "bogus"}))

    first, second = (json.loads(call.request.content) for call in route.calls)
    assert first["generationConfig"]["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    assert "mediaResolution" not in second["generationConfig"]


def test_fourteen_references_go_inline_after_the_prompt(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))
    colours = [(i * 18, 255 - i * 18, 90) for i in range(14)]
    refs = tuple(InputImage(make_png(32, 24, colour), "image/png", 32, 24) for colour in colours)

    GeminiAdapter(api_key="g-key").generate(pro_request(references=refs))

    [turn] = sent_json(route)["contents"]
    assert turn["role"] == "user"
    assert turn["parts"][0] == {"text": "a lighthouse at dusk"}
    inline = [part["inlineData"] for part in turn["parts"][1:]]
    assert len(inline) == 14
    assert [item["data"] for item in inline] == [b64(ref.data) for ref in refs]
    assert {item["mimeType"] for item in inline} == {"image/png"}


def test_fifteen_references_are_refused_before_any_call(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))
    refs = tuple(InputImage(make_png(8, 8), "image/png", 8, 8) for _ in range(15))

    error = raise_for(GeminiAdapter(api_key="g-key"), pro_request(references=refs))

    assert error.code is ErrorCode.INVALID_REQUEST
    assert not route.called


# -- answers -----------------------------------------------------------------------------
def test_parse_skips_thought_images_and_keeps_the_model_turn(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))

    result = GeminiAdapter(api_key="g-key").generate(pro_request())

    [image] = result.images
    assert (image.mime_type, image.width, image.height) == ("image/png", 2752, 1536)
    assert Image.open(io.BytesIO(image.data)).getpixel((0, 0)) == (0, 0, 128)  # navy, not the gray draft
    assert result.text == "Here is the lighthouse at dusk, in 16:9."
    assert [(p.thought, p.thought_signature, p.image is not None) for p in result.parts] == [
        (True, None, False),
        (True, None, True),
        (False, SIGNATURE_TEXT, False),
        (False, SIGNATURE_IMAGE, True),
    ]
    assert result.metadata["usage"]["totalTokenCount"] == 1570
    assert result.metadata["model_version"] == "gemini-3-pro-image-preview"
    assert result.metadata["finish_reason"] == "STOP"


def test_multi_turn_sends_history_back_unchanged_and_returns_new_signatures(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))
    adapter = GeminiAdapter(api_key="g-key")
    first = adapter.generate(pro_request(prompt="an infographic about photosynthesis"))
    history = (
        Turn("user", (Part(text="an infographic about photosynthesis"),)),
        Turn("model", first.parts),
    )

    second = adapter.generate(pro_request(prompt="now in Spanish", history=history))

    contents = sent_json(route, 1)["contents"]
    assert [turn["role"] for turn in contents] == ["user", "model", "user"]
    # The model turn goes back as it came: same parts, same order, signatures untouched.
    received = load_json("gemini_image.json")["candidates"][0]["content"]["parts"]
    assert contents[1]["parts"] == received
    assert contents[2] == {"role": "user", "parts": [{"text": "now in Spanish"}]}
    assert [p.thought_signature for p in second.parts if p.thought_signature] == [
        SIGNATURE_TEXT,
        SIGNATURE_IMAGE,
    ]


def test_grounding_adds_search_tool_and_returns_sources(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_grounded.json"))

    result = GeminiAdapter(api_key="g-key").generate(
        pro_request(resolution="1K", width=1376, height=768, options={"grounding": True})
    )

    assert sent_json(route)["tools"] == [{"google_search": {}}]
    grounding = result.metadata["grounding"]
    assert grounding["queries"] == ["San Francisco weather forecast next 5 days"]
    assert [source["title"] for source in grounding["sources"]] == ["weather.gov", "accuweather.com"]
    assert grounding["search_entry_point"].startswith("<style>")
    json.dumps(result.metadata)  # stored on the job as JSON


def test_count_fans_out_one_call_per_image(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))
    progress: list[int] = []

    result = GeminiAdapter(api_key="g-key").generate(
        pro_request(count=3), on_progress=lambda pct, preview: progress.append(pct)
    )

    assert route.call_count == 3
    assert len(result.images) == 3
    assert progress == [33, 66]


# -- refusals and failures in a 200 --------------------------------------------------------
def test_image_safety_finish_reason_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(FLASH).respond(json=load_json("gemini_image_safety.json"))

    error = raise_for(GeminiAdapter(api_key="g-key"), flash_request())

    assert error.code is ErrorCode.CONTENT_POLICY and not error.retryable
    assert "IMAGE_SAFETY" in error.message
    assert "Prohibited Use policy" in error.message


def test_prompt_block_reason_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(FLASH).respond(json=load_json("gemini_prompt_blocked.json"))

    error = raise_for(GeminiAdapter(api_key="g-key"), flash_request())

    assert error.code is ErrorCode.CONTENT_POLICY
    assert "PROHIBITED_CONTENT" in error.message


def test_text_only_answer_carries_the_models_words(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(FLASH).respond(json=load_json("gemini_text_only.json"))

    error = raise_for(GeminiAdapter(api_key="g-key"), flash_request())

    assert error.code is ErrorCode.UPSTREAM_ERROR
    assert "photographic or illustrated?" in error.message


def test_later_refusal_keeps_the_images_already_made(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(FLASH).mock(
        side_effect=[
            httpx.Response(200, json=load_json("gemini_grounded.json")),
            httpx.Response(200, json=load_json("gemini_image_safety.json")),
        ]
    )

    result = GeminiAdapter(api_key="g-key").generate(flash_request(count=2))

    assert len(result.images) == 1
    [refusal] = result.refusals
    assert "IMAGE_SAFETY" in refusal


# -- HTTP errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retry_after", "retryable"),
    [
        (429, "gemini_rate_limited.json", {}, ErrorCode.RATE_LIMITED, 37.0, True),
        (429, "gemini_unavailable.json", {"Retry-After": "20"}, ErrorCode.RATE_LIMITED, 20.0, True),
        (400, "gemini_api_key_invalid.json", {}, ErrorCode.AUTH, None, False),
        (
            403,
            {"error": {"code": 403, "message": "Permission denied.", "status": "PERMISSION_DENIED"}},
            {},
            ErrorCode.AUTH,
            None,
            False,
        ),
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "Request contains an invalid argument.",
                    "status": "INVALID_ARGUMENT",
                }
            },
            {},
            ErrorCode.INVALID_REQUEST,
            None,
            False,
        ),
        (503, "gemini_unavailable.json", {}, ErrorCode.UNAVAILABLE, None, True),
    ],
)
def test_http_errors_map_to_the_taxonomy(
    respx_mock: respx.MockRouter,
    status: int,
    body: str | dict[str, Any],
    headers: dict[str, str],
    code: ErrorCode,
    retry_after: float | None,
    retryable: bool,
) -> None:
    payload = load_json(body) if isinstance(body, str) else body
    respx_mock.post(FLASH).respond(status, json=payload, headers=headers)

    error = raise_for(GeminiAdapter(api_key="g-key"), flash_request())

    assert (error.code, error.retry_after, error.retryable, error.status) == (
        code,
        retry_after,
        retryable,
        status,
    )


def test_connect_timeout_is_a_timeout(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(FLASH).mock(side_effect=httpx.ConnectTimeout("slow"))

    error = raise_for(GeminiAdapter(api_key="g-key"), flash_request())

    assert error.code is ErrorCode.TIMEOUT and error.retryable


def test_request_timeout_is_the_read_timeout(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(PRO).respond(json=load_json("gemini_image.json"))

    GeminiAdapter(api_key="g-key").generate(pro_request(timeout=300.0))

    assert route.calls[0].request.extensions["timeout"]["read"] == 300.0


# -- Imagen --------------------------------------------------------------------------------
def imagen_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "imagen-4-pro",
        "remote_model": "imagen-4.0-generate-001",
        "prompt": "a lighthouse at dusk",
        "aspect_ratio": "16:9",
        "width": 1408,
        "height": 768,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def test_imagen_predict_body_and_filtered_image_is_a_refusal(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(IMAGEN).respond(json=load_json("imagen_predict.json"))

    result = ImagenAdapter(api_key="g-key").generate(
        imagen_request(
            count=3,
            resolution="2K",
            negative_prompt="fog",
            seed=9,
            options={"person_generation": "ALLOW_ADULT"},
        )
    )

    sent = route.calls[0].request
    assert sent.url.path == "/v1beta/models/imagen-4.0-generate-001:predict"
    assert sent.headers["x-goog-api-key"] == "g-key"
    # negativePrompt and seed are Vertex-only: never sent on the Gemini API.
    assert sent_json(route) == {
        "instances": [{"prompt": "a lighthouse at dusk"}],
        "parameters": {
            "sampleCount": 3,
            "aspectRatio": "16:9",
            "sampleImageSize": "2K",
            "personGeneration": "ALLOW_ADULT",
            "includeRaiReason": True,
        },
    }
    assert [(i.width, i.height, i.mime_type) for i in result.images] == [(1408, 768, "image/png")] * 2
    [refusal] = result.refusals
    assert "safety filter threshold" in refusal
    assert result.metadata["safety"]["categories"] == ["Violence"]


def test_imagen_all_filtered_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(IMAGEN).respond(json=load_json("imagen_all_filtered.json"))

    error = raise_for(ImagenAdapter(api_key="g-key"), imagen_request())

    assert error.code is ErrorCode.CONTENT_POLICY
    assert "prohibited one or more words" in error.message


def test_imagen_silently_missing_images_are_refusals(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(IMAGEN).respond(json=load_json("imagen_none.json"))

    error = raise_for(ImagenAdapter(api_key="g-key"), imagen_request(count=2))

    assert error.code is ErrorCode.CONTENT_POLICY
    assert "2 image(s) filtered out" in error.message


def test_imagen_count_above_four_takes_two_calls(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(IMAGEN).respond(json=load_json("imagen_predict.json"))

    ImagenAdapter(api_key="g-key").generate(imagen_request(count=6))

    assert [sent_json(route, i)["parameters"]["sampleCount"] for i in range(route.call_count)] == [4, 2]


def test_imagen_cannot_edit(respx_mock: respx.MockRouter) -> None:
    error = raise_for(
        ImagenAdapter(api_key="g-key"),
        imagen_request(references=(InputImage(make_png(8, 8), "image/png", 8, 8),)),
    )

    assert error.code is ErrorCode.INVALID_REQUEST


def test_image_other_finish_reason_is_a_retryable_upstream_failure(respx_mock: respx.MockRouter) -> None:
    # IMAGE_OTHER ("stopped for other reasons") is not a refusal of the prompt: retried.
    respx_mock.post(FLASH).respond(json=load_json("gemini_image_other.json"))

    error = raise_for(GeminiAdapter(api_key="g-key"), flash_request())

    assert error.code is ErrorCode.UPSTREAM_ERROR and error.retryable


def test_imagen_ultra_fans_out_one_image_per_call(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(
        "https://generativelanguage.googleapis.com/v1beta/models/imagen-4.0-ultra-generate-001:predict"
    ).respond(json=load_json("imagen_predict.json"))

    ImagenAdapter(api_key="g-key").generate(
        imagen_request(model="imagen-4-ultra", remote_model="imagen-4.0-ultra-generate-001", count=2)
    )

    assert route.call_count == 2
    assert [sent_json(route, i)["parameters"]["sampleCount"] for i in range(2)] == [1, 1]
