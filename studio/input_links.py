"""Signed, expiring public links to a job's reference images, for providers that fetch by URL.

Luma Photon only takes references as public URLs (its API takes no inline images). Media has no public
URL of its own, so while a job runs the job layer hands Luma a link signed with SECRET_KEY
that names one JobInput and expires after `LINK_MAX_AGE`; the provider fetches it without
a session. Links stop working as soon as the job has finished.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from studio.models import JobInput

SALT = "studio.input_links"
# Long enough for a provider queue and our retries' back-off; every attempt signs anew.
LINK_MAX_AGE = 60 * 60
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def public_input_url(*, job_input: JobInput) -> str:
    """An absolute URL under STUDIO_PUBLIC_URL that serves this input until it expires."""
    base = settings.STUDIO_PUBLIC_URL.rstrip("/")
    if not base:
        raise ValueError("STUDIO_PUBLIC_URL is not set")
    token = signing.dumps(job_input.pk, salt=SALT)
    # An extension in the name helps fetchers that guess the type from the URL.
    name = f"{token}.{EXTENSIONS.get(job_input.mime_type, 'png')}"
    return base + reverse("job_input_link", args=[name])


@login_not_required  # the provider fetches it; the signature is the credential
@require_safe
def job_input_link(request: HttpRequest, name: str) -> HttpResponse:
    token = name.rpartition(".")[0] or name
    try:
        pk = signing.loads(token, salt=SALT, max_age=LINK_MAX_AGE)
    except signing.SignatureExpired:
        return HttpResponse("This link has expired.", status=410, content_type="text/plain")
    except signing.BadSignature:
        raise Http404("No such file.") from None
    job_input = JobInput.objects.select_related("job").filter(pk=pk).first()
    if job_input is None:
        raise Http404("No such file.")
    if job_input.job.is_terminal:
        return HttpResponse(
            "The job has finished; this link no longer works.", status=410, content_type="text/plain"
        )
    response = FileResponse(job_input.file.open("rb"), content_type=job_input.mime_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
