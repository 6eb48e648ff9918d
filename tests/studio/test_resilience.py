"""What keeps jobs alive: transient database errors retried, leases renewed, lost work found again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from studio.models import Job, JobStatus
from studio.services import credits, db, jobs
from studio.services.errors import ServiceUnavailable
from studio.services.jobs import leases

pytestmark = pytest.mark.django_db


def deadlock() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return error


def spec(designer) -> jobs.JobSpec:
    return jobs.validate_job(membership=designer, model="test-model", prompt="a resilient fox")


@pytest.mark.django_db(transaction=True)
def test_a_deadlocked_submit_is_run_again_and_holds_once(designer, ai_model, monkeypatch):
    real = credits.hold_credits
    calls: list[int] = []

    def hold_that_deadlocks_once(*, job: Job) -> Any:
        calls.append(job.pk)
        if len(calls) == 1:
            raise deadlock()
        return real(job=job)

    monkeypatch.setattr(credits, "hold_credits", hold_that_deadlocks_once)
    monkeypatch.setattr(jobs.queue, "enqueue_run_or_leave_for_sweep", lambda **_: None)
    job = jobs.submit_job(membership=designer, spec=spec(designer))
    assert len(calls) == 2  # the whole transaction ran again
    assert Job.objects.count() == 1 and job.credits_held == 20
    assert credits.member_balance(membership=designer) == 980
    assert credits.ledger_is_balanced()


@pytest.mark.django_db(transaction=True)
def test_a_database_that_stays_busy_is_a_503_with_retry_after_and_holds_nothing(designer, ai_model, monkeypatch, client):
    def always_deadlocks(*, job: Job) -> Any:
        raise deadlock()

    monkeypatch.setattr(credits, "hold_credits", always_deadlocks)
    monkeypatch.setattr(db.time, "sleep", lambda _: None)
    with pytest.raises(ServiceUnavailable):
        jobs.submit_job(membership=designer, spec=spec(designer))
    assert Job.objects.count() == 0
    assert credits.member_balance(membership=designer) == 1000

    from studio.api.auth import create_api_key

    _, key = create_api_key(membership=designer, name="busy")
    response = client.post(
        "/v2/images/generate", {"model": "test-model", "prompt": "x"}, content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "busy-1"},
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response["Retry-After"] == "2"
    assert Job.objects.count() == 0 and credits.member_balance(membership=designer) == 1000

    client.force_login(designer.user)
    page = client.post("/", {"model": "test-model", "prompt": "x"})
    assert Job.objects.count() == 0
    assert page.status_code in (400, 503)  # a form message, or the 503 page: never a 500
    assert b"busy" in page.content


def test_only_transient_errors_count_as_transient():
    assert db.is_transient(deadlock())
    serialization = OperationalError("could not serialize access")
    serialization.__cause__ = psycopg.errors.SerializationFailure("could not serialize access")
    assert db.is_transient(serialization)
    assert db.is_transient(OperationalError("server closed the connection unexpectedly"))
    assert db.is_transient(OperationalError("database is locked"))
    assert not db.is_transient(OperationalError("no such table: studio_job"))


def test_inside_an_enclosing_transaction_the_error_goes_to_its_owner(designer, ai_model, monkeypatch):
    calls: list[int] = []

    @db.transient_retry
    def busy() -> None:
        calls.append(1)
        raise deadlock()

    assert connection.in_atomic_block  # the test's own transaction
    with pytest.raises(OperationalError):
        busy()
    assert calls == [1]


def test_the_heartbeat_renews_only_running_jobs_with_a_lease(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.submit_job(membership=designer, spec=spec(designer))
        other = jobs.submit_job(membership=designer, spec=spec(designer))
    claimed = jobs.claim_job(job_id=job.pk)
    assert claimed is not None and claimed.lease_expires_at is not None
    soon = timezone.now() + timedelta(seconds=1)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=soon)
    assert leases.renew_leases(job_ids=[job.pk, other.pk]) == 1  # the queued one has no lease to renew
    job.refresh_from_db()
    assert job.lease_expires_at > soon + timedelta(seconds=20)


def test_the_sweep_republishes_a_job_the_broker_never_took(designer, ai_model, django_capture_on_commit_callbacks, monkeypatch):
    published: list[int] = []
    monkeypatch.setattr(jobs.queue, "enqueue_run", lambda *, job_id, countdown=0: published.append(job_id))
    monkeypatch.setattr(jobs.queue, "enqueue_poll", lambda *, job_id, countdown: published.append(-job_id))
    with django_capture_on_commit_callbacks(execute=False):
        lost = jobs.submit_job(membership=designer, spec=spec(designer))
        fresh = jobs.submit_job(membership=designer, spec=spec(designer))
    Job.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    assert leases.recover_jobs()["republished"] == 1
    assert published == [lost.pk]
    # Stamped: the next sweep leaves it alone until it has waited another period.
    assert leases.recover_jobs()["republished"] == 0
    assert Job.objects.get(pk=fresh.pk).status == JobStatus.QUEUED


def test_the_sweep_polls_an_async_job_whose_poll_was_lost(designer, ai_model, django_capture_on_commit_callbacks, monkeypatch):
    published: list[int] = []
    monkeypatch.setattr(jobs.queue, "enqueue_poll", lambda *, job_id, countdown: published.append(job_id))
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.submit_job(membership=designer, spec=spec(designer))
    jobs.claim_job(job_id=job.pk)
    # Submitted to the provider, then the worker died before its poll ran.
    Job.objects.filter(pk=job.pk).update(
        provider_job_id="remote-1", lease_expires_at=None, next_attempt_at=timezone.now() - timedelta(seconds=60)
    )
    counts = leases.recover_jobs()
    assert counts["polls"] == 1 and counts["requeued"] == 0 and published == [job.pk]
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING  # it resumes polling; never submitted again


def test_a_stale_worker_cannot_fail_the_run_that_replaced_it(designer, ai_model, django_capture_on_commit_callbacks):
    from providers.errors import ErrorCode, ProviderError

    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.submit_job(membership=designer, spec=spec(designer))
    first = jobs.claim_job(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False):
        assert leases.requeue_lost_job(job_id=job.pk) == "requeued"
    second = jobs.claim_job(job_id=job.pk)
    assert second.attempts == first.attempts + 1
    jobs.handle_provider_error(job_id=job.pk, error=ProviderError(ErrorCode.INVALID_REQUEST, "late"), attempt=first.attempts)
    jobs.fail_job(job_id=job.pk, code="upstream_error", message="late", attempt=first.attempts)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.attempts == second.attempts
    assert credits.member_balance(membership=designer) == 980


@pytest.mark.django_db(transaction=True)
def test_the_lease_heartbeat_hands_its_connection_back_once_idle(designer, ai_model, monkeypatch):
    """A web process that ran one long job must not keep an idle database session for it."""
    # Nothing runs it (no eager task on commit): this test holds the job itself.
    monkeypatch.setattr("studio.services.jobs.queue.enqueue_run_or_leave_for_sweep", lambda **_: None)
    job = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="long"))
    assert jobs.claim_job(job_id=job.pk) is not None
    stale = timezone.now()
    with leases.holding_lease(job_id=job.pk):
        Job.objects.filter(pk=job.pk).update(lease_expires_at=stale)
        leases._Heartbeat.tick()  # a tick of the heartbeat thread, run here to see its connection
        assert Job.objects.get(pk=job.pk).lease_expires_at > stale
    assert connection.connection is not None
    leases._Heartbeat.tick()  # nothing left to renew
    assert connection.connection is None
