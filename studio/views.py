"""The studio page, job cards and the credit badge. Thin: parse, call a service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event
from django_htmx.middleware import HtmxDetails

from studio.models import Job, Membership, Transfer
from studio.models.accounts import User
from studio.services import credits
from studio.services.composer import composer_state
from studio.services.errors import InsufficientCredits, StudioError, ValidationFailed
from studio.services.jobs import Upload, cancel_job, submit_job, validate_job

COMPOSER_FIELDS = (
    "model", "prompt", "aspect_ratio", "resolution", "quality", "count", "seed",
    "negative_prompt", "style", "output_format", "parent",
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: User


def _membership_or_none(request: HtmxHttpRequest) -> Membership | None:
    return request.user.membership()


def _recent_jobs(membership: Membership) -> list[Job]:
    return list(
        Job.objects.filter(user=membership.user, team=membership.team)
        .select_related("catalog_model")
        .prefetch_related("images")[:12]
    )


# Studio page -----------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def home(request: HtmxHttpRequest) -> HttpResponse:
    membership = _membership_or_none(request)
    if membership is None:
        return render(request, "studio/no_team.html")
    if not membership.can_generate:
        # Viewers browse only: no composer, and a submit is refused before any work.
        refused = request.method == "POST"
        return render(request, "team/viewer_home.html", {"refused": refused}, status=403 if refused else 200)
    if request.method == "POST":
        return _submit(request, membership)
    state = composer_state(membership=membership, values=request.GET)
    if request.htmx and request.htmx.target == "composer-options":
        return render(request, "studio/home.html#composer-options", {"composer": state})
    return render(
        request,
        "studio/home.html",
        {"composer": state, "jobs": _recent_jobs(membership), "errors": {}},
    )


def _submit(request: HtmxHttpRequest, membership: Membership) -> HttpResponse:
    values = {name: request.POST.get(name, "") for name in COMPOSER_FIELDS}
    parent = None
    if values["parent"]:
        parent = Job.objects.filter(public_id=values["parent"], user=request.user).first()
    try:
        spec = validate_job(
            membership=membership,
            model=values["model"],
            prompt=values["prompt"],
            aspect_ratio=values["aspect_ratio"],
            resolution=values["resolution"],
            quality=values["quality"],
            count=values["count"],
            seed=values["seed"],
            negative_prompt=values["negative_prompt"],
            style=values["style"],
            output_format=values["output_format"],
            references=[_upload(f) for f in request.FILES.getlist("references")],
            mask=_upload(request.FILES["mask"]) if "mask" in request.FILES else None,
        )
        job = submit_job(membership=membership, spec=spec, parent=parent)
    except (StudioError, TooLarge) as exc:
        errors = _errors_of(exc)
        state = composer_state(membership=membership, values=values)
        context = {"composer": state, "errors": errors, "jobs": _recent_jobs(membership)}
        if request.htmx:
            response = render(request, "studio/home.html#composer", context)
            return reswap(retarget(response, "#composer"), "outerHTML")
        return render(request, "studio/home.html", context, status=400)
    if request.htmx:
        response = render(request, "studio/job_detail.html#job-card", {"job": job})
        return trigger_client_event(response, "credits-changed")
    messages.success(request, "Job submitted.")
    return redirect("studio:home")


class TooLarge(Exception):
    pass


def _upload(uploaded: Any) -> Upload:
    from django.conf import settings

    # Refuse before reading a huge file into memory.
    if uploaded.size > settings.STUDIO_MAX_UPLOAD_BYTES:
        limit = settings.STUDIO_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise TooLarge(f"{uploaded.name}: the file is larger than {limit} MB.")
    return Upload(data=uploaded.read(), name=uploaded.name or "")


def _errors_of(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationFailed):
        return exc.errors
    if isinstance(exc, TooLarge):
        return {"references": str(exc)}
    if isinstance(exc, InsufficientCredits):
        return {"credits": exc.message}
    assert isinstance(exc, StudioError)
    return {exc.field or "form": exc.message}


# Jobs ------------------------------------------------------------------------------
@require_GET
def job_detail(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    job = get_object_or_404(
        Job.objects.select_related("catalog_model", "parent").prefetch_related("images"),
        public_id=public_id,
        user=request.user,
    )
    if request.htmx:
        response = render(request, "studio/job_detail.html#job-card", {"job": job})
        if job.is_terminal:
            # The charge or refund has happened: the badge should show it.
            trigger_client_event(response, "credits-changed")
        return response
    thread = list(job.children.filter(user=request.user).prefetch_related("images"))
    return render(request, "studio/job_detail.html", {"job": job, "children": thread})


@require_POST
def job_cancel(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    job = get_object_or_404(Job, public_id=public_id, user=request.user)
    try:
        job = cancel_job(job=job, user=request.user)
    except StudioError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
    if request.htmx:
        job.refresh_from_db()
        response = render(request, "studio/job_detail.html#job-card", {"job": job})
        return trigger_client_event(response, "credits-changed")
    return redirect("studio:job_detail", public_id=job.public_id)


# Credits ---------------------------------------------------------------------------
@require_GET
def my_credits(request: HtmxHttpRequest) -> HttpResponse:
    membership = _membership_or_none(request)
    if membership is None:
        return render(request, "studio/no_team.html")
    balance = credits.member_balance(membership=membership)
    if request.htmx:
        return render(request, "includes/credit_badge.html", {"balance": balance})
    account = credits.member_account(team=membership.team, user=membership.user)
    transfers = (
        Transfer.objects.filter(debit=account) | Transfer.objects.filter(credit=account)
    ).select_related("job", "debit", "credit", "actor")
    page = Paginator(transfers.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "studio/credits.html",
        {"balance": balance, "page": page, "account": account},
    )
