"""Ideogram 3.0: synchronous multipart calls returning temporary URLs (developer.ideogram.ai)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from providers.backends._batches import Batch, images_per_call, run_batches, seed_for
from providers.backends._http import file_part
from providers.backends.base import ProviderAdapter, check_size
from providers.errors import ErrorCode, ProviderError
from providers.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    InputImage,
    ProgressCallback,
)

MAX_IMAGES_PER_CALL = 8
LEGACY_PATH = "/generate"


class IdeogramAdapter(ProviderAdapter):
    family = "ideogram"
    settings_name = "IDEOGRAM"
    default_base_url = "https://api.ideogram.ai"

    def auth_headers(self) -> dict[str, str]:
        return {"Api-Key": self.api_key}

    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        path, files = self._operation(request)
        fields = self._fields(request, path)
        per_call = min(images_per_call(request, MAX_IMAGES_PER_CALL), MAX_IMAGES_PER_CALL)

        def call_one(index: int, n: int) -> Batch:
            call_fields = {**fields, "num_images": str(n)}
            seed = seed_for(request.seed, index)
            if seed is not None:
                call_fields["seed"] = str(seed)
            if path == LEGACY_PATH:
                # The V2-era endpoint takes JSON wrapped in image_request, numbers as numbers.
                body = {k: int(v) if k in ("num_images", "seed") else v for k, v in call_fields.items()}
                kwargs: dict[str, Any] = {"json": {"image_request": body}}
            else:
                parts = [(name, (None, value)) for name, value in call_fields.items()] + files
                kwargs = {"files": parts}
            data = self.request("POST", self.url(path), timeout=request.timeout, **kwargs).json()
            return self._batch(request, data)

        return run_batches(self, request, call_one, per_call=per_call, on_progress=on_progress)

    def _batch(self, request: GenerationRequest, data: dict[str, Any]) -> Batch:
        images: list[GeneratedImage] = []
        refusals: list[str] = []
        for item in data.get("data") or ():
            # A withheld image comes back with is_image_safe false and an empty url.
            if item.get("is_image_safe") is False or not item.get("url"):
                refusals.append("the image failed Ideogram's safety check")
                continue
            image = self.download(item["url"])
            check_size(request, image, family=self.family)
            images.append(image)
        seeds = [item["seed"] for item in data.get("data") or () if item.get("seed") is not None]
        return Batch(tuple(images), tuple(refusals), int(seeds[0]) if seeds else None)

    def _operation(self, request: GenerationRequest) -> tuple[str, list[tuple[str, Any]]]:
        """Pick the endpoint from the model and what was attached; return it with its file parts."""
        refs = request.references
        if request.remote_model.startswith("V_"):
            # Ideogram 2.x (V_2, V_2_TURBO, V_2A…) lives only on the legacy /generate.
            if refs or request.mask is not None:
                raise ProviderError(
                    ErrorCode.INVALID_REQUEST,
                    f"ideogram: {request.remote_model} only generates from text",
                    provider=self.family,
                )
            return LEGACY_PATH, []
        if request.mask is not None:
            if not refs:
                raise ProviderError(
                    ErrorCode.INVALID_REQUEST,
                    "ideogram: a mask needs the image it applies to",
                    provider=self.family,
                )
            return "/v1/ideogram-v3/edit", [
                ("image", file_part("image", refs[0])),
                ("mask", ("mask.png", ideogram_mask(request.mask, refs[0]), "image/png")),
            ]
        if refs and request.options.get("reference_mode") == "character":
            # A character reference keeps one person across new scenes (billed as such).
            return "/v1/ideogram-v3/generate", [
                ("character_reference_images", file_part(f"character_{i}", ref)) for i, ref in enumerate(refs)
            ]
        if len(refs) == 1:
            return "/v1/ideogram-v3/remix", [("image", file_part("image", refs[0]))]
        # Several references guide the style of a new image; the field repeats per file.
        return "/v1/ideogram-v3/generate", [
            ("style_reference_images", file_part(f"style_{i}", ref)) for i, ref in enumerate(refs)
        ]

    def _fields(self, request: GenerationRequest, path: str) -> dict[str, str]:
        fields = {"prompt": request.prompt}
        if path == LEGACY_PATH:
            fields["model"] = request.remote_model
            # Legacy ratios are enum names: "16:9" -> "ASPECT_16_9".
            fields["aspect_ratio"] = "ASPECT_" + request.aspect_ratio.replace(":", "_")
            if request.options.get("magic_prompt"):
                fields["magic_prompt_option"] = str(request.options["magic_prompt"])
            if request.style:
                fields["style_type"] = request.style.upper()
            if request.negative_prompt:
                fields["negative_prompt"] = request.negative_prompt
            return fields
        # The catalogue fixes the speed per model (TURBO / DEFAULT / QUALITY variants).
        if request.options.get("rendering_speed"):
            fields["rendering_speed"] = str(request.options["rendering_speed"])
        if request.options.get("magic_prompt"):
            fields["magic_prompt"] = str(request.options["magic_prompt"])
        if request.style:
            fields["style_type"] = request.style.upper()
        if path.endswith("/edit"):
            # An inpaint keeps the source's size and has no negative prompt.
            return fields
        # Ideogram writes ratios with an "x": "16x9", not "16:9".
        fields["aspect_ratio"] = request.aspect_ratio.replace(":", "x")
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if path.endswith("/remix") and "image_weight" in request.options:
            fields["image_weight"] = str(int(request.options["image_weight"]))
        return fields


def ideogram_mask(mask: InputImage, source: InputImage) -> bytes:
    """Studio masks are white where to repaint; Ideogram repaints black (its edit API reference).

    Ideogram also wants a pure black-and-white mask of the source's exact size.
    """
    with Image.open(io.BytesIO(source.data)) as img:
        size = img.size
    with Image.open(io.BytesIO(mask.data)) as img:
        gray = img.convert("L")
    if gray.size != size:
        gray = gray.resize(size, Image.Resampling.NEAREST)
    inverted = gray.point(lambda value: 0 if value >= 128 else 255)
    out = io.BytesIO()
    inverted.save(out, format="PNG")
    return out.getvalue()
