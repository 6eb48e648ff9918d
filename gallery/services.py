"""Storing generated images: files through Django's storage API, rows in the gallery."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from gallery import imaging
from gallery.models import Image

logger = logging.getLogger(__name__)

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/svg+xml": "svg"}


@dataclass(frozen=True)
class StoredFile:
    """An original (and its thumbnail) written to storage, not yet in the database."""

    name: str
    thumb_name: str
    mime_type: str
    sha256: str
    byte_size: int
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    placeholder_colour: str


def save_image_file(*, data: bytes, mime_type: str) -> StoredFile:
    """Write the bytes exactly as received, content-addressed, with a WebP thumbnail.

    Call outside transactions: it is file I/O. Identical bytes land on the same name,
    so they are stored once.
    """
    digest = imaging.sha256_hex(data)
    ext = EXTENSIONS.get(mime_type, "bin")
    name = f"images/{digest[:2]}/{digest}.{ext}"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # a concurrent writer got there first; same bytes
            default_storage.delete(saved)
    width, height = imaging.image_size(data) if mime_type != "image/svg+xml" else (0, 0)
    thumb_name, tw, th, colour = "", 0, 0, "#888888"
    if mime_type != "image/svg+xml":
        thumb = imaging.make_thumbnail(data)
        thumb_name = f"thumbs/{digest[:2]}/{digest}.webp"
        if not default_storage.exists(thumb_name):
            default_storage.save(thumb_name, ContentFile(thumb.data))
        tw, th = thumb.width, thumb.height
        colour = imaging.average_colour(data)
    return StoredFile(
        name=name,
        thumb_name=thumb_name,
        mime_type=mime_type,
        sha256=digest,
        byte_size=len(data),
        width=width,
        height=height,
        thumb_width=tw,
        thumb_height=th,
        placeholder_colour=colour,
    )


def create_image(*, job: object, index: int, stored: StoredFile, revised_prompt: str = "") -> Image:
    """Record one delivered image of a job (inside the job's completing transaction)."""
    model = job.catalog_model  # type: ignore[attr-defined]
    return Image.objects.create(
        job=job,
        index=index,
        owner_id=job.user_id,  # type: ignore[attr-defined]
        team_id=job.team_id,  # type: ignore[attr-defined]
        file=stored.name,
        thumbnail=stored.thumb_name,
        thumb_width=stored.thumb_width,
        thumb_height=stored.thumb_height,
        placeholder_colour=stored.placeholder_colour,
        mime_type=stored.mime_type,
        width=stored.width,
        height=stored.height,
        byte_size=stored.byte_size,
        sha256=stored.sha256,
        prompt=job.prompt,  # type: ignore[attr-defined]
        model_slug=job.model_slug,  # type: ignore[attr-defined]
        tier=model.tier,
        params=job.params,  # type: ignore[attr-defined]
        revised_prompt=revised_prompt,
        is_demo=job.is_demo,  # type: ignore[attr-defined]
    )


def discard_unused_files(stored: Iterable[StoredFile]) -> None:
    """Delete files no image row refers to (a result that arrived after a cancel)."""
    for files in stored:
        if not Image.objects.filter(sha256=files.sha256).exists():
            for name in (files.name, files.thumb_name):
                if name:
                    default_storage.delete(name)


def load_image_bytes(image: Image) -> bytes:
    with default_storage.open(image.file.name, "rb") as handle:
        return handle.read()
