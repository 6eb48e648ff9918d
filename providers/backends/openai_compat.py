"""The OpenAI Images protocol: OpenAI itself, xAI, Recraft and BytePlus ModelArk (Seedream).

All four answer `POST {base}/images/generations` with `{"data": [{"b64_json" | "url", ...}]}`
(providers.md §0, "protocol families"); they differ in extra fields, size vocabulary, how
edits are sent and how moderation shows up, which each vendor's module overrides.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from providers.backends._batches import fan_out
from providers.backends._http import form_fields, refuse_redirect
from providers.backends.base import ProviderAdapter, check_size, decode_b64_image, extract_error_message
from providers.errors import ErrorCode, ProviderError
from providers.types import GeneratedImage, GenerationRequest, GenerationResult, ProgressCallback


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
