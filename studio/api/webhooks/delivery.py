"""Job webhooks: subscribe, build the payload, deliver one attempt at a time, retry on a
schedule. Every attempt goes out through `ssrf` and is signed by `signing`."""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from studio.api.models import (
    ApiKey,
    DeliveryStatus,
    JobWebhook,
    WebhookDelivery,
    WebhookEvent,
)
from studio.api.webhooks import ssrf
from studio.api.webhooks.signing import signed_headers
from studio.api.webhooks.ssrf import Outcome, WebhookSender
from studio.models import Job, JobStatus
from studio.ops.metrics import WEBHOOK_DELIVERIES
from studio.services.db import has_row

logger = logging.getLogger(__name__)

# Seconds to wait after failed attempt 1, 2, ... (Svix-like: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h);
# 7 attempts over about 17.6 hours. Each wait is chained in countdowns of at most 900 s.
RETRY_DELAYS: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
MAX_COUNTDOWN = 900.0
# A claimed attempt holds the delivery this long; past it, the sweeper may retry.
ATTEMPT_LEASE = timedelta(seconds=60)
PROGRESS_STEP = 25
# One endpoint's failures must not cost the others worker time: after BREAKER_FAILURES
# failed attempts in a row to one URL, its other deliveries wait BREAKER_COOLDOWN (no
# attempt counted) instead of each spending up to a full timeout; then one probe goes.
BREAKER_FAILURES = 3
BREAKER_WINDOW = timedelta(minutes=10)
BREAKER_COOLDOWN = timedelta(seconds=60)
# A delivery deferred this long by a failing endpoint gives up (the retries span ~17.6 h).
MAX_DELIVERY_AGE = timedelta(hours=24)


# -- events ------------------------------------------------------------------------------
def parse_events(value: Any) -> list[str]:
    """`webhookEvents`: a subset of progress/completed/failed; default completed + failed."""
    if value is None:
        return [WebhookEvent.COMPLETED, WebhookEvent.FAILED]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("webhookEvents must be a list of event names.")
    allowed = set(WebhookEvent.values)
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ValueError(f"Unknown webhook event {unknown[0]!r}; use progress, completed or failed.")
    if not value:
        raise ValueError("webhookEvents must name at least one event.")
    return list(dict.fromkeys(value))


def register_job_webhook(*, job: Job, api_key: ApiKey, url: str, events: Iterable[str], base_url: str) -> JobWebhook:
    return JobWebhook.objects.create(job=job, api_key=api_key, url=url, events=list(events), base_url=base_url)


def notify_job_event(*, job_id: int, event: str, job: Job | None = None) -> None:
    """Queue a webhook for a job event if the job's client asked for it.

    Called by the job layer after commit for progress, succeeded, failed and canceled;
    it must never break the job pipeline, so it logs instead of raising.
    """
    try:
        _notify(job_id=job_id, event=event, job=job)
    except Exception:
        logger.exception("job %s: could not queue the %s webhook", job_id, event)


def _notify(*, job_id: int, event: str, job: Job | None) -> None:
    if not has_row(JobWebhook, "job_id", job_id):  # most jobs have none
        return
    subscription = JobWebhook.objects.filter(job_id=job_id).select_related("api_key").first()
    if subscription is None:
        return
    kind = {"succeeded": WebhookEvent.COMPLETED, "completed": WebhookEvent.COMPLETED,
            "failed": WebhookEvent.FAILED, "canceled": WebhookEvent.FAILED}.get(event, WebhookEvent.PROGRESS)
    if kind not in subscription.events:
        return
    if job is None or kind == WebhookEvent.PROGRESS:
        job = Job.objects.select_related("catalog_model").get(pk=job_id)
    if kind == WebhookEvent.PROGRESS:
        if job.is_terminal:
            return
        bucket = job.progress - job.progress % PROGRESS_STEP
        # Claim the bucket with a conditional update so concurrent reports send it once.
        if not JobWebhook.objects.filter(pk=subscription.pk, last_progress__lt=bucket).update(last_progress=bucket):
            return
    event_type = "job.canceled" if job.status == JobStatus.CANCELED else f"job.{kind}"
    payload = build_payload(job=job, event_type=event_type, base_url=subscription.base_url)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                job=job,
                api_key=subscription.api_key,
                url=subscription.url,
                event=kind,
                event_type=event_type,
                webhook_id=f"msg_{uuid.uuid4().hex}",
                payload=payload.decode(),
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return  # this job's end was already reported
    transaction.on_commit(lambda: enqueue_delivery(delivery_id=delivery.pk))


