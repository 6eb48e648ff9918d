"""xAI (Grok Imagine) on the Images protocol: aspect ratios instead of sizes, JSON edits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from providers.backends._http import data_uri, without_none
from providers.backends.openai_compat import ImagesAPIAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, GenerationResult


class XAIAdapter(ImagesAPIAdapter):
    family = "xai"
    settings_name = "XAI"
    default_base_url = "https://api.x.ai/v1"
    max_images_per_call = 10
    max_references: ClassVar[int] = 3

    # The aspect ratios xai-sdk lists; `size` is not accepted at all.
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
        # xAI edits are JSON with data URIs, not multipart like OpenAI's edits endpoint.
        sources = [{"url": data_uri(image), "type": "image_url"} for image in request.references]
        if len(sources) == 1:
            body["image"] = sources[0]
        else:
            body["images"] = sources
        return self.parse_images(request, self.post_json("images/edits", body, request))

    def item_refusal(self, item: Mapping[str, Any]) -> str:
        # `respect_moderation: false` means moderation withheld the image: a refusal, not an error.
        if item.get("respect_moderation") is False:
            return "xai: image withheld by moderation"
        return super().item_refusal(item)
