"""Black Forest Labs (FLUX): submit a task, poll its `polling_url` (docs.bfl.ai)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from providers.backends._batches import seed_for
from providers.backends._http import plain_b64, read_error_message
from providers.backends._polling import (
    POLL_TIMEOUT,
    TaskOutcome,
    estimated_progress,
    finish_poll,
    require_provider_url,
    submit_tasks,
    task_failure,
)
from providers.backends.base import ProviderAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage, PollResult, Submission

MODERATED = ("Request Moderated", "Content Moderated")
FAILED = ("Error", "Failed", "Task not found")


class BFLAdapter(ProviderAdapter):
    family = "bfl"
    settings_name = "BFL"
    default_base_url = "https://api.bfl.ai"
    is_async = True

    def auth_headers(self) -> dict[str, str]:
        return {"x-key": self.api_key}

    def submit(self, request: GenerationRequest) -> Submission:
        # No num_images on any FLUX endpoint: one task per image.
        return submit_tasks(
            self,
            request,
            lambda index, _n: self._submit_one(request, index),
            per_call=1,
            first_poll=1.0,
        )

    def _submit_one(self, request: GenerationRequest, index: int) -> dict[str, Any]:
        response = self.request(
            "POST",
            self.url(f"/v1/{request.remote_model}"),
            json=flux_body(request, index),
            timeout=request.timeout,
        )
        data = response.json()
        if not data.get("id") or not data.get("polling_url"):
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "bfl: submit answer has no id/polling_url", provider=self.family
            )
        # The task lives on one cluster: poll the URL BFL returns, never a rebuilt
        # /v1/get_result on our base host, which answers "Task not found" for another region's task.
        return {"id": data["id"], "poll_url": require_provider_url(data["polling_url"], self, "bfl.ai")}

    def poll(self, submission: Submission) -> PollResult:
        state = submission.state
        outcomes = [self._check(task, state) for task in state["tasks"]]
        return finish_poll(self, state, outcomes, first_poll=1.0, max_poll=5.0)

    def _check(self, task: Mapping[str, Any], state: Mapping[str, Any]) -> TaskOutcome:
        url = require_provider_url(task["poll_url"], self, "bfl.ai")
        data = self.request("GET", url, timeout=POLL_TIMEOUT).json()
        status = data.get("status", "")
        if status == "Ready":
            result = data.get("result") or {}
            if not result.get("sample"):
                return task_failure(self, "task is Ready without a sample URL")
            return TaskOutcome(done=True, images=(result["sample"],), seed=result.get("seed"))
        if status in MODERATED:
            return TaskOutcome(done=True, refusals=(moderation_reason(status, data.get("details")),))
        if status in FAILED:
            detail = data.get("details") or data.get("error") or ""
            return TaskOutcome(
                done=True,
                error=ProviderError(
                    ErrorCode.UPSTREAM_ERROR, f"bfl: {status} {detail}".strip(), provider=self.family
                ),
            )
        return TaskOutcome(done=False, progress=bfl_progress(data.get("progress"), state))

    def error_message(self, response: httpx.Response) -> str:
        return read_error_message(response)


def moderation_reason(status: str, details: Any) -> str:
    reasons = details.get("Moderation Reasons") if isinstance(details, dict) else None
    if reasons:
        return f"{status}: {', '.join(map(str, reasons))}"
    return status


def bfl_progress(value: Any, state: Mapping[str, Any]) -> int:
    """BFL's `progress` may be null; when given it is a fraction or a percentage."""
    if isinstance(value, int | float) and value > 0:
        return int(value * 100) if value <= 1 else int(value)
    return estimated_progress(state, typical_seconds=15)


def snap(value: int, multiple: int, low: int, high: int) -> int:
    return min(max(round(value / multiple) * multiple, low), high)


def flux_body(request: GenerationRequest, index: int) -> dict[str, Any]:
    """The JSON body for one FLUX task; fields differ per endpoint family (docs.bfl.ai)."""
    model = request.remote_model
    flux2 = model.startswith("flux-2")
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "output_format": "jpeg" if request.output_format in ("jpg", "jpeg") else request.output_format,
        # 0-6 on FLUX.1, 0-5 on FLUX.2; lower is stricter.
        "safety_tolerance": min(max(int(request.options.get("safety_tolerance", 2)), 0), 5 if flux2 else 6),
    }
    seed = seed_for(request.seed, index)
    if seed is not None:
        body["seed"] = seed
    if "prompt_upsampling" in request.options:
        body["prompt_upsampling"] = bool(request.options["prompt_upsampling"])
    refs = request.references
    if request.mask is not None and model != "flux-pro-1.0-fill":
        raise ProviderError(ErrorCode.INVALID_REQUEST, f"bfl: {model} does not take a mask", provider="bfl")

    if flux2:
        # FLUX.2: multiples of 16, refs input_image, input_image_2 … (8; klein takes 4).
        body["width"] = snap(request.width, 16, 64, 4096)
        body["height"] = snap(request.height, 16, 64, 4096)
        body.update(numbered_images(refs, 4 if "klein" in model else 8))
    elif model.startswith("flux-kontext"):
        body["aspect_ratio"] = request.aspect_ratio
        body.update(numbered_images(refs, 4))
    elif model == "flux-pro-1.1-ultra":
        body["aspect_ratio"] = request.aspect_ratio
        if "raw" in request.options:
            body["raw"] = bool(request.options["raw"])
        if refs:
            body["image_prompt"] = plain_b64(refs[0])
            body["image_prompt_strength"] = float(request.options.get("image_prompt_strength", 0.1))
    elif model == "flux-pro-1.0-fill":
        if not refs or request.mask is None:
            raise ProviderError(
                ErrorCode.INVALID_REQUEST, "bfl: inpainting needs an image and a mask", provider="bfl"
            )
        body["image"] = plain_b64(refs[0])
        # Fill repaints white and keeps black (docs.bfl.ai, FLUX.1 Fill): the studio's own
        # convention, so the mask goes as painted.
        body["mask"] = plain_b64(request.mask)
    else:
        # FLUX.1 (pro-1.1, dev, …): 256-1440, multiples of 32; a reference is a Redux prompt.
        body["width"] = snap(request.width, 32, 256, 1440)
        body["height"] = snap(request.height, 32, 256, 1440)
        if refs:
            body["image_prompt"] = plain_b64(refs[0])
    return body


def numbered_images(refs: Sequence[InputImage], limit: int) -> dict[str, str]:
    if len(refs) > limit:
        raise ProviderError(
            ErrorCode.INVALID_REQUEST, f"bfl: at most {limit} reference images", provider="bfl"
        )
    return {
        ("input_image" if i == 0 else f"input_image_{i + 1}"): plain_b64(ref) for i, ref in enumerate(refs)
    }
