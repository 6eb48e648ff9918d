"""Google's Gemini API: Gemini image models (`generateContent`) and Imagen (`predict`).

Both live under the same base URL and key (`GEMINI_API_KEY`, header `x-goog-api-key`), and
share Google's error shape (`error.code`, `error.status`, `error.message`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from providers.backends._batches import fan_out
from providers.backends._http import refuse_redirect, without_none
from providers.backends.base import ProviderAdapter, check_size, measured_image
from providers.errors import ErrorCode, ProviderError
from providers.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    InputImage,
    Part,
    ProgressCallback,
    Turn,
)

# finishReason / blockReason values that mean "refused", not "broke" (the API's FinishReason
# and BlockedReason enums).
# NO_IMAGE is counted here too: the model declined to draw, and retrying the same prompt
# is the moderation case DESIGN.md says never to retry.
REFUSAL_REASONS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "NO_IMAGE",
        "MODEL_ARMOR",
        "JAILBREAK",
    }
)

_DURATION = re.compile(r"^\s*([\d.]+)s\s*$")


def duration_seconds(value: object) -> float | None:
    """Google's protobuf Duration as JSON ("37s", "1.5s")."""
    match = _DURATION.match(str(value or ""))
    return float(match.group(1)) if match else None


class GoogleAdapter(ProviderAdapter):
    """Auth and error reading shared by the two Gemini API surfaces."""

    settings_name = "GEMINI"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key}

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        error = super().error_from_response(response)
        try:
            body = response.json()
        except ValueError:
            return error
        details = body.get("error", {}).get("details", []) if isinstance(body, dict) else []
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict):
                continue
            # 429s carry google.rpc.RetryInfo instead of a Retry-After header.
            delay = duration_seconds(detail.get("retryDelay"))
            if delay is not None and error.retry_after is None:
                error.retry_after = delay
            # A wrong key is a 400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID.
            if detail.get("reason") == "API_KEY_INVALID":
                error.code = ErrorCode.AUTH
        return error

    def post(self, path: str, body: Mapping[str, Any], request: GenerationRequest) -> dict[str, Any]:
        response = self.request(
            "POST", self.url(path), timeout=request.timeout, json=body, follow_redirects=False
        )
        refuse_redirect(response, self.family)
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, f"{self.family}: answer is not JSON", provider=self.family
            ) from exc
        if not isinstance(payload, dict):
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, f"{self.family}: unexpected answer", provider=self.family
            )
        return payload


# -- Gemini generateContent -------------------------------------------------------------
def part_to_json(part: Part) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if part.text is not None:
        out["text"] = part.text
    if part.image is not None:
        out["inlineData"] = {
            "mimeType": part.image.mime_type,
            "data": base64.b64encode(part.image.data).decode("ascii"),
        }
    if part.thought:
        out["thought"] = True
    if part.thought_signature:
        # Opaque: sent back exactly as received, or multi-turn context degrades (§2.2).
        out["thoughtSignature"] = part.thought_signature
    return out


def turn_to_json(turn: Turn) -> dict[str, Any]:
    return {"role": turn.role, "parts": [part_to_json(part) for part in turn.parts]}


def part_from_json(raw: Mapping[str, Any], *, provider: str) -> Part:
    # REST answers are camelCase; snake_case shows up behind some proxies (§2.2).
    inline = raw.get("inlineData") or raw.get("inline_data")
    image = None
    if isinstance(inline, Mapping):
        measured = measured_image(base64.b64decode(inline.get("data", "")), provider=provider)
        image = InputImage(measured.data, measured.mime_type, measured.width, measured.height)
    return Part(
        text=raw.get("text"),
        image=image,
        thought=bool(raw.get("thought")),
        thought_signature=raw.get("thoughtSignature") or raw.get("thought_signature"),
    )


def grounding_summary(grounding: Mapping[str, Any]) -> dict[str, Any]:
    sources = [
        {"title": web.get("title", ""), "uri": web.get("uri", "")}
        for chunk in grounding.get("groundingChunks") or []
        if isinstance(web := chunk.get("web"), Mapping)
    ]
    summary: dict[str, Any] = {
        "queries": list(grounding.get("webSearchQueries") or []),
        "sources": sources,
    }
    entry_point = (grounding.get("searchEntryPoint") or {}).get("renderedContent")
    if entry_point:
        # Google's terms ask for these search suggestions to be shown with grounded results.
        summary["search_entry_point"] = entry_point
    return summary


