"""Ideogram 3.0: synchronous multipart generate / edit / remix (no network: respx)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from providers.backends.ideogram import IdeogramAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_png

BASE = "https://api.ideogram.ai"
EPHEMERAL = "https://ideogram.ai/api/images/ephemeral"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "ideogram-v3-turbo",
        "remote_model": "ideogram-v3",
        "prompt": "a poster that says HELLO",
        "aspect_ratio": "16:9",
        "width": 1312,
        "height": 736,
        "options": {"rendering_speed": "TURBO"},
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def form_parts(request: httpx.Request) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, data) of every part of a multipart/form-data body, in order."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    return [
        (
            str(part.get_param("name", header="content-disposition")),
            part.get_filename(),
            bytes(part.get_payload(decode=True)),
        )
        for part in message.iter_parts()
    ]


def form_fields(request: httpx.Request) -> dict[str, str]:
    return {name: data.decode() for name, filename, data in form_parts(request) if filename is None}


def answer(*items: dict[str, Any]) -> dict[str, Any]:
    return {"created": "2026-05-01T12:00:00Z", "data": list(items)}


def item(name: str, *, safe: bool = True, seed: int = 1) -> dict[str, Any]:
    return {
        "url": f"{EPHEMERAL}/{name}.png" if safe else "",
        "prompt": "expanded",
        "resolution": "1312x736",
        "is_image_safe": safe,
        "seed": seed,
    }


def test_generate_sends_multipart_fields_and_downloads(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").respond(
        json=answer(item("a", seed=12), item("b"))
    )
    respx_mock.get(f"{EPHEMERAL}/a.png").respond(content=make_png(1312, 736))
    respx_mock.get(f"{EPHEMERAL}/b.png").respond(content=make_png(1312, 736))
    progress: list[int] = []

    result = IdeogramAdapter(api_key="ideo-key").generate(
        make_request(count=2, seed=12, negative_prompt="blur", style="design"),
        on_progress=lambda pct, _preview: progress.append(pct),
    )

    sent = route.calls[0].request
    assert sent.headers["api-key"] == "ideo-key"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert form_fields(sent) == {
        "prompt": "a poster that says HELLO",
        "rendering_speed": "TURBO",
        "style_type": "DESIGN",
        "aspect_ratio": "16x9",
        "negative_prompt": "blur",
        "num_images": "2",
        "seed": "12",
    }
    assert [(i.mime_type, i.width, i.height) for i in result.images] == [("image/png", 1312, 736)] * 2
    assert result.seed == 12
    assert progress == [100]


def test_more_than_eight_images_takes_two_calls_with_distinct_seeds(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").mock(
        side_effect=[
            httpx.Response(200, json=answer(*(item(f"a{i}") for i in range(8)))),
            httpx.Response(200, json=answer(item("b0"), item("b1"))),
        ]
    )
    respx_mock.get(url__startswith=EPHEMERAL).respond(content=make_png(1312, 736))

    result = IdeogramAdapter(api_key="k").generate(make_request(count=10, seed=100))

    sent = [form_fields(call.request) for call in route.calls]
    assert [(f["num_images"], f["seed"]) for f in sent] == [("8", "100"), ("2", "101")]
    assert len(result.images) == 10


def test_edit_inverts_the_mask_to_black_means_edit(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/ideogram-v3/edit").respond(json=answer(item("e")))
    respx_mock.get(f"{EPHEMERAL}/e.png").respond(content=make_png(64, 32))
    source = InputImage(make_png(64, 32, "blue"), "image/png", 64, 32)
    # Studio mask: white (repaint) on the left half, black (keep) on the right, at half size.
    studio_mask = Image.new("L", (32, 16), 0)
    studio_mask.paste(255, (0, 0, 16, 16))
    buffer = io.BytesIO()
    studio_mask.save(buffer, "PNG")

    IdeogramAdapter(api_key="k").generate(
        make_request(references=(source,), mask=InputImage(buffer.getvalue(), "image/png", 32, 16))
    )

    parts = {name: (filename, data) for name, filename, data in form_parts(route.calls[0].request)}
    assert parts["image"] == ("image.png", source.data)
    with Image.open(io.BytesIO(parts["mask"][1])) as sent_mask:
        assert sent_mask.size == (64, 32)
        assert sent_mask.getpixel((5, 5)) == 0  # repaint -> black for Ideogram
        assert sent_mask.getpixel((60, 5)) == 255  # keep -> white
    fields = form_fields(route.calls[0].request)
    assert fields["prompt"] == "a poster that says HELLO"
    assert "aspect_ratio" not in fields


def test_one_reference_without_mask_is_a_remix(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/ideogram-v3/remix").respond(json=answer(item("r")))
    respx_mock.get(f"{EPHEMERAL}/r.png").respond(content=make_png(1312, 736))
    source = InputImage(make_png(16, 16), "image/png", 16, 16)

    IdeogramAdapter(api_key="k").generate(
        make_request(references=(source,), options={"rendering_speed": "TURBO", "image_weight": 70})
    )

    assert form_fields(route.calls[0].request)["image_weight"] == "70"


def test_several_references_are_repeated_style_reference_parts(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").respond(json=answer(item("s")))
    respx_mock.get(f"{EPHEMERAL}/s.png").respond(content=make_png(1312, 736))
    refs = tuple(InputImage(make_png(8, 8, c), "image/png", 8, 8) for c in ("red", "blue"))

    IdeogramAdapter(api_key="k").generate(make_request(references=refs))

    names = [name for name, filename, _ in form_parts(route.calls[0].request) if filename]
    assert names == ["style_reference_images", "style_reference_images"]


def test_unsafe_images_become_refusals(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").respond(json=answer(item("ok"), item("x", safe=False)))
    respx_mock.get(f"{EPHEMERAL}/ok.png").respond(content=make_png(1312, 736))

    result = IdeogramAdapter(api_key="k").generate(make_request(count=2))

    assert len(result.images) == 1
    assert len(result.refusals) == 1


def test_all_unsafe_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").respond(json=answer(item("x", safe=False)))

    with pytest.raises(ProviderError) as excinfo:
        IdeogramAdapter(api_key="k").generate(make_request())

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY


def test_422_safety_error_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").respond(
        422, json={"error": "Prompt provided failed safety check."}
    )

    with pytest.raises(ProviderError) as excinfo:
        IdeogramAdapter(api_key="k").generate(make_request())

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY
    assert not excinfo.value.retryable


def test_400_429_and_503(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").mock(
        side_effect=[
            httpx.Response(400, json={"error": "Invalid aspect ratio"}),
            httpx.Response(429, headers={"Retry-After": "6"}, json={"error": "Too many requests"}),
            httpx.Response(503, text="Service Unavailable"),
        ]
    )
    ideogram = IdeogramAdapter(api_key="k")
    errors = []
    for _ in range(3):
        with pytest.raises(ProviderError) as excinfo:
            ideogram.generate(make_request())
        errors.append(excinfo.value)

    assert errors[0].code is ErrorCode.INVALID_REQUEST
    assert (errors[1].code, errors[1].retry_after) == (ErrorCode.RATE_LIMITED, 6.0)
    assert errors[2].code is ErrorCode.UNAVAILABLE and errors[2].retryable


def test_a_failing_second_call_keeps_the_first_images(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").mock(
        side_effect=[
            httpx.Response(200, json=answer(*(item(f"a{i}") for i in range(8)))),
            httpx.Response(429, json={"error": "Too many requests"}),
        ]
    )
    respx_mock.get(url__startswith=EPHEMERAL).respond(content=make_png(1312, 736))

    result = IdeogramAdapter(api_key="k").generate(make_request(count=9))

    assert len(result.images) == 8
    assert "Too many requests" in result.metadata["failures"][0]


def test_legacy_v2_models_use_the_json_generate_endpoint(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/generate").respond(json=answer(item("v2")))
    respx_mock.get(f"{EPHEMERAL}/v2.png").respond(content=make_png(1312, 736))

    IdeogramAdapter(api_key="k").generate(make_request(remote_model="V_2_TURBO", options={}, seed=3))

    assert json.loads(route.calls[0].request.content) == {
        "image_request": {
            "prompt": "a poster that says HELLO",
            "model": "V_2_TURBO",
            "aspect_ratio": "ASPECT_16_9",
            "num_images": 1,
            "seed": 3,
        }
    }


def test_character_mode_sends_character_reference_images(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/v1/ideogram-v3/generate").respond(json=answer(item("c")))
    respx_mock.get(f"{EPHEMERAL}/c.png").respond(content=make_png(1312, 736))
    face = InputImage(make_png(8, 8), "image/png", 8, 8)

    IdeogramAdapter(api_key="k").generate(
        make_request(
            references=(face,), options={"rendering_speed": "BALANCED", "reference_mode": "character"}
        )
    )

    files = [(name, data) for name, filename, data in form_parts(route.calls[0].request) if filename]
    assert files == [("character_reference_images", face.data)]
