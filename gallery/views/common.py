"""What the gallery views share: the typed request, access lookups and file responses.

Every file goes through a view that checks who may see it. On S3 the view answers with
a redirect to a signed, expiring URL once access is checked; on the filesystem it
streams the file. Anything the user may not see answers 404, so its existence is not
leaked.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme

from gallery import files
from gallery.models import Board, Image
from studio.http import HtmxHttpRequest

# Applied to every stored file we serve: an SVG (or anything that sniffs as markup)
# opened directly can run nothing, load nothing and reach nothing.
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def visible_image(request: HtmxHttpRequest, pk: int, *, deleted: bool = False) -> Image:
    """An image the user may see (or, with `deleted`, one of their own in the trash)."""
    images = Image.objects.deleted().filter(owner=request.user) if deleted else Image.objects.visible_to(request.user)
    return get_object_or_404(images.select_related("owner", "job"), pk=pk)


def visible_board(request: HtmxHttpRequest, pk: int) -> Board:
    return get_object_or_404(Board.objects.visible_to(request.user).select_related("owner"), pk=pk)


def serve_stored(
    *,
    name: str,
    content_type: str,
    filename: str,
    attachment: bool = False,
    max_age: int = 3600,
) -> HttpResponse:
    """Answer with a stored file's exact bytes (or a signed URL to them on S3)."""
    if not name:
        raise Http404("No such file.")
    if content_type == "image/svg+xml":
        # SVG is active content: always a download when opened directly (an <img> still
        # shows it), and never handed to the bucket, whose headers we do not control.
        attachment = True
    elif files.signs_urls():
        response: HttpResponse = HttpResponseRedirect(
            files.signed_url(name, content_type=content_type, filename=filename, attachment=attachment)
        )
        response["Cache-Control"] = "private, no-store"
        return response
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=content_type,
        as_attachment=attachment,
        filename=filename,
    )
    response["Content-Security-Policy"] = FILE_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response


def safe_next(request: HtmxHttpRequest, fallback: str) -> str:
    """Where to go back to after a POST: the `next` field if it is ours, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Only a path: redirect() would try any other string as a view name.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
