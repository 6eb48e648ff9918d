"""The studio: composer, compare, batch, templates, job cards and threads, credits.

Thin: parse, call a service, render. One view, one URL; HTMX requests get a fragment.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from studio.http import HtmxHttpRequest, TooLarge, service_errors
from studio.models import Job, JobPriority, JobStatus, Membership, Transfer
from studio.models.jobs import TERMINAL_STATUSES, WATCH_SALT, watch_state
from studio.services import credits
from studio.services.composer import (
    BATCH_COLUMNS,
    COMPARE_MAX,
    batch_summary,
    build_menu,
    compare_quote,
    compare_specs,
    compose_job,
    composer_state,
    parse_batch,
    preview_batch,
    refine_spec,
    thread_of,
)
from studio.services.errors import StudioError, ValidationFailed
from studio.services.jobs import Upload, cancel_job, queue_position, submit_job, submit_jobs, waiting_for_capacity
from studio.services.templates_library import RATIOS, TEMPLATES, get_template

COMPOSER_FIELDS = (
    "model", "prompt", "aspect_ratio", "resolution", "quality", "count", "seed",
    "negative_prompt", "style", "output_format", "parent",
)


def _upload(uploaded: Any, *, field: str = "references") -> Upload:
    # Refuse before reading a huge file into memory.
    if uploaded.size > settings.STUDIO_MAX_UPLOAD_BYTES:
        limit = settings.STUDIO_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise TooLarge(f"{uploaded.name}: the file is larger than {limit} MB.", field=field)
    return Upload(data=uploaded.read(), name=uploaded.name or "")


def _errors_of(exc: Exception) -> dict[str, str]:
    return service_errors(exc, default_field="form", credits_field="credits")


def _live(jobs: list[Job]) -> list[Job]:
    """Give each card what it shows while a job waits or runs: queue position, elapsed time."""
    now = timezone.now()
    for job in jobs:
        job.queue_pos = queue_position(job=job)
        job.waiting_for = waiting_for_capacity(job=job) if job.queue_pos else ""
        if not job.is_terminal:
            seconds = int((now - (job.started_at or job.created_at)).total_seconds())
            job.elapsed = f"{seconds // 60}:{seconds % 60:02d}"
    return jobs


def _job_list(membership: Membership) -> list[Job]:
    """Every job still under way (so a reload shows them), then the latest finished ones."""
    mine = Job.objects.filter(user=membership.user, team=membership.team).select_related("catalog_model")
    active = list(mine.active().prefetch_related("images")[:50])
    done = list(mine.exclude(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).prefetch_related("images")[:8])
    return _live(sorted(active + done, key=lambda j: (j.created_at, j.pk), reverse=True))


# Studio page -----------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def home(request: HtmxHttpRequest) -> HttpResponse:
    membership = request.user.membership()
    if membership is None:
        return render(request, "studio/no_team.html")
    if not membership.can_generate:
        # Viewers browse only: no composer, and a submit is refused before any work.
        refused = request.method == "POST"
        return render(request, "team/viewer_home.html", {"refused": refused}, status=403 if refused else 200)
    if request.method == "POST":
        return _submit(request, membership)
    if request.htmx and request.htmx.target == "queue":
        return render(request, "studio/home.html#queue", {"jobs": _job_list(membership)})
    state = composer_state(
        membership=membership,
        values=request.GET,
        reference_ids=request.GET.getlist("reference") + request.GET.getlist("reference_image"),
        edit_id=request.GET.get("edit", ""),
        query=request.GET.get("q", ""),
    )
    if request.htmx and request.htmx.target in ("composer-options", "price"):
        partial = "composer-options" if request.htmx.target == "composer-options" else "composer-price"
        return render(request, f"studio/home.html#{partial}", {"composer": state})
    context = {"composer": state, "jobs": _job_list(membership), "errors": {}, "templates": TEMPLATES,
               "q": request.GET.get("q", "")}
    return render(request, "studio/home.html", context)


def _submit(request: HtmxHttpRequest, membership: Membership) -> HttpResponse:
    values = {name: request.POST.get(name, "") for name in COMPOSER_FIELDS}
    image_ids = request.POST.getlist("reference_image")
    try:
        uploads = [_upload(f) for f in request.FILES.getlist("references")]
        mask = _upload(request.FILES["mask"], field="mask") if "mask" in request.FILES else None
        spec, parent = compose_job(
            membership=membership, values=values, image_ids=image_ids, uploads=uploads,
            order=request.POST.get("reference_order", ""), mask=mask,
        )
        job = submit_job(membership=membership, spec=spec, parent=parent)
    except (StudioError, TooLarge) as exc:
        state = composer_state(membership=membership, values=values, reference_ids=image_ids)
        context = {"composer": state, "errors": _errors_of(exc), "jobs": _job_list(membership),
                   "templates": TEMPLATES}
        if request.htmx:
            response = render(request, "studio/home.html#composer", context)
            return reswap(retarget(response, "#composer"), "outerHTML")
        return render(request, "studio/home.html", context, status=400)
    if request.htmx:
        response = render(request, "studio/job_detail.html#job-card", {"job": _live([job])[0]})
        return trigger_client_event(response, "credits-changed")
    messages.success(request, "Job submitted.")
    if parent is not None:
        return redirect("studio:job_detail", public_id=job.public_id)
    return redirect("studio:home")


# Compare and batch -----------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def compare(request: HtmxHttpRequest) -> HttpResponse:
    membership = request.user.membership()
    if membership is None:
        return render(request, "studio/no_team.html")
    data = request.POST if request.method == "POST" else request.GET
    models = (data.getlist("models") or [data.get("model", "")])[:COMPARE_MAX]
    models += [""] * (COMPARE_MAX - len(models))
    values = {"prompt": data.get("prompt", ""), "aspect_ratio": data.get("aspect_ratio", ""),
              "count": data.get("count", "1") or "1", "models": models}
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            specs = compare_specs(membership=membership, prompt=values["prompt"], models=models,
                                  aspect_ratio=values["aspect_ratio"], count=values["count"])
            jobs = submit_jobs(membership=membership, specs=specs)
        except StudioError as exc:
            errors = _errors_of(exc)
        else:
            messages.success(request, f"Comparing {len(jobs)} models.")
            return redirect("studio:batch_detail", batch_id=jobs[0].batch_id)
    quote = compare_quote(membership=membership, models=models, count=values["count"])
    if request.htmx and request.htmx.target == "compare-price":
        return render(request, "studio/compare.html#compare-price", {"quote": quote})
    context = {"menu": build_menu(membership=membership), "values": values, "errors": errors,
               "quote": quote, "ratios": RATIOS,
               "slots": [{"index": i, "number": i + 1, "current": models[i], "error": errors.get(f"model_{i}", "")}
                         for i in range(COMPARE_MAX)]}
    return render(request, "studio/compare.html", context, status=400 if errors else 200)


@require_http_methods(["GET", "POST"])
def batch(request: HtmxHttpRequest) -> HttpResponse:
    membership = request.user.membership()
    if membership is None:
        return render(request, "studio/no_team.html")
    data = request.POST if request.method == "POST" else request.GET
    state = composer_state(membership=membership, values=data)
    if request.htmx and request.htmx.target == "composer-options":
        return render(request, "studio/home.html#composer-options", {"composer": state, "batch": True})
    text, errors, preview = data.get("prompts", ""), {}, None
    if request.method == "POST":
        try:
            text = _batch_text(request) or text
            preview = preview_batch(membership=membership, rows=parse_batch(text), defaults=state.values)
            if request.POST.get("action") == "submit":
                if not preview.ready:
                    raise ValidationFailed({"prompts": "Fix the rows marked below, or top up, before submitting."})
                jobs = submit_jobs(membership=membership, specs=preview.specs, priority=JobPriority.LOW)
                messages.success(request, f"Submitted {len(jobs)} jobs.")
                return redirect("studio:batch_detail", batch_id=jobs[0].batch_id)
        except (StudioError, TooLarge) as exc:
            errors = _errors_of(exc)
    if request.htmx and request.htmx.target == "batch-preview":
        return render(request, "studio/batch.html#batch-preview", {"preview": preview, "errors": errors})
    context = {"composer": state, "prompts": text, "preview": preview, "errors": errors,
               "columns": BATCH_COLUMNS, "batch": True}
    return render(request, "studio/batch.html", context, status=400 if errors else 200)


def _batch_text(request: HtmxHttpRequest) -> str:
    upload = request.FILES.get("csv_file")
    if upload is None:
        return ""
    if upload.size > 1024 * 1024:
        raise TooLarge(f"{upload.name}: the file is larger than 1 MB.", field="csv_file")
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed({"csv_file": f"{upload.name}: save the CSV as UTF-8 text."}) from None


@require_GET
def batch_detail(request: HtmxHttpRequest, batch_id: str) -> HttpResponse:
    summary = batch_summary(user=request.user, batch_id=batch_id)
    if summary is None:
        raise Http404("No such batch.")
    _live(list(summary.jobs))
    if request.htmx:
        response = render(request, "studio/batch_detail.html#batch-board", {"summary": summary})
        return trigger_client_event(response, "credits-changed") if summary.finished else response
    return render(request, "studio/batch_detail.html", {"summary": summary, "batch_id": batch_id})


# Prompt templates ------------------------------------------------------------------
@require_GET
def prompt_templates(request: HtmxHttpRequest) -> HttpResponse:
    carry = _carry(request)
    return render(request, "studio/templates.html", {"templates": TEMPLATES, "carry": carry})


@require_GET
def prompt_template(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    template = get_template(slug)
    if template is None:
        raise Http404("No such template.")
    values = {blank.name: request.GET.get(blank.name, "") for blank in template.blanks}
    errors: dict[str, str] = {}
    if request.GET.get("use"):
        try:
            prompt = template.render(values)
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            query = [("prompt", prompt)] + [(k, v) for k, v in _carry(request)]
            if template.ratio_blank and values.get(template.ratio_blank):
                query = [(k, v) for k, v in query if k != "aspect_ratio"]
                query.append(("aspect_ratio", values[template.ratio_blank]))
            return redirect(f"{reverse('studio:home')}?{urlencode(query)}")
    fields = [{"blank": b, "value": values[b.name], "error": errors.get(b.name, "")} for b in template.blanks]
    context = {"template": template, "fields": fields, "carry": _carry(request)}
    return render(request, "studio/template_form.html", context, status=400 if errors else 200)


def _carry(request: HtmxHttpRequest) -> list[tuple[str, str]]:
    """Composer choices that travel through a template form and back (model, references)."""
    keep = ("model", "aspect_ratio", "reference", "edit", "parent")
    return [(key, value) for key in keep for value in request.GET.getlist(key) if value]


# Jobs ------------------------------------------------------------------------------
def _own_job(request: HtmxHttpRequest, public_id: str) -> Job:
    return get_object_or_404(
        Job.objects.select_related("catalog_model", "parent").prefetch_related("images"),
        public_id=public_id,
        user=request.user,
    )


@require_GET
def job_detail(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    job = _own_job(request, public_id)
    if request.htmx:
        context = {"job": _live([job])[0], "thread": request.GET.get("thread") == "1"}
        response = render(request, "studio/job_detail.html#job-card", context)
        if job.is_terminal:
            # The charge or refund has happened: the badge should show it.
            trigger_client_event(response, "credits-changed")
        return response
    turns = thread_of(job=job)
    _live([turn.job for turn in turns])
    return render(request, "studio/job_detail.html", {"job": job, "turns": turns, "errors": {}})


@require_POST
def job_refine(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    parent = _own_job(request, public_id)
    membership = request.user.membership()
    prompt = request.POST.get("prompt", "")
    try:
        if membership is None:
            raise StudioError("You are not in a team.")
        spec = refine_spec(membership=membership, parent=parent, prompt=prompt)
        job = submit_job(membership=membership, spec=spec, parent=parent)
    except StudioError as exc:
        context = {"turn_job": parent, "errors": _errors_of(exc), "prompt": prompt, "failed_turn": parent.pk}
        if request.htmx:
            return render(request, "studio/job_detail.html#refine-form", context)
        turns = thread_of(job=parent)
        _live([turn.job for turn in turns])
        page = {"job": parent, "turns": turns, "errors": context["errors"], "failed_turn": parent.pk,
                "prompt": prompt}
        return render(request, "studio/job_detail.html", page, status=400)
    url = reverse("studio:job_detail", args=[job.public_id])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


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
        response = render(request, "studio/job_detail.html#job-card", {"job": _live([job])[0]})
        return trigger_client_event(response, "credits-changed")
    return redirect("studio:job_detail", public_id=job.public_id)


# A watch outlives no working day: an open tab polls with the token it was rendered with.
WATCH_MAX_AGE = 24 * 3600


@login_not_required
@require_GET
def job_state(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """What an unfinished job's card polls: one indexed read, no session, no rendering.

    The card's token (`Job.watch_token`) names the job and its owner. While the state is the
    one the card shows (`seen`), htmx gets 204 and does nothing; once it changes, the answer
    triggers `job-changed` on the card, which then fetches itself (`job_detail`) once.
    """
    try:
        watched, owner = signing.loads(request.GET.get("t", ""), salt=WATCH_SALT, max_age=WATCH_MAX_AGE)
    except (signing.BadSignature, TypeError, ValueError):
        raise Http404("Unknown job.") from None
    if watched != str(public_id):
        raise Http404("Unknown job.")
    row = Job.objects.filter(public_id=public_id, user_id=owner).values("status", "progress", "preview").first()
    if row is None:
        raise Http404("Unknown job.")
    state = watch_state(status=row["status"], progress=row["progress"], preview=row["preview"] or "")
    if request.htmx and request.GET.get("seen") == state:
        return HttpResponse(status=204)
    response = JsonResponse(
        {"status": row["status"], "progress": row["progress"], "finished": row["status"] in TERMINAL_STATUSES}
    )
    response["Cache-Control"] = "no-store"
    if request.htmx:
        trigger_client_event(response, "job-changed")
    return response


@require_GET
def job_preview(request: HtmxHttpRequest, public_id: str) -> FileResponse:
    job = get_object_or_404(Job, public_id=public_id, user=request.user)
    if not job.preview or job.is_terminal:
        raise Http404("This job has no preview.")
    try:
        handle = default_storage.open(job.preview.name, "rb")
    except FileNotFoundError:
        raise Http404("The preview has been replaced.") from None
    content_type = mimetypes.guess_type(job.preview.name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    return response


# Credits ---------------------------------------------------------------------------
@require_GET
def my_credits(request: HtmxHttpRequest) -> HttpResponse:
    membership = request.user.membership()
    if membership is None:
        return render(request, "studio/no_team.html")
    balance = credits.member_balance(membership=membership)
    if request.htmx:
        return render(request, "includes/credit_badge.html", {"credit_balance": balance})
    account = credits.member_account(team=membership.team, user=membership.user)
    transfers = (
        Transfer.objects.filter(debit=account) | Transfer.objects.filter(credit=account)
    ).select_related("job", "debit", "credit", "actor")
    page = Paginator(transfers.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    # Free demo renders move no credits, so no ledger row: listed apart, at 0, so nobody wonders.
    demo = Job.objects.filter(user=membership.user, team=membership.team, is_demo=True, credits_held=0)
    return render(
        request,
        "studio/credits.html",
        {"balance": balance, "page": page, "account": account, "demo_jobs": demo.order_by("-created_at")[:20]},
    )
