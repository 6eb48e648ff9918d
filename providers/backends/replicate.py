"""Replicate predictions: create, then poll `urls.get` (providers.md §10.1).

Each Replicate model has its own input schema, and Replicate drops inputs a model does
not declare (replicate/cog#2943), so the common fields are sent as they are and the
catalogue's `options` name the model-specific ones (see `model_inputs`). fal shares
these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.backends.base import ProviderAdapter
from providers.backends.bfl import (
    POLL_TIMEOUT,
    TaskOutcome,
    data_uri,
    estimated_progress,
    finish_poll,
    images_per_call,
    require_provider_url,
    seed_for,
    submit_tasks,
    task_failure,
)
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, PollResult, Submission

OUTPUT_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp"}


def route_for(request: GenerationRequest) -> str:
    """Edits may go to another model/app (e.g. a Kontext or `/edit` route) named by the catalogue."""
    if request.references and request.options.get("edit_remote_model"):
        return str(request.options["edit_remote_model"])
    return request.remote_model


def size_inputs(request: GenerationRequest, default: str) -> dict[str, Any]:
    """The size in the field style the model uses: options["size_field"] or `default`.

    "aspect_ratio" -> "16:9"; "image_size" -> {"width", "height"} (fal); "width_height" -> two ints.
    """
    style = request.options.get("size_field", default)
    if style == "image_size":
        return {"image_size": {"width": request.width, "height": request.height}}
    if style == "width_height":
        return {"width": request.width, "height": request.height}
    return {"aspect_ratio": request.aspect_ratio}


def reference_inputs(
    request: GenerationRequest, *, single: str, multiple: str, family: str
) -> dict[str, Any]:
    """References as data URIs, under the field the model reads.

    Defaults: one reference -> `single` (a string), several -> `multiple` (a list).
    options["reference_field"] names another field; options["reference_list"] says whether it is a list.
    """
    refs = request.references
    if not refs:
        return {}
    uris = [data_uri(ref) for ref in refs]
    field = request.options.get("reference_field")
    if field:
        as_list = bool(request.options.get("reference_list", len(uris) > 1))
    else:
        field, as_list = (single, False) if len(uris) == 1 else (multiple, True)
    if not as_list and len(uris) > 1:
        raise ProviderError(
            ErrorCode.INVALID_REQUEST, f"{family}: {request.model} takes one reference image", provider=family
        )
    return {field: uris if as_list else uris[0]}


def model_inputs(
    request: GenerationRequest,
    index: int,
    n: int,
    *,
    size_default: str,
    count_field: str,
    single_ref: str,
    multiple_refs: str,
    mask_field: str,
    family: str,
) -> dict[str, Any]:
    """The input object most image models on Replicate and fal understand."""
    inputs: dict[str, Any] = {"prompt": request.prompt, **size_inputs(request, size_default)}
    if n > 1:
        inputs[count_field] = n
    seed = seed_for(request.seed, index)
    if seed is not None:
        inputs["seed"] = seed
    if request.negative_prompt:
        inputs["negative_prompt"] = request.negative_prompt
    inputs.update(reference_inputs(request, single=single_ref, multiple=multiple_refs, family=family))
    if request.mask is not None:
        # Passed as painted (white = repaint): the FLUX Fill / SDXL inpaint convention.
        inputs[request.options.get("mask_field", mask_field)] = data_uri(request.mask)
    # Model-specific extras the catalogue fixes per model (guidance, safety level, …).
    inputs.update(request.options.get("input", {}))
    return inputs


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
                # Safety refusals read "…flagged as sensitive… (E005)" (providers.md §10.1).
                return task_failure(self, message, moderated="E005" in message)
            case "processing":
                return TaskOutcome(done=False, progress=max(10, estimated_progress(state, 15)))
            case _:
                return TaskOutcome(done=False, progress=5)
