"""Plain data that crosses the adapter boundary: no ORM, no storage, no Django."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class InputImage:
    """An image sent to a provider: a reference, an edit source or a mask."""

    data: bytes
    mime_type: str  # image/png, image/jpeg, image/webp
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Part:
    """One part of a conversation turn, kept exactly as the provider sent it.

    Gemini needs `thought_signature` passed back unchanged on the next turn.
    """

    text: str | None = None
    image: InputImage | None = None
    thought: bool = False
    thought_signature: str | None = None


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "model"]
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class GenerationRequest:
    """What the studio asks of a provider for one job.

    `width`/`height` are the catalogue's output size for (aspect_ratio, resolution);
    adapters map them to the provider's own vocabulary.
    """

    model: str  # catalogue identifier, e.g. "gemini-2.5-flash-image"
    remote_model: str  # the provider's own model id (the route)
    prompt: str
    count: int = 1
    aspect_ratio: str = "1:1"
    resolution: str = "default"  # "1K" / "2K" / "4K" where offered
    width: int = 1024
    height: int = 1024
    quality: str | None = None
    output_format: str = "png"
    references: tuple[InputImage, ...] = ()
    mask: InputImage | None = None  # studio convention: white = repaint, black = keep
    seed: int | None = None
    negative_prompt: str | None = None
    style: str | None = None
    history: tuple[Turn, ...] = ()
    # Provider-specific extras: background, moderation, output_compression,
    # rendering_speed, grounding, thinking, response_modalities, user, ...
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 120.0  # read timeout for the provider call, seconds
    # Stable across retries of one job (its public id): lets an upstream that honours an
    # Idempotency-Key recognise a repeated submit.
    idempotency_key: str = ""

    @property
    def is_edit(self) -> bool:
        return bool(self.references)


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    mime_type: str
    width: int
    height: int
    revised_prompt: str | None = None


@dataclass(frozen=True)
class GenerationResult:
    images: tuple[GeneratedImage, ...]
    text: str = ""
    # The model's turn as sent (for multi-turn refinement).
    parts: tuple[Part, ...] = ()
    seed: int | None = None
    # Reasons for images the provider refused to deliver (moderated in a 200).
    refusals: tuple[str, ...] = ()
    # Grounding sources, usage, provider ids: JSON-serialisable.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    is_demo: bool = False


@dataclass(frozen=True)
class Submission:
    """A job accepted by an asynchronous provider; everything needed to poll it.

    `state` must be JSON-serialisable: it is stored on the job between polls.
    """

    provider_job_id: str
    poll_url: str | None = None
    state: Mapping[str, Any] = field(default_factory=dict)
    poll_after: float = 2.0  # seconds until the first poll


@dataclass(frozen=True)
class PollResult:
    done: bool
    progress: int = 0  # 0..100
    result: GenerationResult | None = None
    poll_after: float = 2.0


# (percent 0..100, optional preview image bytes). Called from inside an adapter.
ProgressCallback = Callable[[int, bytes | None], None]
