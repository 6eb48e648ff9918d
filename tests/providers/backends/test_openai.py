"""The OpenAI Images protocol family against recorded-style answers (no network: respx)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from providers.backends.ark import ArkAdapter
from providers.backends.openai import OpenAIAdapter
from providers.backends.recraft import RecraftAdapter
from providers.backends.xai import XAIAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_png
from tests.providers.backends.fixtures import load_json, load_text

OPENAI = "https://api.openai.com/v1"
XAI = "https://api.x.ai/v1"
RECRAFT = "https://external.api.recraft.ai/v1"
ARK = "https://ark.ap-southeast.bytepluses.com/api/v3"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "gpt-image-1-medium",
        "remote_model": "gpt-image-1.5",
        "prompt": "a red fox, flat vector",
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def reference(width: int = 1024, height: int = 1024, color: str = "red") -> InputImage:
    return InputImage(make_png(width, height, color), "image/png", width, height)


def sent_json(route: respx.Route, call: int = 0) -> Any:
    return json.loads(route.calls[call].request.content)


@dataclass
class FormPart:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def sent_form(request: httpx.Request) -> list[FormPart]:
    """Parse a multipart/form-data body into its parts, in order."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts.append(
            FormPart(name, part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        )
    return parts


def form_values(parts: list[FormPart]) -> dict[str, str]:
    return {part.name: part.data.decode() for part in parts if part.filename is None}


def raise_for(adapter: Any, request: GenerationRequest) -> ProviderError:
    with pytest.raises(ProviderError) as excinfo:
        adapter.generate(request)
    return excinfo.value


