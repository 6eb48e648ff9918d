"""Replicate predictions: create, then poll `urls.get` (replicate.com/docs, predictions API).

Each Replicate model has its own input schema, and Replicate drops inputs a model does
not declare (replicate/cog#2943), so the common fields are sent as they are and the
catalogue's `options` name the model-specific ones (see `_inputs.model_inputs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.backends._batches import images_per_call
from providers.backends._inputs import model_inputs, route_for
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
from providers.types import GenerationRequest, PollResult, Submission

OUTPUT_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp"}


class ReplicateAdapter(ProviderAdapter):
    family = "replicate"
    settings_name = "REPLICATE"
    default_base_url = "https://api.replicate.com/v1"
    is_async = True

    def submit(self, request: GenerationRequest) -> Submission:
        # Only some models have num_outputs (others drop it and return one image), so
        # fan out one prediction per image unless the catalogue says otherwise.
        return submit_tasks(
            self,
            request,
            lambda index, n: self._submit_one(request, index, n),
            per_call=images_per_call(request, 1),
            first_poll=2.0,
        )

    def _submit_one(self, request: GenerationRequest, index: int, n: int) -> dict[str, Any]:
        inputs = model_inputs(
            request,
            index,
            n,
            size_default="aspect_ratio",
            count_field="num_outputs",
            single_ref="image",
            multiple_refs="input_images",
            mask_field="mask",
            family=self.family,
        )
        if request.output_format in OUTPUT_FORMATS:
            inputs["output_format"] = OUTPUT_FORMATS[request.output_format]
        route = route_for(request)
        if ":" in route:
            # "owner/name:version" pins a version through the generic endpoint.
            url, body = self.url("/predictions"), {"version": route.split(":", 1)[1], "input": inputs}
        else:
            url, body = self.url(f"/models/{route}/predictions"), {"input": inputs}
        data = self.request("POST", url, json=body, timeout=request.timeout).json()
        if not data.get("id"):
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "replicate: answer has no prediction id", provider=self.family
            )
        poll_url = (data.get("urls") or {}).get("get") or self.url(f"/predictions/{data['id']}")
        return {"id": data["id"], "poll_url": require_provider_url(poll_url, self, "replicate.com")}

    def poll(self, submission: Submission) -> PollResult:
        state = submission.state
        outcomes = [self._check(task, state) for task in state["tasks"]]
        return finish_poll(self, state, outcomes, first_poll=2.0, max_poll=5.0)

    def _check(self, task: Mapping[str, Any], state: Mapping[str, Any]) -> TaskOutcome:
        url = require_provider_url(task["poll_url"], self, "replicate.com")
        data = self.request("GET", url, timeout=POLL_TIMEOUT).json()
        match data.get("status"):
            case "succeeded":
                output = data.get("output")
                urls = (
                    [output] if isinstance(output, str) else [u for u in output or () if isinstance(u, str)]
                )
                if not urls:
                    return task_failure(self, "prediction succeeded without an output URL")
                return TaskOutcome(done=True, images=tuple(urls))
            case "failed" | "canceled" | "aborted" as status:
                message = str(data.get("error") or f"prediction {status}")
                # Safety refusals read "…flagged as sensitive… (E005)": a refusal, not a failure to retry.
                return task_failure(self, message, moderated="E005" in message)
            case "processing":
                return TaskOutcome(done=False, progress=max(10, estimated_progress(state, 15)))
            case _:
                return TaskOutcome(done=False, progress=5)
