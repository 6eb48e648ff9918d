"""Files through Django's storage API: the filesystem by default, an S3-compatible bucket
when configured (django-storages). Nothing here knows about rows or access rules.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

CHUNK = 64 * 1024


def image_name(digest: str, ext: str) -> str:
    """Content-addressed name of an original: identical bytes, identical name."""
    return f"images/{digest[:2]}/{digest}.{ext}"


def thumbnail_name(digest: str) -> str:
    return f"thumbs/{digest[:2]}/{digest}.webp"


def store_bytes(name: str, data: bytes) -> None:
    """Write `data` under `name` unless it is already there (content-addressed, so same bytes)."""
    if default_storage.exists(name):
        return
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # a concurrent writer got there first; same bytes
        default_storage.delete(saved)


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def iter_chunks(name: str, *, size: int = CHUNK) -> Iterator[bytes]:
    """Yield a stored file in chunks, so a ZIP of many originals never sits in memory."""
    with default_storage.open(name, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def delete_file(name: str) -> None:
    if name:
        default_storage.delete(name)


def signs_urls() -> bool:
    """Whether to send browsers to signed, expiring URLs (S3 with querystring auth)."""
    if not settings.STUDIO_MEDIA_REDIRECT:
        return False
    return bool(getattr(default_storage, "querystring_auth", False)) and hasattr(
        default_storage, "bucket_name"
    )


def signed_url(name: str, *, content_type: str, filename: str = "", attachment: bool = False) -> str:
    """A signed, expiring GET URL for `name` (only call when `signs_urls()`).

    The response headers are part of the signature, so the bucket answers with our
    content type and disposition whatever the object's own metadata says.
    """
    disposition = "attachment" if attachment else "inline"
    parameters = {
        "ResponseContentType": content_type,
        "ResponseContentDisposition": f'{disposition}; filename="{filename}"' if filename else disposition,
    }
    return default_storage.url(name, parameters=parameters)
