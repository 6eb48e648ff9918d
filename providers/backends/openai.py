"""The OpenAI Images protocol family: OpenAI itself, xAI, Recraft and BytePlus ModelArk (Seedream).

All four answer `POST {base}/images/generations` with `{"data": [{"b64_json" | "url", ...}]}`
(providers.md §0, "protocol families"); they differ in extra fields, size vocabulary, how
edits are sent and how moderation shows up, which the subclasses override.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, ClassVar

import httpx
from PIL import Image, ImageOps

from providers.backends.base import (
    CONNECT_TIMEOUT,
    ProviderAdapter,
    check_size,
    decode_b64_image,
    extract_error_message,
)
from providers.errors import RETRYABLE, ErrorCode, ProviderError
from providers.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    InputImage,
    ProgressCallback,
)

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


# -- helpers shared by the synchronous adapters (gemini.py uses them too) ---------------
def fan_out(
    request: GenerationRequest,
    per_call: int,
    call: Callable[[int], GenerationResult],
    *,
    on_progress: ProgressCallback | None = None,
) -> GenerationResult:
    """Make `request.count` images with as many calls as the provider's per-call limit needs.

    A failure after some images arrived does not throw those paid images away: the result
    carries what was delivered, with the failure in `refusals` (moderation) or
    `metadata["errors"]`, and the job layer charges only for what came back.
    """
    results: list[GenerationResult] = []
    refusals: list[str] = []
    errors: list[str] = []
    requested = 0
    while requested < request.count:
        n = min(per_call, request.count - requested)
        try:
            result = call(n)
        except ProviderError as exc:
            if not results:
                raise
            (refusals if exc.code is ErrorCode.CONTENT_POLICY else errors).append(exc.message)
            break
        # Counted as asked, not as delivered: images a provider filtered out of a batch
        # are refusals, and asking again would only be refused again.
        requested += n
        results.append(result)
        refusals.extend(result.refusals)
        if on_progress is not None and requested < request.count:
            on_progress(requested * 100 // request.count, None)
    first = results[0]
    metadata: dict[str, Any] = (
        dict(first.metadata) if len(results) == 1 else {"calls": [dict(r.metadata) for r in results]}
    )
    if errors:
        metadata["errors"] = errors
    return GenerationResult(
        images=tuple(image for result in results for image in result.images)[: request.count],
        text="\n".join(dict.fromkeys(r.text for r in results if r.text)),
        # The model turn of the first call: a thread can only continue from one turn.
        parts=first.parts,
        seed=first.seed,
        refusals=tuple(refusals),
        metadata=metadata,
    )


def data_url(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def file_part(name: str, image: InputImage, stem: str) -> tuple[str, tuple[str, bytes, str]]:
    extension = _EXTENSIONS.get(image.mime_type, "png")
    return name, (f"{stem}.{extension}", image.data, image.mime_type)


def image_size(image: InputImage) -> tuple[int, int]:
    if image.width and image.height:
        return image.width, image.height
    with Image.open(io.BytesIO(image.data)) as img:
        return img.size


def repaint_area(mask: InputImage, size: tuple[int, int]) -> Image.Image:
    """The studio mask (white = repaint) as a strict 0/255 "L" image at the source's size."""
    with Image.open(io.BytesIO(mask.data)) as img:
        gray = img.convert("L").resize(size, Image.Resampling.NEAREST)
    return gray.point(lambda value: 255 if value >= 128 else 0)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def mask_to_alpha_png(mask: InputImage, size: tuple[int, int]) -> bytes:
    """OpenAI's mask: an RGBA PNG whose fully transparent pixels are repainted (§1.2)."""
    rgba = Image.new("RGBA", size, (0, 0, 0, 255))
    rgba.putalpha(ImageOps.invert(repaint_area(mask, size)))
    return png_bytes(rgba)


def refuse_redirect(response: httpx.Response, family: str) -> None:
    """Redirects are never followed (the key would travel along): treat one as a broken answer."""
    if response.is_redirect:
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR,
            f"{family}: unexpected redirect (HTTP {response.status_code}), not followed",
            status=response.status_code,
            provider=family,
        )


def form_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """Multipart form values are strings; drop the unset ones."""
    return {
        key: (str(value).lower() if isinstance(value, bool) else str(value))
        for key, value in fields.items()
        if value is not None
    }


def without_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


