"""/v2: the async generate endpoint, jobs, cancel, and signed image links (seed 002)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from django.core import signing
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime

from gallery.models import Image
from studio.api.auth import ApiContext
from studio.api.bodies import Body, decode_image, read_body
from studio.api.errors import ApiError, from_domain
from studio.api.idempotency import Claim, run_idempotent
from studio.api.resources import image_id_from_token, job_resource
from studio.api.services import WebhookRequest, submit_api_job
from studio.api.webhooks import UnsafeTarget, check_webhook_url, parse_events
from studio.models import Job, JobPriority, JobStatus
from studio.services.auto_model import AUTO, AutoChoice, choose_auto_model, is_auto
from studio.services.errors import PermissionDenied, StudioError
from studio.services.jobs import Upload, cancel_job, validate_job

PARAMS = {
    "aspect_ratio": "aspectRatio",
    "resolution": "resolution",
    "count": "count",
    "references": "images",
    "mask": "mask",
    "output_format": "outputFormat",
    "negative_prompt": "negativePrompt",
}
# Per-model parameters: accepted at the top level or inside `params`, camelCase or snake_case.
PARAM_NAMES = {
    "aspect_ratio": ("aspectRatio", "aspect_ratio"),
    "resolution": ("resolution",),
    "quality": ("quality",),
    "count": ("count", "n", "numImages"),
    "seed": ("seed",),
    "negative_prompt": ("negativePrompt", "negative_prompt"),
    "style": ("style",),
    "output_format": ("outputFormat", "output_format"),
}
PAGE_DEFAULT = 20
PAGE_MAX = 100


def base_url_of(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _job_for(ctx: ApiContext, job_id: str) -> Job:
    """The key's own jobs only: anyone else's job is 'not found', never 'forbidden'."""
    try:
        public_id = uuid.UUID(str(job_id))
    except ValueError:
        raise ApiError(404, "not_found", f"No job “{job_id}”.") from None
    job = (
        Job.objects.select_related("catalog_model")
        .filter(public_id=public_id, user=ctx.user, team=ctx.membership.team)
        .first()
    )
    if job is None:
        raise ApiError(404, "not_found", f"No job “{job_id}”.")
    return job


def _param(fields: dict[str, Any], name: str) -> Any:
    nested = fields.get("params") if isinstance(fields.get("params"), dict) else {}
    for source in (nested, fields):
        for key in PARAM_NAMES[name]:
            if source.get(key) is not None:
                return source[key]
    return None


def _string_or_none(value: Any, param: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ApiError(400, "validation_error", f"`{param}` must be a string.", param=param)
    return str(value)


def _references(fields: dict[str, Any], body: Body) -> tuple[list[Upload], Upload | None]:
    nested = fields.get("params") if isinstance(fields.get("params"), dict) else {}
    raw = nested.get("images", fields.get("images"))
    uploads = list(body.files.get("images", []))
    if raw is not None:
        if not isinstance(raw, list):
            raw = [raw]
        uploads += [decode_image(value, param="images", position=i) for i, value in enumerate(raw)]
    raw_mask = nested.get("mask", fields.get("mask"))
    mask = decode_image(raw_mask, param="mask") if raw_mask not in (None, "") else None
    return uploads, mask


def _webhook(request: HttpRequest, fields: dict[str, Any]) -> WebhookRequest | None:
    url = fields.get("webhookUrl")
    events = fields.get("webhookEvents")
    if url in (None, ""):
        if events is not None:
            raise ApiError(400, "validation_error", "webhookEvents needs a webhookUrl.", param="webhookUrl")
        return None
    if not isinstance(url, str):
        raise ApiError(400, "validation_error", "webhookUrl must be a string.", param="webhookUrl")
    try:
        check_webhook_url(url)
    except UnsafeTarget as exc:
        raise ApiError(400, "validation_error", str(exc), param="webhookUrl") from None
    try:
        parsed_events = parse_events(events)
    except ValueError as exc:
        raise ApiError(400, "validation_error", str(exc), param="webhookEvents") from None
    return WebhookRequest(url=url.strip(), events=parsed_events, base_url=base_url_of(request))


def generate(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    body = read_body(request)

    def handle(claim: Claim | None) -> HttpResponse:
        fields = body.fields
        prompt = fields.get("prompt")
        if not isinstance(prompt, str):
            raise ApiError(400, "validation_error", "prompt is required (1 to 2,000 characters).", param="prompt")
        model = fields.get("model", AUTO)
        if model is None:
            model = AUTO
        if not isinstance(model, str):
            raise ApiError(400, "validation_error", "model must be a string (see GET /v1/models).", param="model")
        priority = fields.get("priority", "normal")
        if priority not in ("normal", "low"):
            raise ApiError(400, "validation_error", 'priority must be "normal" or "low".', param="priority")
        references, mask = _references(fields, body)
        auto: AutoChoice | None = None
        try:
            if is_auto(model):
                # Seed 000: no model (or "auto") means the cheapest model that does what is asked.
                auto = choose_auto_model(
                    membership=ctx.membership,
                    references=len(references),
                    mask=mask is not None,
                    count=_count_or_one(_param(fields, "count")),
                    aspect_ratio=_string_or_none(_param(fields, "aspect_ratio"), "aspectRatio"),
                    resolution=_string_or_none(_param(fields, "resolution"), "resolution"),
                )
                model = auto.model.slug
            spec = validate_job(
                membership=ctx.membership,
                model=model,
                prompt=prompt,
                aspect_ratio=_string_or_none(_param(fields, "aspect_ratio"), "aspectRatio"),
                resolution=_string_or_none(_param(fields, "resolution"), "resolution"),
                quality=_string_or_none(_param(fields, "quality"), "quality"),
                count=_string_or_none(_param(fields, "count"), "count") or 1,
                seed=_string_or_none(_param(fields, "seed"), "seed"),
                negative_prompt=_string_or_none(_param(fields, "negative_prompt"), "negativePrompt"),
                style=_string_or_none(_param(fields, "style"), "style"),
                output_format=_string_or_none(_param(fields, "output_format"), "outputFormat"),
                references=references,
                mask=mask,
            )
            # Last, as resolving the webhook's host is the slowest check.
            webhook = _webhook(request, fields)
            def accepted(job: Job) -> bytes:
                return accepted_body(job, auto_reason=auto.reason if auto else "")

            job = submit_api_job(
                ctx=ctx, spec=spec, claim=claim, webhook=webhook, accepted_for=accepted,
                # "low": scripts and backfills wait behind interactive work (the dispatcher's first key).
                priority=JobPriority.LOW if priority == "low" else JobPriority.NORMAL,
            )
        except StudioError as exc:
            raise from_domain(exc, params=PARAMS) from None
        response = HttpResponse(accepted(job), status=202, content_type="application/json")
        response["Location"] = f"/v2/jobs/{job.public_id}"
        return response

    return run_idempotent(request, api_key=ctx.key, canonical_body=body.canonical, handler=handle)


def accepted_body(job: Job, *, auto_reason: str = "") -> bytes:
    body: dict[str, Any] = {"jobId": str(job.public_id), "status": "QUEUED"}
    if job.is_demo:
        # Seed 002's 202 is {jobId, status}; the job resource carries isDemo always, this only when true.
        body["isDemo"] = True
    if auto_reason:
        body |= {"model": job.model_slug, "autoReason": auto_reason}
    return json.dumps(body).encode()


def _count_or_one(value: Any) -> int:
    """The count an Auto pick must allow; a bad value is validate_job's to report."""
    try:
        return max(int(value), 1) if value not in (None, "") else 1
    except (TypeError, ValueError):
        return 1


