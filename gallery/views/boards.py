"""Boards: list and create, rename, delete, remove images, bulk selection, streamed ZIPs."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from gallery import files, services
from gallery.models import Board, Image, Visibility
from gallery.views.common import safe_next, visible_board
from gallery.zipstream import ZipEntry, stream_zip
from studio.http import HtmxHttpRequest


@require_http_methods(["GET", "POST"])
def board_list(request: HtmxHttpRequest) -> HttpResponse:
    """The boards the user can open; POST creates one in the current team."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        membership = request.user.membership()
        try:
            if membership is None:
                raise services.GalleryError("Join a team to make boards.", field="name")
            board = services.create_board(
                user=request.user,
                team_id=membership.team_id,
                name=request.POST.get("name", ""),
                visibility=request.POST.get("visibility", Visibility.TEAM),
            )
        except services.GalleryError as exc:
            errors[exc.field or "name"] = exc.message
        else:
            messages.success(request, f"Board “{board.name}” created.")
            return redirect("gallery:board", pk=board.pk)
    boards = (
        Board.objects.visible_to(request.user)
        .select_related("owner", "team")
        .annotate(size=Count("items", filter=Q(items__image__deleted_at__isnull=True)))
        .order_by("name", "id")
    )
    context = {"boards": boards, "errors": errors, "values": request.POST, "visibilities": Visibility.choices}
    return render(request, "gallery/board_list.html", context, status=400 if errors else 200)


def _own_board(request: HtmxHttpRequest, pk: int) -> Board:
    board = visible_board(request, pk)
    if board.owner_id != request.user.pk:
        raise Http404("No such board.")
    return board


@require_POST
def board_update(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    board = _own_board(request, pk)
    try:
        services.rename_board(
            board=board, user=request.user, name=request.POST.get("name", ""), visibility=request.POST.get("visibility")
        )
    except services.GalleryError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Board saved.")
    return redirect("gallery:board", pk=board.pk)


@require_POST
def board_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    board = _own_board(request, pk)
    services.delete_board(board=board, user=request.user)
    messages.success(request, f"Board “{board.name}” deleted; its images are still in the gallery.")
    return redirect("gallery:boards")


@require_POST
def board_remove(request: HtmxHttpRequest, pk: int, image_pk: int) -> HttpResponse:
    board = _own_board(request, pk)
    services.remove_images_from_board(board=board, user=request.user, image_ids=[image_pk])
    if request.htmx:
        return HttpResponse("")  # the tile removes itself
    messages.success(request, "Removed from the board.")
    return redirect(safe_next(request, reverse("gallery:board", args=[board.pk])))


@require_GET
def board_zip(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    board = visible_board(request, pk)
    images = services.zip_images_for(user=request.user, board=board)
    return _zip_response(images, name=slugify(board.name) or f"board-{board.pk}")


@require_POST
def selection(request: HtmxHttpRequest) -> HttpResponse:
    """Bulk actions on the ticked tiles: add to a board, remove from a board, or a ZIP."""
    action = request.POST.get("action", "")
    ids = request.POST.getlist("image")
    back = safe_next(request, reverse("gallery:team"))
    if not ids:
        messages.error(request, "Tick at least one image first.")
        return redirect(back)
    if action == "zip":
        images = services.zip_images_for(user=request.user, image_ids=ids)
        if not images:
            raise Http404("None of these images can be downloaded.")
        return _zip_response(images, name=f"studio-selection-{timezone.now():%Y%m%d-%H%M}")
    raw_board = request.POST.get("board", "")
    board = Board.objects.filter(owner=request.user, pk=int(raw_board)).first() if raw_board.isdigit() else None
    try:
        if board is None:
            raise services.GalleryError("Choose one of your boards.")
        if action == "add":
            added = services.add_images_to_board(board=board, user=request.user, image_ids=ids)
            done = f"Added {added} image{'s' if added != 1 else ''} to “{board.name}”."
        elif action == "remove":
            removed = services.remove_images_from_board(board=board, user=request.user, image_ids=ids)
            done = f"Removed {removed} image{'s' if removed != 1 else ''} from “{board.name}”."
        else:
            raise services.GalleryError("Unknown action.")
    except services.GalleryError as exc:
        if request.htmx:
            return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, exc.message)
        return redirect(back)
    if request.htmx:
        # Drag and drop onto a board in the sidebar: the answer is read out where the drop was.
        return HttpResponse(done, content_type="text/plain; charset=utf-8")
    messages.success(request, done)
    return redirect(back)


def _zip_response(images: list[Image], *, name: str) -> StreamingHttpResponse:
    """Stream the originals as a ZIP: one chunk at a time, never the archive in memory."""
    if not images:
        raise Http404("There is nothing to download.")
    entries = [ZipEntry(image.download_name, _lazy_chunks(image.file.name)) for image in images]
    response = StreamingHttpResponse(stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _lazy_chunks(name: str) -> Iterator[bytes]:
    # A generator: the file is opened only when the archive reaches it.
    yield from files.iter_chunks(name)
