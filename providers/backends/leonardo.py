"""Leonardo.ai v1 platform models: create a generation, poll it by id (docs.leonardo.ai)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.backends._batches import images_per_call, seed_for
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


class LeonardoAdapter(ProviderAdapter):
    family = "leonardo"
    settings_name = "LEONARDO"
    default_base_url = "https://cloud.leonardo.ai/api/rest"
    is_async = True

    def submit(self, request: GenerationRequest) -> Submission:
        if request.references or request.mask is not None:
            # v1 references need an init-image upload through a presigned S3 form whose
            # details we have not verified against the live API: not offered.
            raise ProviderError(
                ErrorCode.INVALID_REQUEST,
                "leonardo: reference images are not supported",
                provider=self.family,
            )
        # num_images is 1-8, but at most 4 once a side exceeds 768 px (Leonardo's documented limit).
        limit = 4 if max(request.width, request.height) > 768 else 8
        per_call = min(images_per_call(request, limit), limit)
        return submit_tasks(
            self,
            request,
            lambda index, n: self._submit_one(request, index, n),
            per_call=per_call,
            first_poll=3.0,
        )

    def _submit_one(self, request: GenerationRequest, index: int, n: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "modelId": request.remote_model,
            "prompt": request.prompt,
            # Multiples of 8; the catalogue's sizes already are.
            "width": request.width - request.width % 8,
            "height": request.height - request.height % 8,
            "num_images": n,
            # Generations are public on Leonardo's community feed unless told otherwise.
            "public": False,
        }
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        seed = seed_for(request.seed, index)
        if seed is not None:
            body["seed"] = seed
        if request.style:
            body["presetStyle"] = request.style
        data = self.request("POST", self.url("/v1/generations"), json=body, timeout=request.timeout).json()
        generation_id = (data.get("sdGenerationJob") or {}).get("generationId")
        if not generation_id:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "leonardo: answer has no generationId", provider=self.family
            )
        return {"id": generation_id, "poll_url": self.url(f"/v1/generations/{generation_id}")}

    def poll(self, submission: Submission) -> PollResult:
        state = submission.state
        outcomes = [self._check(task, state) for task in state["tasks"]]
        return finish_poll(self, state, outcomes, first_poll=3.0, max_poll=8.0)

    def _check(self, task: Mapping[str, Any], state: Mapping[str, Any]) -> TaskOutcome:
        data = self.request("GET", task["poll_url"], timeout=POLL_TIMEOUT).json()
        generation = data.get("generations_by_pk") or {}
        status = generation.get("status")
        if status == "COMPLETE":
            images = generation.get("generated_images") or []
            flagged = [img for img in images if img.get("nsfw")]
            return TaskOutcome(
                done=True,
                images=tuple(img["url"] for img in images if img.get("url") and not img.get("nsfw")),
                refusals=tuple("Leonardo flagged the image as NSFW" for _ in flagged),
                seed=generation.get("seed"),
            )
        if status == "FAILED":
            return task_failure(self, "generation failed")
        return TaskOutcome(done=False, progress=estimated_progress(state, 20))
