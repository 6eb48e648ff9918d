"""Submit-then-poll machinery shared by the asynchronous families (BFL, Luma, Leonardo,
Replicate, fal, DashScope): one studio job fanned out into several provider tasks, and
the polled tasks turned back into one `PollResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from providers.backends._batches import batch_sizes
from providers.backends.base import ProviderAdapter, check_size, decode_b64_image, looks_like_moderation
from providers.errors import ErrorCode, ProviderError
from providers.types import GeneratedImage, GenerationRequest, GenerationResult, PollResult, Submission

# Polls are small status reads: a short read timeout keeps a stuck provider from
# holding a worker slot (the job layer simply polls again).
POLL_TIMEOUT = 30.0


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
            raise ProviderError(ErrorCode.CONTENT_POLICY, f"{adapter.family}: {refusals[0]}", provider=adapter.family)
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
        error=ProviderError(ErrorCode.UPSTREAM_ERROR, f"{adapter.family}: {message}", provider=adapter.family),
    )
