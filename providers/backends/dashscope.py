"""Alibaba DashScope (Qwen-Image, Wan): the async task API for older text-to-image models,
the synchronous multimodal route for newer models and every edit (Alibaba Model Studio API
reference)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from providers.backends._batches import images_per_call, seed_for
from providers.backends._http import data_uri
from providers.backends._inputs import route_for
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

MODERATION_CODE = "DataInspectionFailed"
# Account problems: a retry cannot help, an admin must fix the key or the bill (§11.1).
AUTH_CODES = ("InvalidApiKey", "AccessDenied", "Arrearage", "Workspace.NotFound")
TASK_PATH = "/services/aigc/text2image/image-synthesis"
# Only these older models use the async task API; Qwen-Image 2.x, Wan 2.6+ and every
# edit model are served only by the synchronous multimodal route.
TASK_API_MODEL = re.compile(r"qwen-image|wanx.*|wan2\.[0-5]-t2i.*")
MULTIMODAL_PATH = "/services/aigc/multimodal-generation/generation"


class DashScopeAdapter(ProviderAdapter):
    family = "dashscope"
    settings_name = "DASHSCOPE"
    default_base_url = "https://dashscope-intl.aliyuncs.com/api/v1"
    is_async = True

    def submit(self, request: GenerationRequest) -> Submission:
        if uses_task_api(request):
            return submit_tasks(
                self,
                request,
                lambda index, n: self._task_one(request, index, n),
                # qwen-image takes n = 1 only (DashScope model page, issue 14 audit); wanx takes up to 4 per task.
                per_call=1 if request.remote_model == "qwen-image" else images_per_call(request, 4),
                first_poll=5.0,
            )
        # The synchronous multimodal route answers with result URLs that live 24 h: they
        # are kept in the task and fetched by the first poll, at once.
        return submit_tasks(
            self,
            request,
            lambda index, n: self._multimodal_one(request, index, n),
            per_call=images_per_call(request, 1),
            first_poll=0.0,
        )

    def _parameters(self, request: GenerationRequest, index: int, n: int) -> dict[str, Any]:
        parameters: dict[str, Any] = {"n": n, "watermark": False}
        seed = seed_for(request.seed, index)
        if seed is not None:
            parameters["seed"] = seed
        if "prompt_extend" in request.options:
            parameters["prompt_extend"] = bool(request.options["prompt_extend"])
        return parameters

    def _task_one(self, request: GenerationRequest, index: int, n: int) -> dict[str, Any]:
        inputs: dict[str, Any] = {"prompt": request.prompt}
        if request.negative_prompt:
            inputs["negative_prompt"] = request.negative_prompt
        parameters = self._parameters(request, index, n)
        # DashScope writes sizes with an asterisk: "1328*1328", not "1328x1328".
        parameters["size"] = f"{request.width}*{request.height}"
        data = self.request(
            "POST",
            self.url(TASK_PATH),
            json={"model": request.remote_model, "input": inputs, "parameters": parameters},
            headers={"X-DashScope-Async": "enable"},
            timeout=request.timeout,
        ).json()
        task_id = (data.get("output") or {}).get("task_id")
        if not task_id:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "dashscope: answer has no task_id", provider=self.family
            )
        return {"id": task_id, "poll_url": self.url(f"/tasks/{task_id}")}

    def _multimodal_one(self, request: GenerationRequest, index: int, n: int) -> dict[str, Any]:
        content: list[dict[str, str]] = [{"image": data_uri(ref)} for ref in request.references]
        content.append({"text": request.prompt})
        parameters = self._parameters(request, index, n)
        if request.negative_prompt:
            parameters["negative_prompt"] = request.negative_prompt
        if not request.references:
            # An edit keeps its source's size; a new image gets the catalogue's.
            parameters["size"] = f"{request.width}*{request.height}"
        data = self.request(
            "POST",
            self.url(MULTIMODAL_PATH),
            json={
                "model": route_for(request),
                "input": {"messages": [{"role": "user", "content": content}]},
                "parameters": parameters,
            },
            timeout=request.timeout,
        ).json()
        urls = [
            part["image"]
            for choice in (data.get("output") or {}).get("choices") or ()
            for part in (choice.get("message") or {}).get("content") or ()
            if isinstance(part, dict) and part.get("image")
        ]
        if not urls:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "dashscope: answer has no image", provider=self.family
            )
        return {"id": data.get("request_id") or "multimodal", "urls": urls}

    def poll(self, submission: Submission) -> PollResult:
        state = submission.state
        outcomes = [self._check(task, state) for task in state["tasks"]]
        return finish_poll(self, state, outcomes, first_poll=5.0, max_poll=10.0)

    def _check(self, task: Mapping[str, Any], state: Mapping[str, Any]) -> TaskOutcome:
        if "urls" in task:
            return TaskOutcome(done=True, images=tuple(task["urls"]))
        output = self.request("GET", task["poll_url"], timeout=POLL_TIMEOUT).json().get("output") or {}
        status = output.get("task_status")
        if status == "SUCCEEDED":
            results = output.get("results") or []
            images = tuple(r["url"] for r in results if r.get("url"))
            # A sub-image that failed carries its own code/message instead of a url.
            refusals = tuple(
                r.get("message") or r["code"]
                for r in results
                if not r.get("url") and r.get("code") == MODERATION_CODE
            )
            return TaskOutcome(done=True, images=images, refusals=refusals)
        if status in ("FAILED", "CANCELED", "UNKNOWN"):
            code = output.get("code") or status
            message = f"{code}: {output.get('message') or 'task ended without a result'}"
            return task_failure(self, message, moderated=code == MODERATION_CODE)
        if status == "RUNNING":
            return TaskOutcome(done=False, progress=max(10, estimated_progress(state, 30)))
        return TaskOutcome(done=False, progress=5)

    def error_message(self, response: httpx.Response) -> str:
        code, message = dashscope_error(response)
        return f"{code}: {message}" if code else message or response.text[:500]

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        error = super().error_from_response(response)
        code, _ = dashscope_error(response)
        if code == MODERATION_CODE:
            error.code = ErrorCode.CONTENT_POLICY
        elif code.startswith("Throttling"):
            error.code = ErrorCode.RATE_LIMITED
        elif code in AUTH_CODES:
            error.code = ErrorCode.AUTH
        return error


def uses_task_api(request: GenerationRequest) -> bool:
    return not request.references and bool(TASK_API_MODEL.fullmatch(request.remote_model))


def dashscope_error(response: httpx.Response) -> tuple[str, str]:
    """DashScope errors are `{"request_id", "code", "message"}` at the top level."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("code") or ""), str(body.get("message") or "")
