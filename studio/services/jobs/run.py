"""Running a job: claim it, call its provider outside any transaction, record what came back.

Every way out of `run_job` ends in a terminal state or a scheduled retry; a worker that
dies on the way leaves a lease that lapses, and the sweep runs the job again
(`studio.services.jobs.leases`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from providers.errors import ErrorCode, ProviderError
from providers.registry import get_adapter
from providers.status import record_provider_error, record_provider_failure, record_provider_success
from providers.types import GenerationResult, Submission
from studio.models import Job, JobStatus
from studio.ops import logs
from studio.services.db import lock_first_free, lock_row, transient_retry
from studio.services.jobs import dispatch, leases, limits, queue
from studio.services.jobs.previews import progress_reporter, set_progress
from studio.services.jobs.request import build_request
from studio.services.jobs.settle import complete_job, fail_job

logger = logging.getLogger(__name__)

POLL_ERROR_LIMIT = 5
# While one delivery polls the provider, others see the poll as not yet due.
POLL_LEASE = timedelta(seconds=45)


def _locked(job_id: int) -> Job | None:
    try:
        return lock_row(Job, job_id)
    except Job.DoesNotExist:
        return None


@transient_retry
def claim_job(*, job_id: int) -> Job | None:
    """Move a due, queued job to running with a fresh lease; None if another delivery got it first."""
    with transaction.atomic():
        return _claim_locked(_locked(job_id))


@transient_retry
def claim_first(*, where: str, params: Sequence[object], member_cap: int = 0) -> Job | None:
    """Claim the oldest queued job matching `where` (SQL, a constant of the caller) that no other
    claim holds (SKIP LOCKED).

    Many free slots pick the same group at once; skipping the row another slot has locked
    lets each take the next job instead of all but one coming away empty.
    """
    with transaction.atomic():
        job = lock_first_free(Job, where=f"status = %s AND {where}", params=[JobStatus.QUEUED.value, *params])
        if job is not None and not limits.member_has_room(job=job, cap=member_cap):
            return None  # the member reached the team's cap since the dispatcher counted
        return _claim_locked(job)


def _claim_locked(job: Job | None) -> Job | None:
    return start_locked_job(job) if job is not None else None


# What starting a job writes, and putting it back when its provider has no room restores.
START_FIELDS = ("status", "attempts", "started_at", "next_attempt_at", "lease_expires_at")


def start_locked_job(job: Job) -> Job | None:
    """Under the row's lock: move a due, queued job to running with a fresh lease, if its provider has room."""
    if job.status != JobStatus.QUEUED:
        return None
    now = timezone.now()
    if job.next_attempt_at and job.next_attempt_at > now + timedelta(seconds=1):
        return None  # an early duplicate of a delayed retry
    queued = {name: getattr(job, name) for name in START_FIELDS}
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.started_at = job.started_at or now
    job.next_attempt_at = None
    job.lease_expires_at = leases.lease_deadline(now)
    # Written before the provider's lock (`limits.acquire`), which is then held for a count and
    # an insert only: the claims of every worker queue for it.
    job.save(update_fields=[*START_FIELDS, "updated_at"])
    if limits.acquire(job=job, now=now) is not None:
        # No room: it stays queued, and no attempt is used (the dispatcher counted without the lock).
        for name, value in queued.items():
            setattr(job, name, value)
        job.save(update_fields=[*START_FIELDS, "updated_at"])
        return None
    return job


def run_job(*, job_id: int) -> None:
    """Claim this very job and run it while this process keeps its lease renewed (eager tasks, tests)."""
    job = claim_job(job_id=job_id)
    if job is None:
        return
    with leases.holding_lease(job_id=job.pk):
        _run_claimed(job)


def run_started_job(*, job: Job) -> Job | None:
    """Run a job this process started itself (the synchronous API's submit claims it in its own
    transaction); return the job as it ended, or None if it did not end here (a retry is due,
    or it was never started here: its provider had no room, so a worker runs it)."""
    if job.status != JobStatus.RUNNING:
        return None
    try:
        with leases.holding_lease(job_id=job.pk):
            return _run_claimed(job)
    finally:
        _leave_slot(job)


