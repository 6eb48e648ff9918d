"""Recraft on the Images protocol: its own size table, styles, vector output, inpainting."""

from __future__ import annotations

from typing import Any

from providers.backends._http import without_none
from providers.backends._images import form_file, image_size, png_bytes, repaint_area
from providers.backends.openai_compat import ImagesAPIAdapter
from providers.types import GenerationRequest, GenerationResult


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
        # Raster models take `WxH` from Recraft's own size table, which the catalogue copies;
        # the vector models are sized by aspect ratio ("16:9"), an SVG having no pixels.
        body["size"] = request.aspect_ratio if self.is_vector(request) else f"{request.width}x{request.height}"
        if request.options.get("controls"):
            body["controls"] = request.options["controls"]
        return body

    def edit_batch(self, request: GenerationRequest, n: int) -> GenerationResult:
        source = request.references[0]
        fields = self.common_fields(request, n)
        files = [form_file("image", source, "image")]
        if request.mask is not None:
            # Recraft's inpaint mask has the studio's polarity: white is repainted.
            png = png_bytes(repaint_area(request.mask, image_size(source)))
            files.append(("mask", ("mask.png", png, "image/png")))
            path = "images/inpaint"
        else:
            fields["strength"] = request.options.get("strength", 0.5)
            path = "images/imageToImage"
        return self.parse_images(request, self.post_form(path, fields, files, request))
