"""Stability AI v2beta Stable Image: synchronous multipart, raw image bytes back
(platform.stability.ai API reference)."""

from __future__ import annotations

from typing import Any

import httpx

from providers.backends._batches import Batch, run_batches, seed_for
from providers.backends._http import file_part
from providers.backends.base import ProviderAdapter, check_size, measured_image
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, GenerationResult, ProgressCallback

MAX_SEED = 4_294_967_294
OUTPUT_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}
# Stability needs a strength with an image-to-image call; half keeps the source's
# composition while still following the prompt.
DEFAULT_STRENGTH = 0.5


class StabilityAdapter(ProviderAdapter):
    family = "stability"
    settings_name = "STABILITY"
    default_base_url = "https://api.stability.ai"

    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        path, fields, files = stability_call(request)

        def call_one(index: int, _n: int) -> Batch:
            call_fields = dict(fields)
            seed = seed_for(request.seed, index, limit=MAX_SEED)
            if seed is not None:
                call_fields["seed"] = str(seed)
            # The v2beta endpoints take only multipart, even with no file: (None, value) parts.
            parts = [(name, (None, value)) for name, value in call_fields.items()] + files
            # Accept image/* returns the bytes themselves, metadata in headers: no base64.
            response = self.request(
                "POST", self.url(path), files=parts, headers={"Accept": "image/*"}, timeout=request.timeout
            )
            seed_header = response.headers.get("seed")
            returned_seed = int(seed_header) if seed_header and seed_header.isdigit() else None
            # CONTENT_FILTERED is a 200 carrying a blurred image: never deliver it.
            if response.headers.get("finish-reason", "SUCCESS").upper() == "CONTENT_FILTERED":
                return Batch(refusals=("the image was filtered by Stability's content moderation",))
            image = measured_image(response.content, provider=self.family)
            check_size(request, image, family=self.family)
            return Batch(images=(image,), seed=returned_seed)

        # Stable Image returns one image per call and has no count field: fan out.
        return run_batches(self, request, call_one, per_call=1, on_progress=on_progress)

    def error_message(self, response: httpx.Response) -> str:
        name, errors = stability_error(response)
        if errors:
            return f"{name}: {'; '.join(errors)}" if name else "; ".join(errors)
        return name or super().error_message(response)

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        error = super().error_from_response(response)
        # A refused prompt or image is a 403 named content_moderation, not an auth failure.
        if stability_error(response)[0] == "content_moderation":
            error.code = ErrorCode.CONTENT_POLICY
        return error


def stability_error(response: httpx.Response) -> tuple[str, list[str]]:
    """Stability errors are `{"id", "name", "errors": [...]}`."""
    try:
        body = response.json()
    except ValueError:
        return "", []
    if not isinstance(body, dict):
        return "", []
    return str(body.get("name") or ""), [str(e) for e in body.get("errors") or ()]


def stability_call(request: GenerationRequest) -> tuple[str, dict[str, str], list[tuple[str, Any]]]:
    """Endpoint, form fields and files for a request; remote_model is ultra, core or sd3*."""
    model = request.remote_model
    fields: dict[str, str] = {"prompt": request.prompt}
    if request.negative_prompt:
        fields["negative_prompt"] = request.negative_prompt
    if request.output_format in OUTPUT_FORMATS:
        fields["output_format"] = OUTPUT_FORMATS[request.output_format]
    refs = request.references

    if request.mask is not None:
        if not refs:
            raise ProviderError(
                ErrorCode.INVALID_REQUEST,
                "stability: a mask needs the image it applies to",
                provider="stability",
            )
        # Stability inpaints where the mask is white: the studio's own convention.
        if "grow_mask" in request.options:
            fields["grow_mask"] = str(int(request.options["grow_mask"]))
        return (
            "/v2beta/stable-image/edit/inpaint",
            fields,
            [
                ("image", file_part("image", refs[0])),
                ("mask", file_part("mask", request.mask)),
            ],
        )

    if model in ("ultra", "core"):
        path = f"/v2beta/stable-image/generate/{model}"
        if request.style:
            fields["style_preset"] = request.style
    elif model.startswith("sd3"):
        path = "/v2beta/stable-image/generate/sd3"
        if model != "sd3":
            fields["model"] = model
    else:
        raise ProviderError(
            ErrorCode.INVALID_REQUEST, f"stability: unknown model route {model!r}", provider="stability"
        )

    if not refs:
        fields["aspect_ratio"] = request.aspect_ratio
        return path, fields, []
    if model == "core":
        raise ProviderError(
            ErrorCode.INVALID_REQUEST, "stability: core does not take a source image", provider="stability"
        )
    # Image-to-image keeps the source's shape: no aspect_ratio.
    fields["strength"] = str(float(request.options.get("strength", DEFAULT_STRENGTH)))
    if path.endswith("/sd3"):
        fields["mode"] = "image-to-image"
    return path, fields, [("image", file_part("image", refs[0]))]
