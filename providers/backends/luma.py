"""Luma Photon: create a generation, poll it by id (docs.lumalabs.ai, image generation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from providers.backends._http import read_error_message
from providers.backends._polling import (
    POLL_TIMEOUT,
    TaskOutcome,
    estimated_progress,
    finish_poll,
    submit_tasks,
    task_failure,
)
from providers.backends.base import ProviderAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, PollResult, Submission

LUMA_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg"}


class LumaAdapter(ProviderAdapter):
    family = "luma"
    settings_name = "LUMA"
    default_base_url = "https://api.lumalabs.ai/dream-machine/v1"
    is_async = True

    def submit(self, request: GenerationRequest) -> Submission:
        body = photon_body(request)
        # Photon makes one image per generation and takes no seed: fan out.
        return submit_tasks(
            self, request, lambda _i, _n: self._submit_one(request, body), per_call=1, first_poll=1.0
        )

    def _submit_one(self, request: GenerationRequest, body: dict[str, Any]) -> dict[str, Any]:
        data = self.request("POST", self.url("/generations/image"), json=body, timeout=request.timeout).json()
        if not data.get("id"):
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "luma: answer has no generation id", provider=self.family
            )
        return {"id": data["id"], "poll_url": self.url(f"/generations/{data['id']}")}

    def poll(self, submission: Submission) -> PollResult:
        state = submission.state
        outcomes = [self._check(task, state) for task in state["tasks"]]
        return finish_poll(self, state, outcomes, first_poll=1.0, max_poll=4.0)

    def _check(self, task: Mapping[str, Any], state: Mapping[str, Any]) -> TaskOutcome:
        data = self.request("GET", self.url(f"/generations/{task['id']}"), timeout=POLL_TIMEOUT).json()
        match data.get("state"):
            case "completed":
                image = (data.get("assets") or {}).get("image")
                if not image:
                    return task_failure(self, "generation completed without an image")
                return TaskOutcome(done=True, images=(image,))
            case "failed":
                # Moderation refusals arrive here as failure_reason text [UNVERIFIED wording].
                return task_failure(self, data.get("failure_reason") or "generation failed")
            case "dreaming":
                return TaskOutcome(done=False, progress=max(10, estimated_progress(state, 12)))
            case _:
                return TaskOutcome(done=False, progress=5)

    def error_message(self, response: httpx.Response) -> str:
        return read_error_message(response)


def photon_body(request: GenerationRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.remote_model,
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "generation_type": "image",
    }
    if request.output_format in LUMA_FORMATS:
        body["format"] = LUMA_FORMATS[request.output_format]
    if request.references:
        urls = reference_urls(request)
        if len(urls) == 1:
            # One source image is an edit of that image.
            body["modify_image_ref"] = {
                "url": urls[0],
                "weight": float(request.options.get("modify_weight", 1.0)),
            }
        else:
            weight = float(request.options.get("image_ref_weight", 0.85))
            body["image_ref"] = [{"url": url, "weight": weight} for url in urls[:4]]
    return body


def reference_urls(request: GenerationRequest) -> list[str]:
    """Luma only fetches references from public URLs; its API takes no inline image data.

    Adapters do not touch storage, so the job layer passes signed links to the stored
    references as `options["reference_urls"]`, in the order of `request.references`.
    """
    urls = list(request.options.get("reference_urls") or ())
    if len(urls) < len(request.references):
        raise ProviderError(
            ErrorCode.INVALID_REQUEST,
            "luma: reference images must be reachable at public URLs (options.reference_urls)",
            provider="luma",
        )
    return urls[: len(request.references)]
