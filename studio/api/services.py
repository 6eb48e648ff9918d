"""Submitting and waiting on jobs for the API, over the studio's own job services."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from providers.errors import ErrorCode
from studio.api.auth import ApiContext
from studio.api.errors import ApiError
from studio.api.idempotency import Claim, attach_job, forget
from studio.api.webhooks import register_job_webhook
from studio.models import Job, JobPriority
from studio.services.db import transient_retry
from studio.services.jobs import JobSpec, fail_job, submit_job
from studio.services.jobs.submit import Dispatch

logger = logging.getLogger(__name__)

# What publishing a task raises when the broker is down.
QUEUE_ERRORS: tuple[type[BaseException], ...] = (KombuOperationalError, ConnectionError, TimeoutError, OSError)
SYNC_WAIT_SLACK = 30.0
FAST_POLL = 0.025
FAST_POLL_FOR = 3.0


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    events: list[str]
    base_url: str


def queue_down() -> ApiError:
    return ApiError(
        503,
        "unavailable",
        "The job queue is temporarily down; nothing was charged. Try again shortly.",
        headers={"Retry-After": "5"},
    )


class _BrokerHealth:
    """When the broker last answered, per process: checking it costs a connection, so a
    recent success is trusted for a few seconds (a publish that still fails is handled
    after the commit, and resets this)."""

    ttl = 5.0
    last_ok = float("-inf")


def broker_available() -> bool:
    """Check the broker answers before holding credits for a job it could not take."""
    from studio.celery import app

    if app.conf.task_always_eager:
        return True
    if time.monotonic() - _BrokerHealth.last_ok < _BrokerHealth.ttl:
        return True
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
            connection.default_channel  # noqa: B018 - opening a channel makes lazy transports connect
    except Exception:
        logger.warning("broker unreachable", exc_info=True)
        return False
    _BrokerHealth.last_ok = time.monotonic()
    return True


def submit_api_job(
    *,
    ctx: ApiContext,
    spec: JobSpec,
    claim: Claim | None = None,
    webhook: WebhookRequest | None = None,
    accepted_for: Callable[[Job], bytes] | None = None,
    run_here: bool = False,
    priority: int = JobPriority.NORMAL,
) -> Job:
    """Hold credits and create the job (with its webhook and idempotency link) in one
    transaction; enqueue on commit. `accepted_for` renders the 202 answer that the
    idempotency record stores in that same transaction. If the broker refuses the task, fail the job so the
    hold comes straight back, and answer 503.

    `run_here`: publish nothing; the caller runs the job in this process (`run_job`) right
    after, saving the broker hop and the worker's claim (the synchronous endpoints).
    """
    if not run_here and not broker_available():
        raise queue_down()
    created: list[Job] = []
    try:
        job = _create_api_job(
            ctx=ctx, spec=spec, claim=claim, webhook=webhook, accepted_for=accepted_for, created=created,
            dispatch="caller" if run_here else "queue_or_raise", priority=priority,
        )
    except QUEUE_ERRORS:
        job = created[-1] if created else None
        if job is None or not Job.objects.filter(pk=job.pk).exists():
            raise
        logger.warning("job %s: the broker refused the task; failing it", job.pk, exc_info=True)
        _BrokerHealth.last_ok = float("-inf")
        fail_job(job_id=job.pk, code=ErrorCode.UNAVAILABLE, message="The job queue was down; nothing was charged.")
        if claim is not None:
            forget(claim)
        raise queue_down() from None
    return job


@transient_retry
def _create_api_job(
    *,
    ctx: ApiContext,
    spec: JobSpec,
    claim: Claim | None,
    webhook: WebhookRequest | None,
    accepted_for: Callable[[Job], bytes] | None,
    created: list[Job],
    dispatch: Dispatch,
    priority: int = JobPriority.NORMAL,
) -> Job:
    with transaction.atomic():
        job = submit_job(
            membership=ctx.membership, spec=spec, source="api", dispatch=dispatch, priority=priority, savepoint=False
        )
        created.append(job)
        if webhook is not None:
            register_job_webhook(job=job, api_key=ctx.key, url=webhook.url, events=webhook.events, base_url=webhook.base_url)
        if claim is not None:
            body = accepted_for(job) if accepted_for is not None else None
            attach_job(claim, job=job, status=202 if body is not None else None, body=body)
    return job


def wait_for_job(*, job_id: int, timeout: float) -> Job:
    """Poll the job row until it is terminal or `timeout` passes (the worker does the work)."""
    started = time.monotonic()
    deadline = started + timeout
    delay = FAST_POLL
    while True:
        job = Job.objects.select_related("catalog_model").get(pk=job_id)
        now = time.monotonic()
        if job.is_terminal or now >= deadline:
            return job
        time.sleep(min(delay, max(deadline - now, 0)))
        # Poll often while a fast provider may be about done (a primary-key read is cheap),
        # then back off for the slow ones.
        if now - started > FAST_POLL_FOR:
            delay = min(delay * 1.5, 0.5)


def sync_timeout(job: Job) -> float:
    return float(job.catalog_model.timeout_seconds) + SYNC_WAIT_SLACK
