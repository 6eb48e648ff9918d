"""Leases: a running job is renewed by the worker that runs it, and run again when it lapses.

A worker slot that claims a job holds a lease (`Job.lease_expires_at`); one heartbeat
thread per worker process renews the leases of every job its slots are running. A killed
worker renews nothing, so its jobs' leases lapse and `recover_jobs` (beat, every few
seconds) queues them again, up to their attempt limit. An asynchronous job between polls
holds no slot: its lease is the poll it is due for (`next_attempt_at`), and a poll that
never happened is published again. Queued jobs nobody claimed (a broker that lost or never
got the task) are published again as well.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone

from providers.errors import ErrorCode
from studio.models import Job, JobStatus
from studio.services.db import transient_retry
from studio.services.jobs import queue

logger = logging.getLogger(__name__)

# A queued job unclaimed for this long is published again (it was lost, or the broker
# refused it); the same for an asynchronous job whose poll is this overdue.
UNCLAIMED_AFTER = timedelta(seconds=20)
POLL_OVERDUE_AFTER = timedelta(seconds=20)
REPUBLISH_LIMIT = 500
LEGACY_STALE = timedelta(minutes=10)


def lease_seconds() -> float:
    return float(settings.STUDIO_JOB_LEASE_SECONDS)


def lease_deadline(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=lease_seconds())


class _Heartbeat:
    """The jobs this process's slots are running, renewed together every third of a lease."""

    lock = threading.Lock()
    running: dict[int, int] = {}
    thread: threading.Thread | None = None

    @classmethod
    def add(cls, job_id: int) -> None:
        with cls.lock:
            cls.running[job_id] = cls.running.get(job_id, 0) + 1
            if cls.thread is None or not cls.thread.is_alive():
                cls.thread = threading.Thread(target=cls.loop, name="studio-job-leases", daemon=True)
                cls.thread.start()

    @classmethod
    def remove(cls, job_id: int) -> None:
        with cls.lock:
            left = cls.running.get(job_id, 0) - 1
            if left > 0:
                cls.running[job_id] = left
            else:
                cls.running.pop(job_id, None)

    @classmethod
    def loop(cls) -> None:
        while True:
            time.sleep(max(lease_seconds() / 3, 0.2))
            cls.tick()

    @classmethod
    def tick(cls) -> None:
        with cls.lock:
            job_ids = list(cls.running)
        if not job_ids:
            # Nothing to renew: hand back this thread's connection (a web process may not
            # hold a lease again for hours, and its idle session would stay open).
            connections.close_all()
            return
        try:
            close_old_connections()
            renew_leases(job_ids=job_ids)
        except Exception:
            logger.warning("could not renew the leases of %d jobs", len(job_ids), exc_info=True)


@contextlib.contextmanager
def holding_lease(*, job_id: int) -> Iterator[None]:
    """Keep the job's lease renewed while the block runs (in this worker process)."""
    _Heartbeat.add(job_id)
    try:
        yield
    finally:
        _Heartbeat.remove(job_id)


def renew_leases(*, job_ids: list[int]) -> int:
    """Push the leases of running jobs forward; the database clock is not trusted over ours."""
    return Job.objects.filter(pk__in=job_ids, status=JobStatus.RUNNING, lease_expires_at__isnull=False).update(
        lease_expires_at=lease_deadline()
    )


@transient_retry
def requeue_lost_job(*, job_id: int, now: datetime | None = None) -> str:
    """Queue a running job whose lease lapsed again, or fail it once it has used its attempts.

    Returns what happened: "requeued", "failed" or "" (it was not lost after all).
    """
    from studio.services.jobs.settle import fail_job

    now = now or timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update(no_key=True, of=("self",)).filter(pk=job_id).first()
        if job is None or job.status != JobStatus.RUNNING or not job.lease_expires_at or job.lease_expires_at >= now:
            return ""
        if job.attempts < settings.STUDIO_MAX_ATTEMPTS:
            job.status = JobStatus.QUEUED
            job.lease_expires_at = None
            job.next_attempt_at = now
            job.error_code = ErrorCode.UNAVAILABLE
            job.error_message = "The worker running this job stopped; it is being run again."
            job.save(update_fields=["status", "lease_expires_at", "next_attempt_at", "error_code", "error_message", "updated_at"])
            transaction.on_commit(lambda: queue.enqueue_run_or_leave_for_sweep(job_id=job_id))
            return "requeued"
    fail_job(
        job_id=job_id,
        code=ErrorCode.TIMEOUT,
        message=f"The job's worker stopped {settings.STUDIO_MAX_ATTEMPTS} times; it was ended and its credits returned.",
    )
    return "failed"


def recover_jobs(*, now: datetime | None = None) -> dict[str, int]:
    """The sweep: run again what lost its worker, poll what missed its poll, publish what was never taken."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "polls": 0, "republished": 0}
    # Jobs claimed before leases existed: give them one that has already lapsed.
    Job.objects.filter(
        status=JobStatus.RUNNING, lease_expires_at__isnull=True, provider_job_id="", updated_at__lt=now - LEGACY_STALE
    ).update(lease_expires_at=now - timedelta(seconds=1))
    lapsed = Job.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now).values_list("pk", flat=True)
    for job_id in list(lapsed[:REPUBLISH_LIMIT]):
        outcome = requeue_lost_job(job_id=job_id, now=now)
        if outcome:
            counts[outcome] += 1
    overdue_polls = Job.objects.filter(
        status=JobStatus.RUNNING, lease_expires_at__isnull=True, next_attempt_at__lt=now - POLL_OVERDUE_AFTER
    ).exclude(provider_job_id="")
    for job_id in list(overdue_polls.values_list("pk", flat=True)[:REPUBLISH_LIMIT]):
        queue.enqueue_poll(job_id=job_id, countdown=0)
        counts["polls"] += 1
    unclaimed = Job.objects.filter(status=JobStatus.QUEUED).filter(
        Q(next_attempt_at__isnull=True, created_at__lt=now - UNCLAIMED_AFTER)
        | Q(next_attempt_at__lt=now - UNCLAIMED_AFTER)
    )
    job_ids = list(unclaimed.order_by("created_at", "pk").values_list("pk", flat=True)[:REPUBLISH_LIMIT])
    if job_ids:
        # Stamp them so a backlog that is merely waiting gets one more message per period, not one per sweep.
        Job.objects.filter(pk__in=job_ids, status=JobStatus.QUEUED).update(next_attempt_at=now)
    for job_id in job_ids:
        queue.enqueue_run(job_id=job_id)
        counts["republished"] += 1
    return counts
