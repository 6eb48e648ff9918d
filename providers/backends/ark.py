"""BytePlus ModelArk (Seedream) on the Images protocol: one image per call, data-URL references."""

from __future__ import annotations

from typing import Any, ClassVar

from providers.backends._http import data_uri, without_none
from providers.backends.openai_compat import ImagesAPIAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, GenerationResult


class ArkAdapter(ImagesAPIAdapter):
    family = "ark"
    settings_name = "ARK"
    default_base_url = "https://ark.ap-southeast.bytepluses.com/api/v3"
    # Seedream takes no `n` outside sequential mode, which draws a related set: one image per call.
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
        urls = [data_uri(image) for image in request.references]
        # Same endpoint; references ride along as data URLs.
        body["image"] = urls[0] if len(urls) == 1 else urls
        return self.parse_images(request, self.post_json("images/generations", body, request))

    def is_moderation_code(self, code: str) -> bool:
        # Input{Text,Image}SensitiveContentDetected, OutputImageSensitiveContentDetected (§11.2).
        return code.endswith("SensitiveContentDetected")