# -- the protocol --------------------------------------------------------------------
class ImagesAPIAdapter(ProviderAdapter):
    """`/images/generations`-shaped providers. Subclasses say what goes in and how edits go."""

    max_images_per_call: ClassVar[int] = 1
    # `error.code` values that mean the provider's moderation refused the request.
    moderation_codes: ClassVar[frozenset[str]] = frozenset()

    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        return fan_out(
            request,
            self.images_per_call(request),
            lambda n: self.generate_batch(request, n, on_progress),
            on_progress=on_progress,
        )

    def images_per_call(self, request: GenerationRequest) -> int:
        return self.max_images_per_call

    def generate_batch(
        self, request: GenerationRequest, n: int, on_progress: ProgressCallback | None
    ) -> GenerationResult:
        if request.is_edit:
            return self.edit_batch(request, n)
        payload = self.post_json("images/generations", self.generation_body(request, n), request)
        return self.parse_images(request, payload)

    @abstractmethod
    def generation_body(self, request: GenerationRequest, n: int) -> dict[str, Any]: ...

    @abstractmethod
    def edit_batch(self, request: GenerationRequest, n: int) -> GenerationResult: ...

    # -- HTTP ---------------------------------------------------------------------
    def post_json(self, path: str, body: Mapping[str, Any], request: GenerationRequest) -> Any:
        response = self.request(
            "POST", self.url(path), timeout=request.timeout, json=body, follow_redirects=False
        )
        return self.json_body(response)

    def post_form(
        self,
        path: str,
        fields: Mapping[str, Any],
        files: list[tuple[str, tuple[str, bytes, str]]],
        request: GenerationRequest,
    ) -> Any:
        response = self.request(
            "POST",
            self.url(path),
            timeout=request.timeout,
            data=form_fields(fields),
            files=files,
            follow_redirects=False,
        )
        return self.json_body(response)

    def json_body(self, response: httpx.Response) -> Any:
        refuse_redirect(response, self.family)
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                f"{self.family}: answer is not JSON",
                status=response.status_code,
                provider=self.family,
            ) from exc

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        error = super().error_from_response(response)
        if self.is_moderation_code(self.error_code(response)):
            error.code = ErrorCode.CONTENT_POLICY
        return error

    def is_moderation_code(self, code: str) -> bool:
        return code in self.moderation_codes

    def error_code(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("code") or "")
        return str(body.get("code") or "") if isinstance(body, dict) else ""

    # -- answers ------------------------------------------------------------------
    def parse_images(self, request: GenerationRequest, payload: Any) -> GenerationResult:
        items = payload.get("data") if isinstance(payload, dict) else None
        images: list[GeneratedImage] = []
        refusals: list[str] = []
        for item in items or []:
            refusal = self.item_refusal(item)
            if refusal:
                refusals.append(refusal)
                continue
            image = self.item_image(item)
            check_size(request, image, family=self.family)
            images.append(image)
        if not images:
            if refusals:
                raise ProviderError(
                    ErrorCode.CONTENT_POLICY, "; ".join(refusals), status=200, provider=self.family
                )
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                f"{self.family}: the answer held no image",
                status=200,
                provider=self.family,
            )
        revised = [image.revised_prompt for image in images if image.revised_prompt]
        return GenerationResult(
            images=tuple(images),
            text="\n".join(dict.fromkeys(revised)),
            refusals=tuple(refusals),
            metadata=self.answer_metadata(payload),
        )

    def item_refusal(self, item: Mapping[str, Any]) -> str:
        """Why one entry of `data` carries no image, or "" when it has one."""
        error = item.get("error")
        if error:
            return f"{self.family}: {extract_error_message({'error': error}) or 'image failed'}"
        return ""

    def item_image(self, item: Mapping[str, Any]) -> GeneratedImage:
        revised = item.get("revised_prompt") or None
        if item.get("b64_json"):
            return decode_b64_image(item["b64_json"], provider=self.family, revised_prompt=revised)
        if item.get("url"):
            # Result URLs expire (60 min to 24 h, providers.md §13.1): fetch now, store ours.
            image = self.download(item["url"])
            return GeneratedImage(image.data, image.mime_type, image.width, image.height, revised)
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR,
            f"{self.family}: an image entry had neither b64_json nor url",
            provider=self.family,
        )

    def answer_metadata(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return {key: payload[key] for key in ("created", "usage", "credits") if payload.get(key) is not None}


# -- OpenAI ----------------------------------------------------------------------------
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
        fields["input_fidelity"] = request.options.get("input_fidelity")
        # The SDK sends a list of files as repeated `image[]` parts; one file stays `image`.
        name = "image[]" if len(request.references) > 1 else "image"
        files = [file_part(name, image, f"image-{i}") for i, image in enumerate(request.references)]
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
        should_retry = response.headers.get("x-should-retry", "").lower()
        # The SDK obeys `x-should-retry` before looking at the status (providers.md §1.5).
        if should_retry == "true" and not error.retryable:
            error.code = ErrorCode.UNAVAILABLE
        elif should_retry == "false" and error.code in RETRYABLE:
            # e.g. a 429 for an exhausted quota: waiting will not help.
            error.code = ErrorCode.INVALID_REQUEST
        return error


# -- xAI (Grok Imagine) -------------------------------------------------------------------
class XAIAdapter(ImagesAPIAdapter):
    family = "xai"
    settings_name = "XAI"
    default_base_url = "https://api.x.ai/v1"
    max_images_per_call = 10
    max_references: ClassVar[int] = 3

    # providers.md §8 (SDK list); `size` is not accepted at all.
    ASPECT_RATIOS: ClassVar[frozenset[str]] = frozenset(
        {"1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:19.5", "19.5:9", "9:20", "20:9", "1:2", "2:1"}
    )

    def common_fields(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        return without_none(
            {
                "model": request.remote_model,
                "prompt": request.prompt,
                "n": n,
                "response_format": "b64_json",
                "aspect_ratio": request.aspect_ratio if request.aspect_ratio in self.ASPECT_RATIOS else None,
                # xAI spells resolutions in lower case: "1k", "2k".
                "resolution": request.resolution.lower() if request.resolution in ("1K", "2K") else None,
                "quality": request.quality,
                "user": request.options.get("user"),
            }
        )

    def generation_body(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        return self.common_fields(request, n)

    def edit_batch(self, request: GenerationRequest, n: int) -> GenerationResult:
        if len(request.references) > self.max_references:
            raise ProviderError(
                ErrorCode.INVALID_REQUEST,
                f"xai: at most {self.max_references} reference images",
                provider=self.family,
            )
        body = self.common_fields(request, n)
        # xAI edits are JSON with data URIs, not multipart (providers.md §8).
        sources = [{"url": data_url(image), "type": "image_url"} for image in request.references]
        if len(sources) == 1:
            body["image"] = sources[0]
        else:
            body["images"] = sources
        return self.parse_images(request, self.post_json("images/edits", body, request))

    def item_refusal(self, item: Mapping[str, Any]) -> str:
        # `respect_moderation: false` = the image was withheld by moderation (providers.md §8).
        if item.get("respect_moderation") is False:
            return "xai: image withheld by moderation"
        return super().item_refusal(item)


# -- Recraft ---------------------------------------------------------------------------
class RecraftAdapter(ImagesAPIAdapter):
    family = "recraft"
    settings_name = "RECRAFT"
    default_base_url = "https://external.api.recraft.ai/v1"
    max_images_per_call = 6

    @staticmethod
    def is_vector(request: GenerationRequest) -> bool:
        return request.remote_model.endswith("_vector")

    def common_fields(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        style, _, substyle = (request.style or "").partition("/")
        return without_none(
            {
                "model": request.remote_model,
                "prompt": request.prompt,
                "n": n,
                # Vector models answer with an SVG file; ask for its URL rather than trust
                # base64 to carry SVG, which the docs do not show.
                "response_format": None if self.is_vector(request) else "b64_json",
                # Only V2/V3 take style and substyle; the catalogue offers style only there.
                "style": style or None,
                "substyle": substyle or None,
                "negative_prompt": request.negative_prompt,
                "random_seed": request.seed,
            }
        )

    def generation_body(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        body = self.common_fields(request, n)
        # Recraft takes `WxH` from its own size table, which the catalogue copies.
        body["size"] = f"{request.width}x{request.height}"
        if request.options.get("controls"):
            body["controls"] = request.options["controls"]
        return body

    def edit_batch(self, request: GenerationRequest, n: int) -> GenerationResult:
        source = request.references[0]
        fields = self.common_fields(request, n)
        files = [file_part("image", source, "image")]
        if request.mask is not None:
            # Recraft's inpaint mask has the studio's polarity: white is repainted.
            png = png_bytes(repaint_area(request.mask, image_size(source)))
            files.append(("mask", ("mask.png", png, "image/png")))
            path = "images/inpaint"
        else:
            fields["strength"] = request.options.get("strength", 0.5)
            path = "images/imageToImage"
        return self.parse_images(request, self.post_form(path, fields, files, request))


# -- BytePlus ModelArk (Seedream) ----------------------------------------------------------
class ArkAdapter(ImagesAPIAdapter):
    family = "ark"
    settings_name = "ARK"
    default_base_url = "https://ark.ap-southeast.bytepluses.com/api/v3"
    # No `n` outside sequential mode: one image per call (providers.md §11.2).
    max_images_per_call = 1
    max_references: ClassVar[int] = 14

    def generation_body(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        return without_none(
            {
                "model": request.remote_model,
                "prompt": request.prompt,
                # Pixels keep the catalogue's aspect ratio; a bare "2K" level would not.
                "size": f"{request.width}x{request.height}"
                if request.width and request.height
                else request.resolution,
                "response_format": "b64_json",
                "watermark": False,
                # Seedream 4+ has no seed; the catalogue offers it only where it exists.
                "seed": request.seed,
            }
        )

    def edit_batch(self, request: GenerationRequest, n: int) -> GenerationResult:
        if len(request.references) > self.max_references:
            raise ProviderError(
                ErrorCode.INVALID_REQUEST,
                f"ark: at most {self.max_references} reference images",
                provider=self.family,
            )
        body = self.generation_body(request, n)
        urls = [data_url(image) for image in request.references]
        # Same endpoint; references ride along as data URLs.
        body["image"] = urls[0] if len(urls) == 1 else urls
        return self.parse_images(request, self.post_json("images/generations", body, request))

    def is_moderation_code(self, code: str) -> bool:
        # Input{Text,Image}SensitiveContentDetected, OutputImageSensitiveContentDetected (§11.2).
        return code.endswith("SensitiveContentDetected")
