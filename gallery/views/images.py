"""One image: the detail page, its files, and the actions on it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from gallery import files, imaging, services, svg
from gallery.models import Board, Visibility
from gallery.views.common import serve_stored, visible_image
from studio.http import HtmxHttpRequest

CONVERSIONS = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}
DETAIL = "gallery/image_detail.html"


@require_GET
def image_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    image = visible_image(request, pk)
    return render(request, DETAIL, _detail_context(request, image))


def _detail_context(request: HtmxHttpRequest, image: Any) -> dict[str, Any]:
    is_owner = image.owner_id == request.user.pk
    job = image.job
    params = image.params or {}
    references = [i for i in job.inputs.all() if i.kind == "reference"]
    remix = {"model": image.model_slug, "prompt": image.prompt}
    if image.aspect_label:
        remix["aspect_ratio"] = image.aspect_label
    return {
        "image": image,
        "job": job,
        "params": params,
        "is_owner": is_owner,
        "is_favourite": services.is_favourite(image=image, user=request.user),
        "references": references,
        "edit_source": services.edit_source(image=image, user=request.user, references=references),
        "lineage": services.lineage(image=image, user=request.user),
        "on_boards": services.boards_with_image(image=image, user=request.user),
        "my_boards": list(Board.objects.filter(owner=request.user).order_by("name")),
        "share_links": list(image.share_links.order_by("-created_at")) if is_owner else [],
        "conversions": CONVERSIONS,
        "remix_query": urlencode(remix),
        "reference_query": urlencode({"reference": image.pk}),
        "visibilities": Visibility.choices,
        "seed": params.get("seed_used", params.get("seed")),
    }


@require_GET
def image_original(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The original bytes, exactly as stored; `?download=1` saves it as a file."""
    image = visible_image(request, pk)
    return serve_stored(
        name=image.file.name,
        content_type=image.mime_type,
        filename=image.download_name,
        attachment=request.GET.get("download") == "1",
    )


@require_GET
def image_thumbnail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The WebP thumbnail; until the task has made it, the original stands in."""
    image = visible_image(request, pk)
    if not image.thumbnail:
        if image.is_svg or image.mime_type == "image/gif":
            raise Http404("This image has no thumbnail yet.")
        response = redirect("gallery:original", pk=image.pk)
        response["Cache-Control"] = "private, no-store"
        return response
    return serve_stored(
        name=image.thumbnail.name, content_type="image/webp", filename=f"studio-{image.pk}-thumb.webp", max_age=86400
    )


@require_GET
def image_convert(request: HtmxHttpRequest, pk: int, fmt: str) -> HttpResponse:
    """Download the image re-encoded as PNG, JPEG or WebP (no metadata)."""
    image = visible_image(request, pk)
    if fmt not in CONVERSIONS:
        raise Http404("We convert to PNG, JPEG or WebP.")
    try:
        data = files.read_bytes(image.file.name)
        if image.is_svg:
            data = svg.rasterise_svg(data, width=image.width, height=image.height) or b""
            if not data:
                raise imaging.ImageError("This server cannot draw SVG files; download the original.")
        converted, mime = imaging.convert_image(data, fmt=fmt)
    except imaging.ImageError as exc:
        messages.error(request, str(exc))
        return redirect("gallery:detail", pk=image.pk)
    response = HttpResponse(converted, content_type=mime)
    ext = "jpg" if fmt == "jpeg" else fmt
    response["Content-Disposition"] = f'attachment; filename="studio-{image.pk}.{ext}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def job_input(request: HtmxHttpRequest, pk: int, input_pk: int) -> HttpResponse:
    """A reference image the job was given, for whoever may see the image it made."""
    image = visible_image(request, pk)
    reference = image.job.inputs.filter(pk=input_pk).first()
    if reference is None:
        raise Http404("No such reference.")
    ext = reference.file.name.rsplit(".", 1)[-1] if "." in reference.file.name else "bin"
    return serve_stored(
        name=reference.file.name,
        content_type=reference.mime_type,
        filename=f"reference-{image.pk}-{reference.position + 1}.{ext}",
        attachment=request.GET.get("download") == "1",
    )


# -- actions -----------------------------------------------------------------------
@require_POST
def image_favourite(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    image = visible_image(request, pk)
    favourite = services.set_favourite(image=image, user=request.user, favourite=request.POST.get("favourite") == "1")
    if request.htmx:
        return render(request, f"{DETAIL}#favourite-button", {"image": image, "is_favourite": favourite})
    return redirect("gallery:detail", pk=image.pk)


@require_POST
def image_visibility(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    image = visible_image(request, pk)
    try:
        services.set_visibility(image=image, user=request.user, visibility=request.POST.get("visibility", ""))
    except services.NotAllowed:
        raise Http404("No such image.") from None
    except services.GalleryError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Visible to: {image.get_visibility_display()}.")
    return redirect("gallery:detail", pk=image.pk)


@require_POST
def image_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    image = visible_image(request, pk)
    try:
        services.delete_image(image=image, user=request.user)
    except services.NotAllowed:
        raise Http404("No such image.") from None
    messages.success(request, "Image moved to the trash. You can restore it for 30 days.")
    target = reverse("gallery:mine")
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@require_POST
def image_restore(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    image = visible_image(request, pk, deleted=True)
    try:
        services.restore_image(image=image, user=request.user)
    except services.GalleryError as exc:
        messages.error(request, exc.message)
        return redirect("gallery:trash")
    messages.success(request, "Image restored.")
    return redirect("gallery:detail", pk=image.pk)


@require_POST
def image_add_to_board(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Put the image on one of the user's boards, or on a new board named in the form."""
    image = visible_image(request, pk)
    membership = request.user.membership()
    try:
        new_name = request.POST.get("new_board", "").strip()
        if new_name:
            if membership is None:
                raise services.GalleryError("Join a team to make boards.")
            board = services.create_board(user=request.user, team_id=membership.team_id, name=new_name)
        else:
            board = Board.objects.filter(owner=request.user, pk=_int(request.POST.get("board"))).first()
            if board is None:
                raise services.GalleryError("Choose one of your boards, or name a new one.")
        services.add_images_to_board(board=board, user=request.user, image_ids=[image.pk])
    except services.GalleryError as exc:
        if request.htmx:
            # The lightbox and drag-and-drop on the gallery show the answer where the user is.
            return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, exc.message)
    else:
        if request.htmx:
            return HttpResponse(f"Added to “{board.name}”.", content_type="text/plain; charset=utf-8")
        messages.success(request, f"Added to “{board.name}”.")
    return redirect("gallery:detail", pk=image.pk)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