def get_job(request: HttpRequest, ctx: ApiContext, job_id: str) -> JsonResponse:
    job = _job_for(ctx, job_id)
    return JsonResponse(job_resource(job, base_url=base_url_of(request)))


def cancel(request: HttpRequest, ctx: ApiContext, job_id: str) -> HttpResponse:
    body = read_body(request)

    def handle(claim: Claim | None) -> HttpResponse:
        job = _job_for(ctx, job_id)
        if job.is_terminal:
            raise ApiError(409, "job_finished", f"The job has already finished ({job.status}).")
        try:
            job = cancel_job(job=job, user=ctx.user)
        except PermissionDenied as exc:
            raise from_domain(exc) from None
        except StudioError as exc:  # it finished while we were asking
            raise ApiError(409, "job_finished", exc.message) from None
        if claim is not None:
            claim.keep = True
        return JsonResponse(job_resource(job, base_url=base_url_of(request)))

    return run_idempotent(request, api_key=ctx.key, canonical_body=body.canonical, handler=handle)


# -- job list with a keyset cursor -----------------------------------------------------------
def encode_cursor(job: Job) -> str:
    raw = f"{job.created_at.isoformat()}|{job.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, pk = raw.partition("|")
        created = parse_datetime(stamp)
        if created is None:
            raise ValueError
        return created, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "validation_error", "The cursor is not one this API gave out.", param="cursor") from None


def list_jobs(request: HttpRequest, ctx: ApiContext) -> JsonResponse:
    try:
        limit = int(request.GET.get("limit", PAGE_DEFAULT))
    except ValueError:
        raise ApiError(400, "validation_error", "limit must be a whole number.", param="limit") from None
    if not 1 <= limit <= PAGE_MAX:
        raise ApiError(400, "validation_error", f"limit is between 1 and {PAGE_MAX}.", param="limit")
    jobs = Job.objects.select_related("catalog_model").filter(user=ctx.user, team=ctx.membership.team)
    status = request.GET.get("status")
    if status:
        if status.lower() not in JobStatus.values:
            raise ApiError(400, "validation_error", "Unknown status.", param="status")
        jobs = jobs.filter(status=status.lower())
    cursor = request.GET.get("cursor")
    if cursor:
        created, pk = decode_cursor(cursor)
        jobs = jobs.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
    page = list(jobs.order_by("-created_at", "-id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    base = base_url_of(request)
    return JsonResponse(
        {
            "data": [job_resource(job, base_url=base) for job in page],
            "hasMore": more,
            "nextCursor": encode_cursor(page[-1]) if more else None,
        }
    )


# -- signed image links -------------------------------------------------------------------------
def signed_image(request: HttpRequest, token: str) -> HttpResponse:
    """Serve an original by a signed, expiring link (no key needed: the link is the grant)."""
    try:
        image_id = image_id_from_token(token)
    except signing.SignatureExpired:
        raise ApiError(403, "link_expired", "This image link has expired; fetch the job again for a fresh one.") from None
    except (signing.BadSignature, ValueError):
        raise ApiError(403, "bad_signature", "This image link is not valid.") from None
    image = Image.objects.live().filter(pk=image_id).first()
    if image is None:
        raise ApiError(404, "not_found", "This image no longer exists.")
    response = FileResponse(image.file.open("rb"), content_type=image.mime_type)
    response["Content-Disposition"] = f'inline; filename="image-{image.pk}.{image.extension}"'
    response["Cache-Control"] = "private, max-age=3600"
    return response
