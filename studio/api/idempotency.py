"""`Idempotency-Key` for POSTs, with the IETF draft's meaning.

The same key and body replay the first response; while the first request runs, a retry
gets 409; the same key with another body gets 422. Keys are scoped to the API key and
kept 24 hours. The claim is an INSERT under UNIQUE(api_key, key), so concurrent
retries cannot both pass a check-then-insert.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from studio.api.errors import ApiError
from studio.api.models import ApiKey, IdempotencyRecord, IdempotencyStatus
from studio.models import Job

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


@dataclass
class Claim:
    """This request owns the key; `job_id` is set once it has started a job, and `keep`
    when a handler changed something else worth replaying (a cancel)."""

    record: IdempotencyRecord
    job_id: int | None = None
    job_public_id: str = ""
    completed: bool = False
    keep: bool = False


def ttl() -> timedelta:
    return timedelta(hours=settings.STUDIO_API_IDEMPOTENCY_TTL_HOURS)


def key_from(request: HttpRequest) -> str | None:
    """Read the header, refusing one that is empty, too long or not printable ASCII."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip().strip('"')
    if not key or len(key) > MAX_KEY_LENGTH or not all(32 < ord(c) < 127 for c in key):
        raise ApiError(
            400,
            "validation_error",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters without spaces.",
            param=HEADER,
        )
    return key


def fingerprint(*, method: str, path: str, canonical_body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(f"{method.upper()}\n{path}\n".encode("utf-8", "surrogatepass"))
    digest.update(canonical_body)
    return digest.hexdigest()


def claim_key(
    *, api_key: ApiKey, key: str, method: str, path: str, fingerprint: str, now: datetime | None = None
) -> Claim | HttpResponse:
    """Own the key for this request, or answer for it: replay, 409 or 422."""
    now = now or timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    api_key=api_key,
                    key=key,
                    fingerprint=fingerprint,
                    method=method.upper(),
                    # Stored for the admin only; keep it storable whatever the URL held.
                    path=path.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")[:300],
                    created_at=now,
                    expires_at=now + ttl(),
                )
            return Claim(record=record)
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if existing is None:
            continue  # purged between our INSERT and SELECT: claim again
        if existing.expires_at <= now:
            # Past retention the key is new again (documented in the API docs).
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request.",
                param=HEADER,
            )
        if existing.status == IdempotencyStatus.IN_PROGRESS:
            raise ApiError(
                409,
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                param=HEADER,
                headers={"Retry-After": "1"},
            )
        return replay(existing)
    raise ApiError(409, "idempotency_in_progress", "The Idempotency-Key is busy; retry shortly.", param=HEADER)


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        record.response_body,
        status=record.response_status or 200,
        content_type=record.response_content_type or "application/json",
    )
    response[REPLAY_HEADER] = "true"
    response["Cache-Control"] = "no-store"
    return response


def attach_job(claim: Claim, *, job: Job, status: int | None = None, body: bytes | None = None) -> None:
    """Tie the key to the job it started; with a response, complete it in the same transaction."""
    fields: dict[str, object] = {"job": job}
    if status is not None and body is not None:
        fields |= {
            "status": IdempotencyStatus.COMPLETED,
            "response_status": status,
            "response_body": body.decode(),
            "response_content_type": "application/json",
        }
        claim.completed = True
    IdempotencyRecord.objects.filter(pk=claim.record.pk).update(**fields)
    claim.job_id = job.pk
    claim.job_public_id = str(job.public_id)


def complete(claim: Claim, *, status: int, body: bytes, content_type: str = "application/json") -> None:
    IdempotencyRecord.objects.filter(pk=claim.record.pk).update(
        status=IdempotencyStatus.COMPLETED,
        response_status=status,
        response_body=body.decode(),
        response_content_type=content_type,
    )
    claim.completed = True


def release(claim: Claim) -> None:
    """Forget the key: nothing ran, so a retry must be free to run (Stripe does the same)."""
    IdempotencyRecord.objects.filter(pk=claim.record.pk, job__isnull=True).delete()


def forget(claim: Claim) -> None:
    """Forget the key although it started a job: that job was failed before it could run
    (the queue was down), so a retry must submit anew, not replay the 202."""
    IdempotencyRecord.objects.filter(pk=claim.record.pk).delete()
    claim.completed = False
    claim.job_id = None


def run_idempotent(
    request: HttpRequest,
    *,
    api_key: ApiKey,
    canonical_body: bytes,
    handler: Callable[[Claim | None], HttpResponse],
) -> HttpResponse:
    """Run `handler` under the request's Idempotency-Key, if it sent one.

    A response is kept for replay once the request started a job (success, or the job's
    own failure); refusals before that (validation, credits, rate) are not kept.
    """
    key = key_from(request)
    if key is None:
        return handler(None)
    outcome = claim_key(
        api_key=api_key,
        key=key,
        method=request.method or "POST",
        path=request.path,
        fingerprint=fingerprint(method=request.method or "POST", path=request.path, canonical_body=canonical_body),
    )
    if isinstance(outcome, HttpResponse):
        return outcome
    claim = outcome
    try:
        response = handler(claim)
    except BaseException:
        if claim.job_id is not None and not claim.completed:
            # A job exists: a retry must not start another, so it is told where the job is.
            failure = ApiError(
                500,
                "server_error",
                f"The request failed after starting job {claim.job_public_id}; see /v2/jobs/{claim.job_public_id}.",
            ).response()
            complete(claim, status=500, body=failure.content)
        else:
            release(claim)
        raise
    if claim.completed or response.streaming:
        return response  # the stream completes the record itself when it ends
    if claim.job_id is not None or claim.keep:
        complete(claim, status=response.status_code, body=response.content, content_type=response["Content-Type"])
    else:
        release(claim)
    return response


def purge_expired(*, now: datetime | None = None) -> int:
    """Delete records past retention; return how many went."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