class GeminiAdapter(GoogleAdapter):
    family = "gemini"
    max_references: ClassVar[int] = 14
    # imageConfig.aspectRatio values: the literals python-genai accepts.
    ASPECT_RATIOS: ClassVar[frozenset[str]] = frozenset(
        {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "1:4", "4:1", "1:8", "8:1"}
    )
    # Upper-case K is required; "1k" is rejected (003 seed).
    IMAGE_SIZES: ClassVar[frozenset[str]] = frozenset({"1K", "2K", "4K"})

    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        if len(request.references) > self.max_references:
            raise ProviderError(
                ErrorCode.INVALID_REQUEST,
                f"gemini: at most {self.max_references} reference images",
                provider=self.family,
            )
        # generateContent draws one image per call: more images mean more calls.
        return fan_out(request, 1, lambda _n: self.generate_once(request), on_progress=on_progress)

    def generate_once(self, request: GenerationRequest) -> GenerationResult:
        payload = self.post(f"models/{request.remote_model}:generateContent", self.body(request), request)
        return self.parse(request, payload)

    @staticmethod
    def supports_thinking(request: GenerationRequest) -> bool:
        # Gemini 2.x image models have no thinking; the Gemini 3 image models do.
        return not request.remote_model.startswith("gemini-2")

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        user_parts: list[dict[str, Any]] = [{"text": request.prompt}]
        user_parts += [part_to_json(Part(image=image)) for image in request.references]
        contents = [turn_to_json(turn) for turn in request.history]
        contents.append({"role": "user", "parts": user_parts})

        modalities = request.options.get("response_modalities") or ("TEXT", "IMAGE")
        image_config = without_none(
            {
                "aspectRatio": request.aspect_ratio if request.aspect_ratio in self.ASPECT_RATIOS else None,
                "imageSize": request.resolution if request.resolution in self.IMAGE_SIZES else None,
            }
        )
        generation_config: dict[str, Any] = {
            # Without IMAGE in the modalities the model answers in text only.
            "responseModalities": [str(m).upper() for m in modalities],
        }
        if image_config:
            generation_config["imageConfig"] = image_config
        thinking = request.options.get("thinking")
        if thinking and self.supports_thinking(request):
            generation_config["thinkingConfig"] = (
                dict(thinking) if isinstance(thinking, Mapping) else {"thinkingLevel": str(thinking)}
            )

        media_resolution = str(request.options.get("media_resolution") or "").lower()
        if media_resolution in ("low", "medium", "high"):
            # How finely the reference images are read (004's input image resolution).
            generation_config["mediaResolution"] = f"MEDIA_RESOLUTION_{media_resolution.upper()}"

        body: dict[str, Any] = {"contents": contents, "generationConfig": generation_config}
        if request.options.get("grounding"):
            body["tools"] = [{"google_search": {}}]
        return body

    def parse(self, request: GenerationRequest, payload: Mapping[str, Any]) -> GenerationResult:
        feedback = payload.get("promptFeedback") or {}
        candidates = payload.get("candidates") or []
        if not candidates:
            reason = feedback.get("blockReason")
            if reason:
                detail = feedback.get("blockReasonMessage") or "the prompt was blocked"
                raise ProviderError(
                    ErrorCode.CONTENT_POLICY, f"gemini: {detail} ({reason})", status=200, provider=self.family
                )
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                "gemini: the answer had no candidate",
                status=200,
                provider=self.family,
            )

        candidate = candidates[0]
        raw_parts = (candidate.get("content") or {}).get("parts") or []
        parts = tuple(part_from_json(raw, provider=self.family) for raw in raw_parts)
        images: list[GeneratedImage] = []
        for part in parts:
            # Thought images (`part.thought`) are the model's interim drafts: not results.
            if part.image is not None and not part.thought:
                image = GeneratedImage(
                    part.image.data, part.image.mime_type, part.image.width, part.image.height
                )
                check_size(request, image, family=self.family)
                images.append(image)
        text = "\n".join(part.text for part in parts if part.text and not part.thought)
        finish = str(candidate.get("finishReason") or "")

        if not images:
            message = text or candidate.get("finishMessage") or "no image came back"
            if finish in REFUSAL_REASONS:
                raise ProviderError(
                    ErrorCode.CONTENT_POLICY,
                    f"gemini: {message} ({finish})",
                    status=200,
                    provider=self.family,
                )
            # A text-only STOP: the model replied instead of drawing. Not a policy signal
            # (no finishReason or blockReason says so), and another attempt usually draws. IMAGE_OTHER ("stopped
            # for other reasons", python-genai FinishReason) is the same: retried, not refused.
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                f"gemini: answered without an image: {message}",
                status=200,
                provider=self.family,
            )

        metadata: dict[str, Any] = {"finish_reason": finish}
        if payload.get("usageMetadata"):
            metadata["usage"] = payload["usageMetadata"]
        if payload.get("modelVersion"):
            metadata["model_version"] = payload["modelVersion"]
        if payload.get("responseId"):
            metadata["response_id"] = payload["responseId"]
        if isinstance(grounding := candidate.get("groundingMetadata"), Mapping):
            metadata["grounding"] = grounding_summary(grounding)
        return GenerationResult(images=tuple(images), text=text, parts=parts, metadata=metadata)