# -- OpenAI: generations ---------------------------------------------------------------
def test_openai_generation_sends_gpt_image_fields_and_decodes_the_image(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{OPENAI}/images/generations").respond(json=load_json("openai_generation.json"))
    request = make_request(
        width=1536,
        height=1024,
        aspect_ratio="16:9",
        quality="medium",
        count=2,
        options={"background": "opaque", "moderation": "low", "output_compression": 80, "user": "member-7"},
    )

    result = OpenAIAdapter(api_key="sk-test").generate(request)

    sent = route.calls[0].request
    assert sent.method == "POST"
    assert sent.url.path == "/v1/images/generations"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent_json(route) == {
        "model": "gpt-image-1.5",
        "prompt": "a red fox, flat vector",
        "n": 2,
        "size": "1536x1024",
        "quality": "medium",
        "output_format": "png",
        "background": "opaque",
        "output_compression": 80,
        "moderation": "low",
        "user": "member-7",
    }
    assert route.call_count == 1  # n=2 fits one call
    [image] = result.images
    assert (image.mime_type, image.width, image.height) == ("image/png", 1536, 1024)
    assert Image.open(io.BytesIO(image.data)).size == (1536, 1024)
    assert result.metadata["usage"]["total_tokens"] == 4210
    assert result.refusals == ()


def test_dalle3_fans_out_one_call_per_image_and_surfaces_revised_prompt(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{OPENAI}/images/generations").respond(json=load_json("openai_dalle3.json"))
    request = make_request(model="dall-e-3", remote_model="dall-e-3", count=2, style="natural", quality="hd")

    result = OpenAIAdapter(api_key="sk-test").generate(request)

    assert route.call_count == 2
    for call in range(2):
        body = sent_json(route, call)
        assert body["n"] == 1
        assert body["response_format"] == "b64_json"
        assert body["style"] == "natural"
        assert body["quality"] == "hd"
        assert "output_format" not in body  # GPT-image only
    revised = "A watercolour painting of a red fox curled up asleep in fresh snow, soft morning light."
    assert [image.revised_prompt for image in result.images] == [revised, revised]
    assert result.text == revised
    assert all(image.width == 1024 and image.mime_type == "image/png" for image in result.images)


def test_dalle_url_results_are_downloaded_at_once(respx_mock: respx.MockRouter) -> None:
    url = "https://oaidalleapiprodscus.blob.core.windows.net/private/img-abc.png?se=2026-08-21"
    respx_mock.post(f"{OPENAI}/images/generations").respond(json={"created": 1, "data": [{"url": url}]})
    download = respx_mock.get(url).respond(content=make_png(1024, 1024, "purple"))

    result = OpenAIAdapter(api_key="sk-test").generate(make_request(remote_model="dall-e-2"))

    assert download.called
    assert result.images[0].data == make_png(1024, 1024, "purple")


# -- OpenAI: edits ------------------------------------------------------------------------
def test_openai_edit_sends_multipart_with_image_list_and_converted_mask(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{OPENAI}/images/edits").respond(json=load_json("openai_edit.json"))
    first, second = reference(color="red"), reference(512, 512, "blue")
    # Studio mask at a different size than the image: white square (repaint) on black (keep).
    studio_mask = Image.new("L", (256, 256), 0)
    studio_mask.paste(255, (0, 0, 128, 128))
    buffer = io.BytesIO()
    studio_mask.save(buffer, "PNG")
    request = make_request(
        count=2,
        quality="high",
        references=(first, second),
        mask=InputImage(buffer.getvalue(), "image/png", 256, 256),
        options={"input_fidelity": "high"},
    )

    result = OpenAIAdapter(api_key="sk-test").generate(request)

    sent = route.calls[0].request
    assert sent.url.path == "/v1/images/edits"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = sent_form(sent)
    assert form_values(parts) == {
        "model": "gpt-image-1.5",
        "prompt": "a red fox, flat vector",
        "n": "2",
        "size": "1024x1024",
        "quality": "high",
        "output_format": "png",
        "input_fidelity": "high",
    }
    images = [part for part in parts if part.name == "image[]"]
    assert [part.data for part in images] == [first.data, second.data]
    assert all(part.content_type == "image/png" for part in images)
    [mask] = [part for part in parts if part.name == "mask"]
    converted = Image.open(io.BytesIO(mask.data))
    assert converted.mode == "RGBA"
    assert converted.size == (1024, 1024)  # the first reference's size
    alpha = converted.getchannel("A")
    assert alpha.getpixel((10, 10)) == 0  # white in the studio mask -> transparent = repaint
    assert alpha.getpixel((1000, 1000)) == 255  # black -> opaque = keep
    assert [(image.width, image.height) for image in result.images] == [(1024, 1024), (1024, 1024)]


def test_openai_edit_with_one_reference_uses_the_plain_image_field(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{OPENAI}/images/edits").respond(json=load_json("openai_generation.json"))

    OpenAIAdapter(api_key="sk-test").generate(
        make_request(references=(reference(),), width=1536, height=1024)
    )

    names = [part.name for part in sent_form(route.calls[0].request)]
    assert names.count("image") == 1
    assert "image[]" not in names and "mask" not in names


# -- OpenAI: streaming -----------------------------------------------------------------
def test_openai_stream_sends_partials_to_progress_and_returns_the_final_image(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(f"{OPENAI}/images/generations").respond(
        content=load_text("openai_stream.sse").encode(), headers={"content-type": "text/event-stream"}
    )
    progress: list[tuple[int, bytes | None]] = []
    request = make_request(options={"stream": True, "partial_images": 2})

    result = OpenAIAdapter(api_key="sk-test").generate(
        request, on_progress=lambda pct, preview: progress.append((pct, preview))
    )

    body = sent_json(route)
    assert body["stream"] is True and body["partial_images"] == 2
    assert route.calls[0].request.headers["accept"] == "text/event-stream"
    assert [pct for pct, _ in progress] == [33, 66]
    previews = [Image.open(io.BytesIO(preview)).size for _, preview in progress if preview]
    assert previews == [(64, 64), (96, 96)]
    [image] = result.images
    assert (image.width, image.height) == (1024, 1024)
    assert Image.open(io.BytesIO(image.data)).getpixel((0, 0)) == (0, 0, 128)  # navy: the completed event
    assert result.metadata["usage"][0]["total_tokens"] == 4400


def test_openai_stream_error_event_is_a_content_policy_failure(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{OPENAI}/images/generations").respond(
        content=load_text("openai_stream_error.sse").encode(), headers={"content-type": "text/event-stream"}
    )
    progress: list[int] = []

    with pytest.raises(ProviderError) as excinfo:
        OpenAIAdapter(api_key="sk-test").generate(
            make_request(options={"stream": True, "partial_images": 1}),
            on_progress=lambda pct, preview: progress.append(pct),
        )

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY
    assert progress == [50]


def test_openai_stream_without_progress_callback_is_a_plain_call(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{OPENAI}/images/generations").respond(json=load_json("openai_generation.json"))

    OpenAIAdapter(api_key="sk-test").generate(make_request(width=1536, height=1024, options={"stream": True}))

    assert "stream" not in sent_json(route)


# -- OpenAI: errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retry_after", "retryable"),
    [
        (400, "openai_moderation_error.json", {}, ErrorCode.CONTENT_POLICY, None, False),
        (
            401,
            {"error": {"message": "Incorrect API key provided: sk-test.", "code": "invalid_api_key"}},
            {},
            ErrorCode.AUTH,
            None,
            False,
        ),
        (429, "openai_rate_limit_error.json", {"retry-after": "20"}, ErrorCode.RATE_LIMITED, 20.0, True),
        (
            503,
            {"error": {"message": "The server is overloaded.", "code": None}},
            {},
            ErrorCode.UNAVAILABLE,
            None,
            True,
        ),
        (
            500,
            {"error": {"message": "The server had an error.", "code": None}},
            {},
            ErrorCode.UPSTREAM_ERROR,
            None,
            True,
        ),
        (
            409,
            {"error": {"message": "Conflict.", "code": None}},
            {"x-should-retry": "true"},
            ErrorCode.UNAVAILABLE,
            None,
            True,
        ),
        (
            429,
            {"error": {"message": "You exceeded your current quota.", "code": "insufficient_quota"}},
            {"x-should-retry": "false"},
            ErrorCode.PROVIDER_BILLING,
            None,
            False,
        ),
    ],
)
def test_openai_http_errors_map_to_the_taxonomy(
    respx_mock: respx.MockRouter,
    status: int,
    body: str | dict[str, Any],
    headers: dict[str, str],
    code: ErrorCode,
    retry_after: float | None,
    retryable: bool,
) -> None:
    payload = load_json(body) if isinstance(body, str) else body
    respx_mock.post(f"{OPENAI}/images/generations").respond(status, json=payload, headers=headers)

    error = raise_for(OpenAIAdapter(api_key="sk-test"), make_request())

    assert (error.code, error.retry_after, error.retryable, error.status) == (
        code,
        retry_after,
        retryable,
        status,
    )
    assert error.provider == "openai"


def test_openai_moderation_message_is_the_providers(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{OPENAI}/images/generations").respond(
        400, json=load_json("openai_moderation_error.json")
    )

    error = raise_for(OpenAIAdapter(api_key="sk-test"), make_request())

    assert "rejected by the safety system" in error.message


def test_openai_connect_timeout_is_a_timeout(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{OPENAI}/images/generations").mock(side_effect=httpx.ConnectTimeout("slow"))

    error = raise_for(OpenAIAdapter(api_key="sk-test"), make_request())

    assert error.code is ErrorCode.TIMEOUT and error.retryable


def test_openai_redirect_is_not_followed(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{OPENAI}/images/generations").respond(
        307, headers={"location": "https://evil.example/"}
    )

    error = raise_for(OpenAIAdapter(api_key="sk-test"), make_request())

    assert (error.code, error.status) == (ErrorCode.UPSTREAM_ERROR, 307)
    assert "redirect" in error.message  # never re-sent, with the key, to another host


def test_openai_uses_request_timeout_and_configured_base_url(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("https://proxy.internal/openai/v1/images/generations").respond(
        json=load_json("openai_generation.json")
    )

    OpenAIAdapter(api_key="sk-test", base_url="https://proxy.internal/openai/v1/").generate(
        make_request(width=1536, height=1024, timeout=240.0)
    )

    timeout = route.calls[0].request.extensions["timeout"]
    assert timeout["read"] == 240.0
    assert timeout["connect"] == 5.0


# -- xAI ---------------------------------------------------------------------------------
def xai_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "grok-image",
        "remote_model": "grok-imagine-image",
        "prompt": "a neon-lit alley in the rain",
        "aspect_ratio": "16:9",
        "width": 1280,
        "height": 720,
    }
    fields.update(overrides)
    return make_request(**fields)


def test_xai_generation_body_and_moderated_image_becomes_a_refusal(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{XAI}/images/generations").respond(json=load_json("xai_generation.json"))

    result = XAIAdapter(api_key="xai-test").generate(xai_request(count=2, resolution="2K"))

    sent = route.calls[0].request
    assert sent.headers["authorization"] == "Bearer xai-test"
    assert sent_json(route) == {
        "model": "grok-imagine-image",
        "prompt": "a neon-lit alley in the rain",
        "n": 2,
        "response_format": "b64_json",
        "aspect_ratio": "16:9",
        "resolution": "2k",
    }
    [image] = result.images
    assert (image.width, image.height) == (1280, 720)
    assert image.revised_prompt == "A neon-lit alley in the rain, cinematic wide shot."
    assert result.refusals == ("xai: image withheld by moderation",)


def test_xai_all_images_moderated_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{XAI}/images/generations").respond(json=load_json("xai_all_moderated.json"))

    error = raise_for(XAIAdapter(api_key="xai-test"), xai_request())

    assert error.code is ErrorCode.CONTENT_POLICY and not error.retryable


def test_xai_edit_is_json_with_data_uris(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{XAI}/images/edits").respond(json=load_json("xai_generation.json"))
    first, second = reference(color="red"), reference(color="blue")

    XAIAdapter(api_key="xai-test").generate(xai_request(references=(first,)))
    XAIAdapter(api_key="xai-test").generate(xai_request(references=(first, second)))

    single, multi = sent_json(route, 0), sent_json(route, 1)
    assert route.calls[0].request.headers["content-type"] == "application/json"
    expected = "data:image/png;base64," + base64.b64encode(first.data).decode()
    assert single["image"] == {"url": expected, "type": "image_url"}
    assert [item["url"] for item in multi["images"]] == [
        expected,
        "data:image/png;base64," + base64.b64encode(second.data).decode(),
    ]
    assert "image" not in multi


def test_xai_rate_limit(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{XAI}/images/generations").respond(
        429, json={"code": "Too many requests", "error": "Rate limit reached"}, headers={"Retry-After": "20"}
    )

    error = raise_for(XAIAdapter(api_key="xai-test"), xai_request())

    assert (error.code, error.retry_after) == (ErrorCode.RATE_LIMITED, 20.0)


# -- Recraft -----------------------------------------------------------------------------
def recraft_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "recraft-v3",
        "remote_model": "recraftv3",
        "prompt": "a lighthouse poster",
        "aspect_ratio": "16:9",
        "width": 1820,
        "height": 1024,
    }
    fields.update(overrides)
    return make_request(**fields)


def test_recraft_generation_body_splits_style_and_decodes(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{RECRAFT}/images/generations").respond(
        json=load_json("recraft_generation.json")
    )

    result = RecraftAdapter(api_key="rc-test").generate(
        recraft_request(count=2, style="digital_illustration/hand_drawn", negative_prompt="text", seed=7)
    )

    assert route.calls[0].request.headers["authorization"] == "Bearer rc-test"
    assert sent_json(route) == {
        "model": "recraftv3",
        "prompt": "a lighthouse poster",
        "n": 2,
        "response_format": "b64_json",
        "style": "digital_illustration",
        "substyle": "hand_drawn",
        "negative_prompt": "text",
        "random_seed": 7,
        "size": "1820x1024",
    }
    assert [(i.width, i.height, i.mime_type) for i in result.images] == [(1820, 1024, "image/png")] * 2


def test_recraft_vector_model_returns_svg_bytes(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{RECRAFT}/images/generations").respond(json=load_json("recraft_vector.json"))
    svg = load_text("recraft_vector.svg").encode()
    respx_mock.get("https://img.recraft.ai/aBcD1234/vector.svg").respond(
        content=svg, headers={"content-type": "image/svg+xml"}
    )

    result = RecraftAdapter(api_key="rc-test").generate(
        recraft_request(model="recraft-v3-svg", remote_model="recraftv3_vector", width=1024, height=1024)
    )

    assert "response_format" not in sent_json(route)
    [image] = result.images
    assert image.data == svg
    assert (image.mime_type, image.width, image.height) == ("image/svg+xml", 1024, 1024)


def test_recraft_count_above_six_takes_two_calls(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{RECRAFT}/images/generations").respond(
        json=load_json("recraft_generation.json")
    )

    result = RecraftAdapter(api_key="rc-test").generate(recraft_request(count=8))

    assert [sent_json(route, i)["n"] for i in range(route.call_count)] == [6, 2]
    assert len(result.images) == 4  # the fixture answers two per call


def test_recraft_inpaint_sends_image_and_white_means_repaint_mask(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{RECRAFT}/images/inpaint").respond(json=load_json("recraft_generation.json"))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (32, 0, 64, 64))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    source = reference(1820, 1024)

    RecraftAdapter(api_key="rc-test").generate(
        recraft_request(references=(source,), mask=InputImage(buffer.getvalue(), "image/png", 64, 64))
    )

    parts = sent_form(route.calls[0].request)
    assert form_values(parts) == {
        "model": "recraftv3",
        "prompt": "a lighthouse poster",
        "n": "1",
        "response_format": "b64_json",
    }
    [image] = [part for part in parts if part.name == "image"]
    assert image.data == source.data
    [sent_mask] = [part for part in parts if part.name == "mask"]
    gray = Image.open(io.BytesIO(sent_mask.data))
    assert (gray.mode, gray.size) == ("L", (1820, 1024))
    assert gray.getpixel((1800, 500)) == 255 and gray.getpixel((10, 500)) == 0


def test_recraft_edit_without_mask_is_image_to_image(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{RECRAFT}/images/imageToImage").respond(
        json=load_json("recraft_generation.json")
    )

    RecraftAdapter(api_key="rc-test").generate(
        recraft_request(
            references=(reference(1820, 1024),), style="realistic_image", options={"strength": 0.3}
        )
    )

    values = form_values(sent_form(route.calls[0].request))
    assert values["strength"] == "0.3"
    assert values["style"] == "realistic_image"
    assert "substyle" not in values


def test_recraft_plain_text_401_is_auth(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{RECRAFT}/images/generations").respond(
        401, text="request unauthorized", headers={"content-type": "text/plain"}
    )

    error = raise_for(RecraftAdapter(api_key="rc-test"), recraft_request())

    assert error.code is ErrorCode.AUTH
    assert "request unauthorized" in error.message


# -- Ark (Seedream) ----------------------------------------------------------------------
def ark_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "seedream-4.5",
        "remote_model": "seedream-4-5-251128",
        "prompt": "a ceramic teapot on linen",
        "resolution": "2K",
        "width": 2048,
        "height": 2048,
    }
    fields.update(overrides)
    return make_request(**fields)


def test_ark_generation_body_and_one_call_per_image(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{ARK}/images/generations").respond(json=load_json("ark_generation.json"))

    result = ArkAdapter(api_key="ark-test").generate(ark_request(count=2, seed=42))

    assert route.call_count == 2
    assert route.calls[0].request.headers["authorization"] == "Bearer ark-test"
    assert route.calls[0].request.url.path == "/api/v3/images/generations"
    assert sent_json(route) == {
        "model": "seedream-4-5-251128",
        "prompt": "a ceramic teapot on linen",
        "size": "2048x2048",
        "response_format": "b64_json",
        "watermark": False,
        "seed": 42,
    }
    assert [(i.width, i.height) for i in result.images] == [(2048, 2048), (2048, 2048)]
    assert result.metadata["calls"][0]["usage"]["generated_images"] == 1


def test_ark_edit_sends_references_as_data_urls(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{ARK}/images/generations").respond(json=load_json("ark_generation.json"))
    refs = (reference(color="red"), reference(color="green"))

    ArkAdapter(api_key="ark-test").generate(ark_request(references=refs))

    assert sent_json(route)["image"] == [
        "data:image/png;base64," + base64.b64encode(ref.data).decode() for ref in refs
    ]


def test_ark_sensitive_content_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{ARK}/images/generations").respond(400, json=load_json("ark_sensitive_error.json"))

    error = raise_for(ArkAdapter(api_key="ark-test"), ark_request())

    assert error.code is ErrorCode.CONTENT_POLICY and not error.retryable


def test_ark_partial_fan_out_keeps_delivered_images(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{ARK}/images/generations").mock(
        side_effect=[
            httpx.Response(200, json=load_json("ark_generation.json")),
            httpx.Response(400, json=load_json("ark_sensitive_error.json")),
        ]
    )

    result = ArkAdapter(api_key="ark-test").generate(ark_request(count=3))

    assert len(result.images) == 1
    [refusal] = result.refusals
    assert "OutputImageSensitiveContentDetected" in refusal


def test_openai_edit_sends_no_moderation_field_and_no_input_fidelity_on_mini(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{OPENAI}/images/edits").respond(json=load_json("openai_generation.json"))

    OpenAIAdapter(api_key="sk-test").generate(
        make_request(
            remote_model="gpt-image-1-mini",
            references=(reference(),),
            width=1536,
            height=1024,
            options={"moderation": "low", "input_fidelity": "high"},
        )
    )

    names = [part.name for part in sent_form(route.calls[0].request)]
    assert "moderation" not in names and "input_fidelity" not in names


def test_openai_insufficient_quota_is_provider_billing_and_never_retried(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{OPENAI}/images/generations").respond(
        429, json=load_json("openai_insufficient_quota.json"), headers={"x-should-retry": "true"}
    )

    with pytest.raises(ProviderError) as caught:
        OpenAIAdapter(api_key="sk-test").generate(make_request())

    assert caught.value.code is ErrorCode.PROVIDER_BILLING and not caught.value.retryable


def test_a_402_from_any_provider_is_provider_billing(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{RECRAFT}/images/generations").respond(402, json={"message": "Insufficient balance"})

    with pytest.raises(ProviderError) as caught:
        RecraftAdapter(api_key="rc-test").generate(recraft_request())

    assert caught.value.code is ErrorCode.PROVIDER_BILLING and not caught.value.retryable


def test_recraft_vector_models_are_sized_by_aspect_ratio(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{RECRAFT}/images/generations").respond(json=load_json("recraft_vector.json"))
    respx_mock.get("https://img.recraft.ai/aBcD1234/vector.svg").respond(
        content=load_text("recraft_vector.svg").encode(), headers={"content-type": "image/svg+xml"}
    )

    RecraftAdapter(api_key="rc-test").generate(
        recraft_request(model="recraft-v4-svg", remote_model="recraftv4_vector", aspect_ratio="16:9")
    )

    assert sent_json(route)["size"] == "16:9"
