"""Black Forest Labs (FLUX): submit a task, poll its `polling_url` (providers.md §3).

This module also holds the task machinery the other submit-then-poll families share
(Luma, Leonardo, Replicate, fal, DashScope): fanning one studio job out into several
provider tasks, and turning the polled tasks back into one `PollResult`. Ideogram and
Stability use `run_batches` for the same fan-out as a synchronous loop.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from providers.backends.base import (
    ProviderAdapter,
    check_size,
    decode_b64_image,
    extract_error_message,
    looks_like_moderation,
)
from providers.errors import ErrorCode, ProviderError
from providers.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    InputImage,
    PollResult,
    ProgressCallback,
    Submission,
)

# Polls are small status reads: a short read timeout keeps a stuck provider from
# holding a worker slot (the job layer simply polls again).
POLL_TIMEOUT = 30.0
MAX_SEED = 2_147_483_647


# -- shared task machinery -----------------------------------------------------------
@dataclass(frozen=True)
class TaskOutcome:
    """What one provider task says when polled."""

    done: bool
    progress: int = 0
    # Result locations to fetch now: URLs (they expire) or data: URIs.
    images: tuple[str, ...] = ()
    # Images the provider withheld for moderation (delivered siblings still count).
    refusals: tuple[str, ...] = ()
    error: ProviderError | None = None
    seed: int | None = None


def batch_sizes(count: int, per_call: int) -> list[int]:
    """Split `count` images into provider calls of at most `per_call` images each."""
    per_call = max(per_call, 1)
    full, rest = divmod(max(count, 1), per_call)
    return [per_call] * full + ([rest] if rest else [])


def images_per_call(request: GenerationRequest, default: int) -> int:
    """The catalogue may say how many images one call of this model returns."""
    return int(request.options.get("images_per_call", default))


def seed_for(seed: int | None, index: int, *, limit: int = MAX_SEED) -> int | None:
    """Seed of the index-th call: the same seed in every call would repeat one image."""
    if seed is None:
        return None
    return (seed + index) % (limit + 1)


def expected_size(request: GenerationRequest) -> dict[str, Any]:
    """What `check_size` needs after a job has been stored between polls."""
    return {
        "model": request.model,
        "remote_model": request.remote_model,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "width": request.width,
        "height": request.height,
    }


def data_uri(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def file_part(stem: str, image: InputImage) -> tuple[str, bytes, str]:
    """A multipart file tuple named after the image's type."""
    extension = image.mime_type.split("/")[-1].replace("jpeg", "jpg")
    return f"{stem}.{extension}", image.data, image.mime_type


def plain_b64(image: InputImage) -> str:
    return base64.b64encode(image.data).decode("ascii")


def require_provider_url(url: str, adapter: ProviderAdapter, domain: str) -> str:
    """Refuse to send our key to a host that is neither the provider's nor our base URL's.

    Polling/result URLs come from the provider's answer and the key header goes with them.
    """
    host = urlsplit(url).hostname or ""
    base_host = urlsplit(adapter.base_url).hostname or ""
    if host in (base_host, domain) or host.endswith("." + domain):
        return url
    raise ProviderError(
        ErrorCode.UPSTREAM_ERROR,
        f"{adapter.family}: unexpected polling host {host!r}",
        provider=adapter.family,
    )


def elapsed_since(state: Mapping[str, Any]) -> float:
    return max(time.time() - float(state.get("submitted_at", time.time())), 0.0)


def estimated_progress(state: Mapping[str, Any], typical_seconds: float) -> int:
    """A progress guess from elapsed time, for providers that report none. Stops at 90."""
    return min(90, int(90 * elapsed_since(state) / typical_seconds))


def next_poll_delay(state: Mapping[str, Any], *, first: float, ceiling: float) -> float:
    """Poll often at first, then back off to `ceiling` as the task ages."""
    return min(max(first, elapsed_since(state) / 5), ceiling)


def fastapi_detail(body: Any) -> str:
    """The message of a FastAPI `{"detail": [{"loc", "msg", ...}]}` or `{"detail": "..."}` body."""
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, list):
        messages = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                messages.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
        return "; ".join(messages)[:500]
    if isinstance(detail, str):
        return detail[:500]
    return ""


