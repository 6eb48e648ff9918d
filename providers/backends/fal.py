"""fal.ai queue: submit to an app, poll the returned `status_url`, read `response_url` (§10.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from providers.backends._batches import images_per_call
from providers.backends._http import read_error_message
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
from providers.backends.base import ProviderAdapter, looks_like_moderation
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, PollResult, Submission

FAL_DOMAIN = "fal.run"
OUTPUT_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp"}


class FalAdapter(ProviderAdapter):
    family = "fal"
    settings_name = "FAL"
    default_base_url = "https://queue.fal.run"
    is_async = True

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.api_key}"}

    def submit(self, request: GenerationRequest) -> Submission:
        # Most fal image apps take num_images up to 4.
        return submit_tasks(
            self,
            request,
            lambda index, n: self._submit_one(request, index, n),
            per_call=images_per_call(request, 4),
            first_poll=1.0,
        )

    def _submit_one(self, request: GenerationRequest, index: int, n: int) -> dict[str, Any]:
        inputs = model_inputs(
            request,
            index,
            n,
            size_default="image_size",
            count_field="num_images",
            single_ref="image_url",
            multiple_refs="image_urls",
            mask_field="mask_url",
            family=self.family,
        )
        if request.output_format in OUTPUT_FORMATS:
            inputs["output_format"] = OUTPUT_FORMATS[request.output_format]
        data = self.request(
            "POST", self.url(f"/{route_for(request)}"), json=inputs, timeout=request.timeout
        ).json()
        if not (data.get("request_id") and data.get("status_url") and data.get("response_url")):
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                "fal: queue answer lacks request_id/status_url/response_url",
                provider=self.family,
            )
        # Status and result live on the app id without its subpath (fal's queue API docs):
        # use the URLs fal returns rather than building them from the route.
        return {
            "id": data["request_id"],
            "poll_url": require_provider_url(data["status_url"], self, FAL_DOMAIN),
            "response_url": require_provider_url(data["response_url"], self, FAL_DOMAIN),
        }

    def poll(self, submission: Submission) -> PollResult:
        state = submission.state
        outcomes = [self._check(task, state) for task in state["tasks"]]
        return finish_poll(self, state, outcomes, first_poll=1.0, max_poll=4.0)

    def _check(self, task: Mapping[str, Any], state: Mapping[str, Any]) -> TaskOutcome:
        status_url = require_provider_url(task["poll_url"], self, FAL_DOMAIN)
        data = self.request("GET", status_url, timeout=POLL_TIMEOUT).json()
        match data.get("status"):
            case "IN_QUEUE":
                # Requests over the concurrency limit wait here rather than 429 (§10.2).
                position = int(data.get("queue_position") or 0)
                return TaskOutcome(done=False, progress=max(0, 10 - position))
            case "IN_PROGRESS":
                return TaskOutcome(done=False, progress=max(10, estimated_progress(state, 10)))
            case "COMPLETED":
                if data.get("error"):
                    reason = f"{data.get('error_type') or ''} {data['error']}".strip()
                    return task_failure(self, reason)
                return self._result(task)
            case _:
                return TaskOutcome(done=False, progress=0)

    def _result(self, task: Mapping[str, Any]) -> TaskOutcome:
        url = require_provider_url(task["response_url"], self, FAL_DOMAIN)
        try:
            output = self.request("GET", url, timeout=POLL_TIMEOUT).json()
        except ProviderError as exc:
            if exc.code is ErrorCode.CONTENT_POLICY:
                return TaskOutcome(done=True, refusals=(exc.message,))
            raise
        images = output.get("images") or []
        nsfw = output.get("has_nsfw_concepts") or []
        delivered, refusals = [], []
        for i, image in enumerate(images):
            # fal blacks out a flagged image and says so in has_nsfw_concepts.
            if i < len(nsfw) and nsfw[i]:
                refusals.append("fal's safety checker flagged the image")
            elif image.get("url"):
                delivered.append(image["url"])
        return TaskOutcome(
            done=True, images=tuple(delivered), refusals=tuple(refusals), seed=output.get("seed")
        )

    def error_message(self, response: httpx.Response) -> str:
        return read_error_message(response)

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        error = super().error_from_response(response)
        # fal names the failure kind in `error_type` (body) or `x-fal-error-type` (header).
        kind = response.headers.get("x-fal-error-type", "")
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            kind = str(body.get("error_type") or kind)
            detail = body.get("detail")
            if isinstance(detail, list):
                kind += " " + " ".join(str(d.get("type", "")) for d in detail if isinstance(d, dict))
        if error.status and error.status < 500 and looks_like_moderation(kind):
            error.code = ErrorCode.CONTENT_POLICY
        return error