# -- Imagen predict ---------------------------------------------------------------------
class ImagenAdapter(GoogleAdapter):
    family = "imagen"
    max_images_per_call: ClassVar[int] = 4
    ASPECT_RATIOS: ClassVar[frozenset[str]] = frozenset({"1:1", "3:4", "4:3", "9:16", "16:9"})
    # The :predict body names it `sampleImageSize` (as python-genai sends it), not `imageSize`.
    IMAGE_SIZES: ClassVar[frozenset[str]] = frozenset({"1K", "2K"})

    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        if request.is_edit:
            raise ProviderError(
                ErrorCode.INVALID_REQUEST,
                "imagen: the Gemini API cannot edit images with Imagen",
                provider=self.family,
            )
        return fan_out(
            request,
            self.images_per_call(request),
            lambda n: self.predict(request, n),
            on_progress=on_progress,
        )

    def images_per_call(self, request: GenerationRequest) -> int:
        # "Imagen 4 Ultra ... can only generate one image at a time" (Gemini image guide).
        return 1 if "ultra" in request.remote_model else self.max_images_per_call

    def body(self, request: GenerationRequest, n: int) -> dict[str, Any]:
        # negativePrompt, seed, addWatermark and enhancePrompt are Vertex-only: the SDK
        # refuses them in Gemini-API mode, so they are never sent.
        parameters = without_none(
            {
                "sampleCount": n,
                "aspectRatio": request.aspect_ratio if request.aspect_ratio in self.ASPECT_RATIOS else None,
                "sampleImageSize": request.resolution if request.resolution in self.IMAGE_SIZES else None,
                "personGeneration": request.options.get("person_generation"),
                # Filtered images then say why instead of silently going missing.
                "includeRaiReason": True,
            }
        )
        return {"instances": [{"prompt": request.prompt}], "parameters": parameters}

    def predict(self, request: GenerationRequest, n: int) -> GenerationResult:
        payload = self.post(f"models/{request.remote_model}:predict", self.body(request, n), request)
        images: list[GeneratedImage] = []
        refusals: list[str] = []
        for prediction in payload.get("predictions") or []:
            if prediction.get("bytesBase64Encoded"):
                image = measured_image(
                    base64.b64decode(prediction["bytesBase64Encoded"]), provider=self.family
                )
                check_size(request, image, family=self.family)
                images.append(image)
            elif prediction.get("raiFilteredReason"):
                refusals.append(f"imagen: {prediction['raiFilteredReason']}")
        missing = n - len(images) - len(refusals)
        if missing > 0:
            refusals.append(f"imagen: {missing} image(s) filtered out without a reason")
        if not images:
            raise ProviderError(
                ErrorCode.CONTENT_POLICY, "; ".join(refusals), status=200, provider=self.family
            )
        metadata: dict[str, Any] = {}
        if payload.get("positivePromptSafetyAttributes"):
            metadata["safety"] = payload["positivePromptSafetyAttributes"]
        return GenerationResult(images=tuple(images), refusals=tuple(refusals), metadata=metadata)
