"""Share links: made and revoked by the image's owner; the public page shows that image only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from gallery import services
from gallery.models import Image, ShareLink
from gallery.views.common import serve_stored, visible_image
from studio.http import HtmxHttpRequest

# Short, so a revoked link stops working in browsers within minutes.
SHARED_MAX_AGE = 300


@require_POST
def share_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    image = visible_image(request, pk)
    try:
        days = services.parse_expiry_days(request.POST.get("expires_in_days", ""))
        services.create_share_link(image=image, user=request.user, expires_in_days=days)
    except services.NotAllowed:
        raise Http404("No such image.") from None
    except services.GalleryError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Share link created: anyone with it can see this image.")
    return redirect("gallery:detail", pk=image.pk)


@require_POST
def share_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(ShareLink.objects.select_related("image"), pk=pk, image__owner=request.user)
    services.revoke_share_link(link=link, user=request.user)
    messages.success(request, "Share link revoked.")
    return redirect("gallery:detail", pk=link.image_id)


def _shared(token: str) -> Image:
    image = services.shared_image(token=token)
    if image is None:
        raise Http404("This link has expired or was revoked.")
    return image


@login_not_required
@require_GET
def shared_page(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """The public page of one shared image: the picture, its prompt and a download."""
    image = _shared(token)
    response = render(request, "gallery/shared_image.html", {"image": image, "token": token})
    response["Cache-Control"] = f"private, max-age={SHARED_MAX_AGE}"
    # The token is in the URL: never send it on to another site.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@login_not_required
@require_GET
def shared_original(request: HtmxHttpRequest, token: str) -> HttpResponse:
    image = _shared(token)
    return serve_stored(
        name=image.file.name,
        content_type=image.mime_type,
        filename=image.download_name,
        attachment=request.GET.get("download") == "1",
        max_age=SHARED_MAX_AGE,
    )


@login_not_required
@require_GET
def shared_thumbnail(request: HtmxHttpRequest, token: str) -> HttpResponse:
    image = _shared(token)
    if not image.thumbnail:
        if image.is_svg or image.mime_type == "image/gif":
            raise Http404("No thumbnail yet.")
        return redirect("gallery:shared_original", token=token)
    return serve_stored(
        name=image.thumbnail.name,
        content_type="image/webp",
        filename=f"studio-{image.pk}-thumb.webp",
        max_age=SHARED_MAX_AGE,
    )