def run_next_job(*, fan_out: bool = False) -> None:
    """A worker's turn: run the fairest queued job that may start (`dispatch`).

    Each queued job has a turn of its own; one that leaves the slot (done, failed, retrying,
    or waiting at an asynchronous provider) hands a turn on only to jobs it kept waiting:
    those of its provider or member that were passed over for lack of room.
    """
    job = dispatch.dispatch_next(fan_out=fan_out)
    if job is None:
        return
    # A turn names no job it runs (studio.ops.worker_signals binds none): this is the one.
    with logs.bound(job_id=job.pk, team=job.team_id, user=job.user_id, provider=job.provider_family):
        logger.info("job %s: dispatched to this worker (member %s, %s)", job.pk, job.user_id, job.provider_family)
        try:
            with leases.holding_lease(job_id=job.pk):
                _run_claimed(job)
        finally:
            _leave_slot(job)


def _leave_slot(job: Job) -> None:
    try:
        queue.pay_owed_turn(family=job.provider_family, team_id=job.team_id, user_id=job.user_id)
    except Exception:
        logger.warning("could not publish the next turn; the sweep republishes waiting jobs", exc_info=True)


def _run_claimed(job: Job) -> Job | None:
    """Call the provider and record the outcome: the job as it ended, or None if it did not end yet."""
    attempt = job.attempts
    try:
        adapter = get_adapter(job.provider_family)
        request = build_request(job)
        if adapter.is_async:
            submission = adapter.submit(request)
            record_provider_success(family=job.provider_family)
            record_submission(job_id=job.pk, submission=submission, attempt=attempt)
            return None
        result = adapter.generate(request, on_progress=progress_reporter(job_id=job.pk))
    except ProviderError as exc:
        record_provider_failure(family=job.provider_family, error=exc)
        if exc.code is ErrorCode.RATE_LIMITED:
            limits.record_429(family=job.provider_family, retry_after=exc.retry_after)
        handle_provider_error(job_id=job.pk, error=exc, attempt=attempt)
        return None
    except DatabaseError:
        logger.exception("job %s: the database failed around the provider call", job.pk)
        retry_after_internal_error(job_id=job.pk, attempt=attempt)
        return None
    except Exception as exc:
        logger.exception("job %s: provider call failed unexpectedly", job.pk)
        record_provider_error(family=job.provider_family, message=f"unexpected {type(exc).__name__}")
        return fail_job(
            job_id=job.pk, code=ErrorCode.UPSTREAM_ERROR, message="The provider call failed unexpectedly.", attempt=attempt
        )
    record_provider_success(family=job.provider_family)
    return record_result(job_id=job.pk, result=result, attempt=attempt, count=job.count)


def record_result(
    *, job_id: int, result: GenerationResult, attempt: int | None = None, count: int | None = None
) -> Job | None:
    """Complete the job; if recording fails, retry the job rather than leave it running."""
    try:
        return complete_job(job_id=job_id, result=result, count=count)
    except Exception:
        logger.exception("job %s: recording the provider's result failed", job_id)
        retry_after_internal_error(job_id=job_id, attempt=attempt)
        return None


def retry_after_internal_error(*, job_id: int, attempt: int | None) -> None:
    """Our side failed (the database, storage): retry like an outage; the lease backs this up."""
    try:
        handle_provider_error(
            job_id=job_id,
            error=ProviderError(ErrorCode.UNAVAILABLE, "Storing the result failed on our side."),
            attempt=attempt,
        )
    except Exception:
        # Even that failed (the database is down): the lease lapses and the sweep runs it again.
        logger.exception("job %s: could not schedule a retry; its lease will lapse", job_id)


@transient_retry
def record_submission(*, job_id: int, submission: Submission, attempt: int | None = None) -> None:
    """Keep the provider's job id on the job, then schedule the first poll (no slot waits)."""
    with transaction.atomic():
        job = _locked(job_id)
        if job is None or job.is_terminal or (attempt is not None and job.attempts != attempt):
            return
        job.provider_job_id = submission.provider_job_id
        job.provider_state = {"poll_url": submission.poll_url, "state": dict(submission.state)}
        job.next_attempt_at = timezone.now() + timedelta(seconds=submission.poll_after)
        job.lease_expires_at = None  # from here the due poll is the lease
        job.save(update_fields=["provider_job_id", "provider_state", "next_attempt_at", "lease_expires_at", "updated_at"])
        transaction.on_commit(lambda: queue.enqueue_poll(job_id=job_id, countdown=submission.poll_after))


@transient_retry
def _claim_poll(*, job_id: int) -> Job | None:
    with transaction.atomic():
        job = _locked(job_id)
        if job is None or job.status != JobStatus.RUNNING or not job.provider_job_id:
            return None
        now = timezone.now()
        if job.next_attempt_at and job.next_attempt_at > now + timedelta(seconds=1):
            return None  # another poll is due later; this delivery is a duplicate
        job.next_attempt_at = now + POLL_LEASE
        job.save(update_fields=["next_attempt_at", "updated_at"])
        return job