def read_error_message(response: httpx.Response) -> str:
    """An error body's message, understanding FastAPI's validation shape (BFL, Luma, fal)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return fastapi_detail(body) or extract_error_message(body)


def submit_tasks(
    adapter: ProviderAdapter,
    request: GenerationRequest,
    submit_one: Callable[[int, int], dict[str, Any]],
    *,
    per_call: int,
    first_poll: float,
) -> Submission:
    """Start one provider task per batch; `submit_one(index, n_images)` returns its task dict.

    Each task dict holds at least "id" (and "poll_url" when the provider gives one).
    A failed submit after an accepted one is recorded, not raised: raising would make
    the job layer submit again and pay twice for the tasks already running.
    """
    tasks: list[dict[str, Any]] = []
    lost: list[str] = []
    for index, n in enumerate(batch_sizes(request.count, per_call)):
        try:
            tasks.append({**submit_one(index, n), "count": n})
        except ProviderError as exc:
            if not tasks:
                raise
            lost.append(exc.message)
            break
    state = {
        "tasks": tasks,
        "submitted_at": time.time(),
        "expect": expected_size(request),
        "lost": lost,
    }
    return Submission(
        provider_job_id=str(tasks[0]["id"]),
        poll_url=tasks[0].get("poll_url"),
        state=state,
        poll_after=first_poll,
    )


def finish_poll(
    adapter: ProviderAdapter,
    state: Mapping[str, Any],
    outcomes: Sequence[TaskOutcome],
    *,
    first_poll: float,
    max_poll: float,
) -> PollResult:
    """Combine the tasks' outcomes: wait for all, then fetch every image at once."""
    if not all(o.done for o in outcomes):
        progress = sum(100 if o.done else o.progress for o in outcomes) // len(outcomes)
        return PollResult(
            done=False,
            progress=min(progress, 99),
            poll_after=next_poll_delay(state, first=first_poll, ceiling=max_poll),
        )
    expect = GenerationRequest(prompt="", **state["expect"])
    images: list[GeneratedImage] = []
    for outcome in outcomes:
        for location in outcome.images:
            image = fetch_result(adapter, location)
            check_size(expect, image, family=adapter.family)
            images.append(image)
    refusals = tuple(r for o in outcomes for r in o.refusals)
    errors = [o.error for o in outcomes if o.error is not None]
    if not images:
        if refusals:
            raise ProviderError(
                ErrorCode.CONTENT_POLICY, f"{adapter.family}: {refusals[0]}", provider=adapter.family
            )
        if errors:
            raise errors[0]
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR, f"{adapter.family}: finished without an image", provider=adapter.family
        )
    metadata: dict[str, Any] = {"provider_job_ids": [str(t["id"]) for t in state["tasks"]]}
    failures = [*state.get("lost", ()), *(e.message for e in errors)]
    if failures:
        metadata["failures"] = failures
    return PollResult(
        done=True,
        progress=100,
        result=GenerationResult(
            images=tuple(images),
            seed=next((o.seed for o in outcomes if o.seed is not None), None),
            refusals=refusals,
            metadata=metadata,
        ),
    )


def fetch_result(adapter: ProviderAdapter, location: str) -> GeneratedImage:
    if location.startswith("data:"):
        return decode_b64_image(location, provider=adapter.family)
    return adapter.download(location)


def task_failure(adapter: ProviderAdapter, message: str, *, moderated: bool = False) -> TaskOutcome:
    """A terminal task failure: a refusal when it is (or reads as) moderation, else an error."""
    if moderated or looks_like_moderation(message):
        return TaskOutcome(done=True, refusals=(message,))
    return TaskOutcome(
        done=True,
        error=ProviderError(
            ErrorCode.UPSTREAM_ERROR, f"{adapter.family}: {message}", provider=adapter.family
        ),
    )


@dataclass(frozen=True)
class Batch:
    """What one synchronous call delivered."""

    images: tuple[GeneratedImage, ...] = ()
    refusals: tuple[str, ...] = ()
    seed: int | None = None


def run_batches(
    adapter: ProviderAdapter,
    request: GenerationRequest,
    call_one: Callable[[int, int], Batch],
    *,
    per_call: int,
    on_progress: ProgressCallback | None = None,
) -> GenerationResult:
    """Make the synchronous calls one job needs; `call_one(index, n_images)` makes one.

    Once images are in hand a failing later call is recorded, not raised: those images
    are paid for, and a retry of the whole job would pay for them again.
    """
    sizes = batch_sizes(request.count, per_call)
    images: list[GeneratedImage] = []
    refusals: list[str] = []
    seeds: list[int] = []
    failures: list[str] = []
    for index, n in enumerate(sizes):
        try:
            batch = call_one(index, n)
        except ProviderError as exc:
            if not images:
                raise
            failures.append(exc.message)
            break
        images.extend(batch.images)
        refusals.extend(batch.refusals)
        if batch.seed is not None:
            seeds.append(batch.seed)
        if on_progress is not None:
            on_progress(100 * (index + 1) // len(sizes), None)
    if not images:
        if refusals:
            raise ProviderError(
                ErrorCode.CONTENT_POLICY, f"{adapter.family}: {refusals[0]}", provider=adapter.family
            )
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR, f"{adapter.family}: no image returned", provider=adapter.family
        )
    return GenerationResult(
        images=tuple(images),
        seed=seeds[0] if seeds else None,
        refusals=tuple(refusals),
        metadata={"failures": failures} if failures else {},
    )


# -- BFL ------------------------------------------------------------------------------
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
        # No num_images on any FLUX endpoint: one task per image (providers.md §13.4).
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
        # /v1/get_result on our base host ("Task not found"), providers.md §3.
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
    """The JSON body for one FLUX task; fields differ per endpoint family (providers.md §3.1)."""
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
        # Fill repaints white and keeps black (docs.bfl.ai FLUX.1 Fill; providers.md §13.2
        # had it unverified): the studio's own convention, so the mask goes as painted.
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
