"""Browsing and serving stored images. Every file goes through an access check."""

from __future__ import annotations

import base64
from datetime import datetime

from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from gallery.models import Image

PAGE_SIZE = 60


def encode_cursor(image: Image) -> str:
    raw = f"{image.created_at.isoformat()}|{image.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|")
        return datetime.fromisoformat(stamp), int(pk)
    except (ValueError, UnicodeDecodeError):
        return None


@require_GET
def my_images(request: HttpRequest) -> HttpResponse:
    """The signed-in user's images, newest first, paged by keyset (no OFFSET)."""
    images = Image.objects.live().filter(owner=request.user).newest_first()
    cursor = decode_cursor(request.GET.get("after", ""))
    if cursor:
        stamp, pk = cursor
        images = images.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk))
    page = list(images[: PAGE_SIZE + 1])
    next_cursor = encode_cursor(page[PAGE_SIZE - 1]) if len(page) > PAGE_SIZE else ""
    context = {"images": page[:PAGE_SIZE], "next_cursor": next_cursor}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "gallery/image_list.html#grid-page", context)
    return render(request, "gallery/image_list.html", context)


def _visible_image(request: HttpRequest, pk: int) -> Image:
    # Another account's image answers 404: its existence is not leaked.
    return get_object_or_404(Image.objects.visible_to(request.user).select_related("owner", "job"), pk=pk)


@require_GET
def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    image = _visible_image(request, pk)
    return render(request, "gallery/image_detail.html", {"image": image})


@require_GET
def image_original(request: HttpRequest, pk: int) -> FileResponse:
    """The original bytes, exactly as stored; `?download=1` saves it as a file."""
    image = _visible_image(request, pk)
    as_attachment = request.GET.get("download") == "1" or image.mime_type == "image/svg+xml"
    response = FileResponse(
        default_storage.open(image.file.name, "rb"),
        content_type=image.mime_type,
        as_attachment=as_attachment,
        filename=f"studio-{image.pk}.{image.extension}",
    )
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def image_thumbnail(request: HttpRequest, pk: int) -> FileResponse:
    image = _visible_image(request, pk)
    if not image.thumbnail:
        raise Http404("This image has no thumbnail.")
    response = FileResponse(default_storage.open(image.thumbnail.name, "rb"), content_type="image/webp")
    response["Cache-Control"] = "private, max-age=86400"
    return response
