"""OpenAI's Images API: GPT image models and DALL·E, streamed partial images, alpha masks."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Generator, Iterable
from typing import Any, ClassVar

import httpx
from PIL import Image, ImageOps

from providers.backends._http import form_fields, without_none
from providers.backends._images import form_file, image_size, png_bytes, repaint_area
from providers.backends.base import CONNECT_TIMEOUT, check_size, decode_b64_image, extract_error_message
from providers.backends.openai_compat import ImagesAPIAdapter
from providers.errors import RETRYABLE, ErrorCode, ProviderError
from providers.types import GeneratedImage, GenerationRequest, GenerationResult, InputImage, ProgressCallback


def mask_to_alpha_png(mask: InputImage, size: tuple[int, int]) -> bytes:
    """OpenAI's mask: an RGBA PNG whose fully transparent pixels are repainted (§1.2)."""
    rgba = Image.new("RGBA", size, (0, 0, 0, 255))
    rgba.putalpha(ImageOps.invert(repaint_area(mask, size)))
    return png_bytes(rgba)


class OpenAIAdapter(ImagesAPIAdapter):
    family = "openai"
    settings_name = "OPENAI"
    default_base_url = "https://api.openai.com/v1"
    supports_streaming = True
    max_images_per_call = 10
    moderation_codes = frozenset({"moderation_blocked", "content_policy_violation"})

    # Passed through from request.options when set (providers.md §1.1/§1.2).
    GPT_OPTIONS: ClassVar[tuple[str, ...]] = ("background", "output_compression", "moderation", "user")

    @staticmethod
    def is_dalle(request: GenerationRequest) -> bool:
        return request.remote_model.startswith("dall-e")

    def images_per_call(self, request: GenerationRequest) -> int:
        return 1 if request.remote_model.startswith("dall-e-3") else self.max_images_per_call

    def wants_stream(self, request: GenerationRequest) -> bool:
        # Streaming exists for GPT image models only.
        return bool(request.options.get("stream")) and not self.is_dalle(request)

    def common_fields(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        fields: dict[str, Any] = {
            # Always explicit: without it generations default to dall-e-2 (providers.md §1).
            "model": request.remote_model,
            "prompt": request.prompt,
            "n": n,
            "size": f"{request.width}x{request.height}",
            "quality": request.quality or request.options.get("quality"),
        }
        if self.is_dalle(request):
            # GPT image models always answer base64 and reject response_format.
            fields["response_format"] = "b64_json"
            fields["user"] = request.options.get("user")
        else:
            fields["output_format"] = "jpeg" if request.output_format == "jpg" else request.output_format
            for key in self.GPT_OPTIONS:
                fields[key] = request.options.get(key)
        return fields

    def stream_fields(self, request: GenerationRequest) -> dict[str, Any]:
        return {"stream": True, "partial_images": request.options.get("partial_images")}

    def generation_body(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        body = self.common_fields(request, n)
        if request.remote_model.startswith("dall-e-3") and request.style in ("vivid", "natural"):
            body["style"] = request.style
        return without_none(body)

    def generate_batch(
        self, request: GenerationRequest, n: int, on_progress: ProgressCallback | None
    ) -> GenerationResult:
        if on_progress is None or not self.wants_stream(request):
            return super().generate_batch(request, n, on_progress)
        if request.is_edit:
            fields, files = self.edit_form(request, n)
            events = self.stream_events(
                "images/edits",
                request,
                data=form_fields({**fields, **self.stream_fields(request)}),
                files=files,
            )
        else:
            body = without_none({**self.generation_body(request, n), **self.stream_fields(request)})
            events = self.stream_events("images/generations", request, json=body)
        # Closing the generator releases the connection even when an event raises.
        with contextlib.closing(events):
            return self.collect_stream(request, events, on_progress)

    def edit_batch(self, request: GenerationRequest, n: int) -> GenerationResult:
        fields, files = self.edit_form(request, n)
        return self.parse_images(request, self.post_form("images/edits", fields, files, request))

    def edit_form(
        self, request: GenerationRequest, n: int
    ) -> tuple[dict[str, Any], list[tuple[str, tuple[str, bytes, str]]]]:
        if request.remote_model.startswith("dall-e-3"):
            raise ProviderError(
                ErrorCode.INVALID_REQUEST, "openai: dall-e-3 cannot edit images", provider=self.family
            )
        fields = self.common_fields(request, n)
        # `moderation` is a generations field only (the SDK's ImageEditParams has none).
        fields.pop("moderation", None)
        # input_fidelity is not supported on gpt-image-1-mini (OpenAI image guide).
        if "mini" not in request.remote_model:
            fields["input_fidelity"] = request.options.get("input_fidelity")
        # The SDK sends a list of files as repeated `image[]` parts; one file stays `image`.
        name = "image[]" if len(request.references) > 1 else "image"
        files = [form_file(name, image, f"image-{i}") for i, image in enumerate(request.references)]
        if request.mask is not None:
            # OpenAI repaints alpha-0 pixels, and the mask must match the first image's size.
            png = mask_to_alpha_png(request.mask, image_size(request.references[0]))
            files.append(("mask", ("mask.png", png, "image/png")))
        return fields, files

    # -- streaming ------------------------------------------------------------------
    def stream_events(
        self, path: str, request: GenerationRequest, **kwargs: Any
    ) -> Generator[dict[str, Any], None, None]:
        """POST and yield each server-sent event's JSON `data` as it arrives."""
        headers = {**self.auth_headers(), "Accept": "text/event-stream"}
        try:
            with self.transport_errors(), self.client().stream(
                "POST",
                self.url(path),
                headers=headers,
                timeout=httpx.Timeout(request.timeout, connect=CONNECT_TIMEOUT),
                follow_redirects=False,
                **kwargs,
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self.error_from_response(response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A proxy that ignores `stream` answers with the plain JSON body.
                    response.read()
                    yield {"type": "json", "payload": self.json_body(response)}
                    return
                data_lines: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        data_lines.append(line[5:].strip())
                    elif not line and data_lines:
                        data = "\n".join(data_lines)
                        data_lines = []
                        if data == "[DONE]":
                            return
                        yield json.loads(data)
                if data_lines and data_lines != ["[DONE]"]:
                    yield json.loads("\n".join(data_lines))
        except json.JSONDecodeError as exc:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, f"{self.family}: malformed stream event", provider=self.family
            ) from exc

    def collect_stream(
        self,
        request: GenerationRequest,
        events: Iterable[dict[str, Any]],
        on_progress: ProgressCallback,
    ) -> GenerationResult:
        partials = int(request.options.get("partial_images") or 0)
        images: list[GeneratedImage] = []
        metadata: dict[str, Any] = {}
        for event in events:
            kind = str(event.get("type", ""))
            if event.get("error"):
                # Errors can arrive mid-stream inside a 200 (providers.md §1.4).
                error = event["error"]
                code = str(error.get("code", "")) if isinstance(error, dict) else ""
                raise ProviderError(
                    ErrorCode.CONTENT_POLICY if self.is_moderation_code(code) else ErrorCode.UPSTREAM_ERROR,
                    f"{self.family}: {extract_error_message(event) or 'stream failed'}",
                    status=200,
                    provider=self.family,
                )
            if kind == "json":
                return self.parse_images(request, event["payload"])
            if kind.endswith(".partial_image"):
                index = int(event.get("partial_image_index", 0))
                preview = base64.b64decode(event.get("b64_json", ""))
                on_progress(min((index + 1) * 100 // (max(partials, index + 1) + 1), 99), preview)
            elif kind.endswith(".completed"):
                image = decode_b64_image(event.get("b64_json", ""), provider=self.family)
                check_size(request, image, family=self.family)
                images.append(image)
                if event.get("usage") is not None:
                    metadata.setdefault("usage", []).append(event["usage"])
        if not images:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                f"{self.family}: the stream ended without a completed image",
                status=200,
                provider=self.family,
            )
        return GenerationResult(images=tuple(images), metadata=metadata)

    # -- errors ---------------------------------------------------------------------
    def error_from_response(self, response: httpx.Response) -> ProviderError:
        error = super().error_from_response(response)
        if error.code is ErrorCode.PROVIDER_BILLING:
            return error  # no header makes an empty account worth retrying
        should_retry = response.headers.get("x-should-retry", "").lower()
        # The SDK obeys `x-should-retry` before looking at the status (providers.md §1.5).
        if should_retry == "true" and not error.retryable:
            error.code = ErrorCode.UNAVAILABLE
        elif should_retry == "false" and error.code in RETRYABLE:
            # e.g. a 429 for an exhausted quota: waiting will not help.
            error.code = ErrorCode.INVALID_REQUEST
        return error