def build_payload(*, job: Job, event_type: str, base_url: str) -> bytes:
    """A thin payload: ids, status, progress, signed image links, never image bytes."""
    from studio.api.resources import job_resource

    data = job_resource(job, base_url=base_url, include_images=event_type == "job.completed")
    body = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


# -- delivery ----------------------------------------------------------------------------
def enqueue_delivery(*, delivery_id: int, countdown: float = 0) -> None:
    from studio.api.tasks import deliver_webhook_task
    from studio.celery import app

    if countdown > 0 and app.conf.task_always_eager:
        return  # an eager run cannot wait; the sweeper retries it when it is due
    deliver_webhook_task.apply_async((delivery_id,), countdown=min(max(countdown, 0), MAX_COUNTDOWN))


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """The wait after failed attempt number `attempts`, with ±10% jitter; Retry-After is a floor."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    delay = base * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, min(retry_after, 24 * 3600))
    return delay


def deliver_webhook(*, delivery_id: int, sender: WebhookSender | None = None, now: datetime | None = None) -> float | None:
    """Make one attempt if it is due; return seconds until the task should run again, or None.

    Claim (lease the row), send outside any transaction, record the outcome.
    """
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update().select_related("api_key").filter(pk=delivery_id).first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1):
            return (delivery.next_attempt_at - now).total_seconds()  # early: a chained wait
        if delivery.api_key.revoked_at is not None:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "the API key was revoked"
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
            return None
        reopens = endpoint_reopens_at(url=delivery.url, now=now, exclude_id=delivery.pk)
        if reopens is not None:
            return _defer(delivery=delivery, until=reopens, now=now)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + ATTEMPT_LEASE
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    body = delivery.payload.encode()
    current, *previous = delivery.api_key.webhook_secrets(now=now)
    headers = signed_headers(secret=current, also=previous, webhook_id=delivery.webhook_id, body=body)
    outcome = (sender or ssrf.get_sender()).send(url=delivery.url, headers=headers, body=body)
    return record_outcome(delivery=delivery, outcome=outcome, now=timezone.now())


def endpoint_reopens_at(*, url: str, now: datetime, exclude_id: int | None = None) -> datetime | None:
    """When a failing endpoint may be tried again, or None if it may be tried now."""
    recent = list(
        WebhookDelivery.objects.filter(url=url, last_attempt_at__gte=now - BREAKER_WINDOW)
        .exclude(pk=exclude_id)
        .order_by("-last_attempt_at")
        .values_list("last_attempt_at", "last_status_code", "last_error")[:BREAKER_FAILURES]
    )
    if len(recent) < BREAKER_FAILURES:
        return None
    # A failure: no answer (refused, timed out, reset), a 5xx or a 429; a 4xx is the payload's fault.
    if not all(error and (code is None or code >= 500 or code == 429) for _, code, error in recent):
        return None
    reopens = recent[0][0] + BREAKER_COOLDOWN
    return reopens if reopens > now else None


def _defer(*, delivery: WebhookDelivery, until: datetime, now: datetime) -> float | None:
    if delivery.created_at < now - MAX_DELIVERY_AGE:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "the endpoint kept failing"
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
        WEBHOOK_DELIVERIES.labels(outcome="failed").inc()
        return None
    delivery.next_attempt_at = until
    delivery.save(update_fields=["next_attempt_at"])
    WEBHOOK_DELIVERIES.labels(outcome="deferred").inc()
    return (until - now).total_seconds()


def record_outcome(*, delivery: WebhookDelivery, outcome: Outcome, now: datetime) -> float | None:
    fields = {"last_status_code": outcome.status_code, "last_error": outcome.error[:300]}
    delay: float | None = None
    if outcome.ok:
        fields |= {"status": DeliveryStatus.SUCCEEDED, "delivered_at": now, "next_attempt_at": None}
        result = "delivered"
    elif outcome.refused or outcome.status_code == 410 or delivery.attempts >= MAX_ATTEMPTS:
        # 410 Gone means "stop sending" (Standard Webhooks); a refused target stays refused.
        fields |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
        result = "refused" if outcome.refused else "failed"
    else:
        delay = retry_delay(delivery.attempts, outcome.retry_after)
        fields |= {"next_attempt_at": now + timedelta(seconds=delay)}
        result = "retrying"
    WEBHOOK_DELIVERIES.labels(outcome=result).inc()
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(**fields)
    return delay


def retry_stalled_deliveries(*, now: datetime | None = None) -> int:
    """Re-queue pending deliveries whose task was lost (worker or broker restart)."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lt=now - timedelta(minutes=2)
    ).values_list("pk", flat=True)[:500]
    count = 0
    for delivery_id in due:
        enqueue_delivery(delivery_id=delivery_id)
        count += 1
    return count