def poll_job(*, job_id: int) -> None:
    """Ask an asynchronous provider how a job is doing; re-schedule or record.

    A job that lost its worker resumes here with the provider job id it already has: the
    provider is never asked to start it again.
    """
    job = _claim_poll(job_id=job_id)
    if job is None:
        return
    if _poll_claimed(job):
        # Ended here: its member's place under the team's cap is free (its provider's call
        # stopped counting when it was submitted).
        _leave_slot(job)


def _poll_claimed(job: Job) -> bool:
    """One poll of a claimed job; whether the job ended."""
    job_id = job.pk
    stored = job.provider_state or {}
    submission = Submission(
        provider_job_id=job.provider_job_id,
        poll_url=stored.get("poll_url"),
        state=stored.get("state") or {},
    )
    poll_errors = int(stored.get("poll_errors", 0))
    try:
        outcome = get_adapter(job.provider_family).poll(submission)
    except ProviderError as exc:
        record_provider_failure(family=job.provider_family, error=exc)
        if exc.code is ErrorCode.RATE_LIMITED:
            limits.record_429(family=job.provider_family, retry_after=exc.retry_after)
        if exc.retryable and poll_errors < POLL_ERROR_LIMIT:
            _reschedule_poll(job_id=job_id, delay=backoff_delay(poll_errors + 1, exc.retry_after), poll_error=True)
            return False
        fail_job(job_id=job_id, code=exc.code, message=exc.message)
        return True
    except DatabaseError:
        logger.exception("job %s: the database failed around the poll", job_id)
        return False  # the poll lease lapses and the sweep polls again
    except Exception as exc:
        logger.exception("job %s: poll failed unexpectedly", job_id)
        record_provider_error(family=job.provider_family, message=f"unexpected {type(exc).__name__}")
        fail_job(job_id=job_id, code=ErrorCode.UPSTREAM_ERROR, message="Checking on the provider failed.")
        return True
    record_provider_success(family=job.provider_family)
    if not outcome.done or outcome.result is None:
        set_progress(job_id=job_id, percent=outcome.progress)
        _reschedule_poll(job_id=job_id, delay=outcome.poll_after, poll_error=False)
        return False
    try:
        complete_job(job_id=job_id, result=outcome.result)
    except Exception:
        logger.exception("job %s: recording the polled result failed; polling again", job_id)
        _reschedule_poll(job_id=job_id, delay=backoff_delay(poll_errors + 1), poll_error=True)
        return False
    return True


@transient_retry
def _reschedule_poll(*, job_id: int, delay: float, poll_error: bool) -> None:
    with transaction.atomic():
        job = _locked(job_id)
        if job is None or job.status != JobStatus.RUNNING:
            return
        state = dict(job.provider_state or {})
        state["poll_errors"] = int(state.get("poll_errors", 0)) + 1 if poll_error else 0
        job.provider_state = state
        job.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        job.save(update_fields=["provider_state", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: queue.enqueue_poll(job_id=job_id, countdown=delay))


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential back-off with equal jitter; a provider's Retry-After is a floor.

    Equal jitter (half the step fixed, half random) rather than full jitter: with full
    jitter a run of small draws can spend every attempt inside a 30-second outage, and a
    job must outlast one.
    """
    cap = min(settings.STUDIO_RETRY_MAX_SECONDS, settings.STUDIO_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    delay = cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, queue.MAX_COUNTDOWN)


@transient_retry
def handle_provider_error(*, job_id: int, error: ProviderError, attempt: int | None = None) -> None:
    """Retry what may pass (rate limits, outages, timeouts); fail the rest at once.

    `attempt` is the claim the caller ran: a worker whose lease lapsed and whose job was
    claimed again by another has no say over it any more.
    """
    with transaction.atomic():
        job = _locked(job_id)
        if job is None or job.status != JobStatus.RUNNING:
            return
        if attempt is not None and job.attempts != attempt:
            return
        if error.retryable and job.attempts < settings.STUDIO_MAX_ATTEMPTS:
            delay = backoff_delay(job.attempts, error.retry_after)
            job.status = JobStatus.QUEUED
            job.error_code = error.code
            job.error_message = f"Retrying after: {error.message}"[:500]
            job.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            job.lease_expires_at = None
            job.save(
                update_fields=["status", "error_code", "error_message", "next_attempt_at", "lease_expires_at", "updated_at"]
            )
            transaction.on_commit(lambda: queue.enqueue_run_or_leave_for_sweep(job_id=job_id, countdown=delay))
            return
    fail_job(job_id=job_id, code=error.code, message=error.message)
