"""Making one studio job's images with as many provider calls as the per-call limit needs.

`run_batches` is the synchronous loop of the families that name a seed per call (Ideogram,
Stability); `fan_out` the one of the Images-API and Gemini adapters, which keeps provider
metadata, text and conversation parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from providers.backends.base import ProviderAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GeneratedImage, GenerationRequest, GenerationResult, ProgressCallback

MAX_SEED = 2_147_483_647


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
            raise ProviderError(ErrorCode.CONTENT_POLICY, f"{adapter.family}: {refusals[0]}", provider=adapter.family)
        raise ProviderError(ErrorCode.UPSTREAM_ERROR, f"{adapter.family}: no image returned", provider=adapter.family)
    return GenerationResult(
        images=tuple(images),
        seed=seeds[0] if seeds else None,
        refusals=tuple(refusals),
        metadata={"failures": failures} if failures else {},
    )


def fan_out(
    request: GenerationRequest,
    per_call: int,
    call: Callable[[int], GenerationResult],
    *,
    on_progress: ProgressCallback | None = None,
) -> GenerationResult:
    """Make `request.count` images with as many calls as the provider's per-call limit needs.

    A failure after some images arrived does not throw those paid images away: the result
    carries what was delivered, with the failure in `refusals` (moderation) or
    `metadata["errors"]`, and the job layer charges only for what came back.
    """
    results: list[GenerationResult] = []
    refusals: list[str] = []
    errors: list[str] = []
    requested = 0
    while requested < request.count:
        n = min(per_call, request.count - requested)
        try:
            result = call(n)
        except ProviderError as exc:
            if not results:
                raise
            (refusals if exc.code is ErrorCode.CONTENT_POLICY else errors).append(exc.message)
            break
        # Counted as asked, not as delivered: images a provider filtered out of a batch
        # are refusals, and asking again would only be refused again.
        requested += n
        results.append(result)
        refusals.extend(result.refusals)
        if on_progress is not None and requested < request.count:
            on_progress(requested * 100 // request.count, None)
    first = results[0]
    metadata: dict[str, Any] = (
        dict(first.metadata) if len(results) == 1 else {"calls": [dict(r.metadata) for r in results]}
    )
    if errors:
        metadata["errors"] = errors
    return GenerationResult(
        images=tuple(image for result in results for image in result.images)[: request.count],
        text="\n".join(dict.fromkeys(r.text for r in results if r.text)),
        # The model turn of the first call: a thread can only continue from one turn.
        parts=first.parts,
        seed=first.seed,
        refusals=tuple(refusals),
        metadata=metadata,
    )
