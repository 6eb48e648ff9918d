"""An aggregator upstream: one API in front of many providers (seeds 001, 002, 004).

Two shapes are spoken, as two families sharing one key and base URL:
- `aggregator` (seed 002): `POST /v2/images/generate` answers `202 {jobId}`, and
  `GET /v2/jobs/{id}` is polled without holding a worker slot. Every submit carries an
  `Idempotency-Key`, so a submit retried after a lost answer finds the job it already
  started instead of paying for a second one.
- `aggregator_openai` (seed 004): the OpenAI-compatible `POST /v1/images/generations` with model ids
  such as `openai/gpt-image-2` or `google/gemini-3-pro-image`, edits with `image` as base64.

Studio serves both shapes itself, so a second Studio can be the upstream.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from urllib.parse import urlsplit

from providers.backends._http import data_uri, without_none
from providers.backends._polling import POLL_TIMEOUT, expected_size, next_poll_delay, require_provider_url
from providers.backends.base import ProviderAdapter, check_size, decode_b64_image
from providers.errors import ErrorCode, ProviderError
from providers.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    PollResult,
    ProgressCallback,
    Submission,
)

# The upstream's own job error codes, as the studio's taxonomy reads them.
UPSTREAM_CODES = {
    "content_policy": ErrorCode.CONTENT_POLICY,
    "invalid_request": ErrorCode.INVALID_REQUEST,
    "validation_error": ErrorCode.INVALID_REQUEST,
    "timeout": ErrorCode.TIMEOUT,
    "canceled": ErrorCode.UPSTREAM_ERROR,
}


def idempotency_key(request: GenerationRequest) -> str:
    """The job's own key when the caller gave one; otherwise a fresh one per submit.

    A key derived from the request's content would make two identical jobs share one
    upstream job, so without the job's key a retried submit is not deduplicated.
    """
    key = request.idempotency_key or uuid.uuid4().hex
    return hashlib.sha256(f"studio-aggregator:{key}".encode()).hexdigest()[:48]


def host_of(adapter: ProviderAdapter) -> str:
    """Result links come from the aggregator itself: its host is the only one trusted."""
    return urlsplit(adapter.base_url).hostname or ""


class AggregatorAdapter(ProviderAdapter):
    family = "aggregator"
    settings_name = "AGGREGATOR"
    default_base_url = ""
    is_async = True

    def submit(self, request: GenerationRequest) -> Submission:
        body = without_none(
            {
                "model": request.remote_model,
                "prompt": request.prompt,
                "aspectRatio": request.aspect_ratio,
                "resolution": request.resolution if request.resolution != "default" else None,
                "count": request.count,
                "seed": request.seed,
                "negativePrompt": request.negative_prompt,
                "quality": request.quality,
                "style": request.style,
                "outputFormat": request.output_format,
                "images": [data_uri(image) for image in request.references] or None,
                "mask": data_uri(request.mask) if request.mask is not None else None,
            }
        )
        response = self.request(
            "POST",
            self.url("/v2/images/generate"),
            json=body,
            headers={"Idempotency-Key": idempotency_key(request)},
            timeout=request.timeout,
        )
        data = response.json()
        job_id = data.get("jobId") if isinstance(data, dict) else None
        if not job_id:
            raise ProviderError(ErrorCode.UPSTREAM_ERROR, "aggregator: answer has no jobId", provider=self.family)
        return Submission(
            provider_job_id=str(job_id),
            poll_url=self.url(f"/v2/jobs/{job_id}"),
            state={"job_id": str(job_id), "count": request.count, "expect": expected_size(request)},
            poll_after=1.0,
        )

    def poll(self, submission: Submission) -> PollResult:
        state = submission.state
        data = self.request("GET", self.url(f"/v2/jobs/{state['job_id']}"), timeout=POLL_TIMEOUT).json()
        status = str(data.get("status", "")).upper()
        if status in ("QUEUED", "RUNNING", "PENDING", "PROCESSING"):
            return PollResult(
                done=False,
                progress=min(int(data.get("progress") or 0), 99),
                poll_after=next_poll_delay(state, first=1.0, ceiling=5.0),
            )
        if status != "SUCCEEDED":
            error = data.get("error") or {}
            code = UPSTREAM_CODES.get(str(error.get("code", "")), ErrorCode.UPSTREAM_ERROR)
            message = error.get("message") or f"job {status.lower() or 'ended'} without images"
            raise ProviderError(code, f"aggregator: {message}", provider=self.family)
        expect = GenerationRequest(prompt="", **state["expect"])
        images: list[GeneratedImage] = []
        for item in data.get("images") or []:
            url = require_provider_url(str(item.get("url", "")), self, host_of(self))
            image = self.download(url)
            check_size(expect, image, family=self.family)
            images.append(image)
        if not images:
            raise ProviderError(ErrorCode.UPSTREAM_ERROR, "aggregator: job succeeded without images", provider=self.family)
        return PollResult(
            done=True,
            progress=100,
            result=GenerationResult(
                images=tuple(images),
                text=str(data.get("text") or ""),
                metadata={"provider_job_ids": [state["job_id"]], "upstream_cost": data.get("cost")},
            ),
        )

class AggregatorOpenAIAdapter(ProviderAdapter):
    """Seed 004's OpenAI-compatible shape, synchronous: the answer carries the images."""

    family = "aggregator_openai"
    settings_name = "AGGREGATOR"
    default_base_url = ""

    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        body = without_none(
            {
                "model": request.remote_model,
                "prompt": request.prompt,
                "n": request.count,
                "size": f"{request.width}x{request.height}",
                "quality": request.quality or request.options.get("quality"),
                "output_format": "jpeg" if request.output_format == "jpg" else request.output_format,
            }
        )
        path = "/v1/images/generations"
        if request.references:
            # Seed 004: one endpoint shape for edits, the image as base64.
            path = "/v1/images/edits"
            images = [base64.b64encode(ref.data).decode("ascii") for ref in request.references]
            body["image"] = images[0] if len(images) == 1 else images
        payload = self.request("POST", self.url(path), json=body, timeout=request.timeout).json()
        images_out: list[GeneratedImage] = []
        for item in payload.get("data") or []:
            if item.get("b64_json"):
                image = decode_b64_image(item["b64_json"], provider=self.family)
            elif item.get("url"):
                image = self.download(require_provider_url(item["url"], self, host_of(self)))
            else:
                continue
            check_size(request, image, family=self.family)
            images_out.append(image)
        if not images_out:
            raise ProviderError(ErrorCode.UPSTREAM_ERROR, "aggregator: the answer held no image", provider=self.family)
        return GenerationResult(images=tuple(images_out), metadata={"usage": payload.get("usage")})

