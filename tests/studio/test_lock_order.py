"""The lock order (studio/services/db.py) on PostgreSQL: shared rows are never locked.

Each test holds, in one transaction, the lock that an old code path took and that caused
issue 10's deadlocks, and checks the other side no longer waits on it.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from providers.models import CatalogModel
from providers.types import GeneratedImage, GenerationResult
from studio.models import Account, AccountKind, Job, JobStatus
from studio.models.jobs import HoldState
from studio.services import credits, jobs
from studio.services.db import lock_first_free, lock_row
from studio.services.jobs import run
from tests.images import make_png

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks (set DATABASE_URL)"),
]


def in_thread(target, *, timeout: float = 10.0) -> tuple[float, BaseException | None]:
    """Run `target` on its own connection; return how long it took and what it raised."""
    outcome: dict[str, object] = {}

    def runner() -> None:
        started = time.monotonic()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '3s'")
            target()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            outcome["seconds"] = time.monotonic() - started
            connections.close_all()

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join(timeout=timeout)
    assert not thread.is_alive(), "the second transaction hung"
    return float(outcome["seconds"]), outcome.get("error")  # type: ignore[return-value]


def submitted(designer, monkeypatch) -> Job:
    monkeypatch.setattr(jobs.queue, "enqueue_run_or_leave_for_sweep", lambda **_: None)
    spec = jobs.validate_job(membership=designer, model="test-model", prompt="a lock order")
    return jobs.submit_job(membership=designer, spec=spec)


def test_completing_a_job_does_not_wait_on_a_submit_of_the_same_model(designer, ai_model, monkeypatch):
    """A submit holds FOR KEY SHARE on the catalogue row until it commits; completing must not need more."""
    job = submitted(designer, monkeypatch)
    jobs.claim_job(job_id=job.pk)
    result = GenerationResult(images=(GeneratedImage(data=make_png(1024, 1024), mime_type="image/png", width=1024, height=1024),))
    with transaction.atomic():
        with connection.cursor() as cursor:
            table = CatalogModel._meta.db_table  # a model attribute, not input
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE", [ai_model.pk])  # noqa: S608
        seconds, error = in_thread(lambda: jobs.complete_job(job_id=job.pk, result=result))
    assert error is None, error
    assert seconds < 2.5
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.credits_charged == 20


def test_holds_and_settles_never_lock_the_team_s_system_accounts(designer, ai_model, monkeypatch):
    """Every job of a team used to update the same holds and spent rows; now no job touches them."""
    system = Account.objects.filter(team=designer.team, kind__in=[AccountKind.HOLDS, AccountKind.SPENT])
    assert system.count() == 2
    first = submitted(designer, monkeypatch)
    with transaction.atomic():
        # What every hold and settle of the team took before: the row lock an UPDATE of the
        # cached balance takes. (A transfer's foreign key still takes FOR KEY SHARE, which no
        # balance update conflicts with.)
        list(system.select_for_update(no_key=True))
        seconds, error = in_thread(lambda: submitted(designer, monkeypatch))
        assert error is None, error
        seconds_settle, error = in_thread(lambda: credits.settle_job_credits(job_id=first.pk, delivered=1))
        assert error is None, error
    assert seconds < 2.5 and seconds_settle < 2.5
    assert credits.ledger_is_balanced()
    assert credits.team_system_balance(team=designer.team, kind=AccountKind.HOLDS) == 20  # the second job's hold
    assert credits.team_system_balance(team=designer.team, kind=AccountKind.SPENT) == 20


def test_settling_locks_the_job_row_and_only_it(designer, ai_model, monkeypatch):
    """Settle reads its job through `lock_row` (SQL written once, issue 12): still FOR NO KEY
    UPDATE, so a second settle waits for the first, and still no FOR UPDATE, so a refinement
    or transfer pointing at the job (FOR KEY SHARE) does not."""
    job = submitted(designer, monkeypatch)
    table = Job._meta.db_table  # a model attribute, not input
    with transaction.atomic():
        assert lock_row(Job, job.pk).hold_state == HoldState.HELD
        seconds, error = in_thread(lambda: credits.release_job_credits(job_id=job.pk))
        assert error is not None and getattr(error.__cause__, "sqlstate", None) == "55P03"  # lock_timeout
        assert seconds >= 2.5

        def key_share() -> None:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE", [job.pk])  # noqa: S608

        seconds, error = in_thread(key_share)
        assert error is None and seconds < 2.5
    with pytest.raises(Job.DoesNotExist):
        lock_row(Job, 10**9)
    assert credits.release_job_credits(job_id=job.pk).hold_state == HoldState.SETTLED


def test_a_claim_skips_the_job_another_claim_holds_and_takes_the_next(designer, ai_model, monkeypatch):
    """The dispatcher's claim (`claim_first`, SQL written once per condition, issue 12): FOR NO
    KEY UPDATE SKIP LOCKED, so a second slot takes the next queued job instead of waiting for,
    or coming away empty from, the one the first slot holds; a running job is never taken."""
    first, second, third = (submitted(designer, monkeypatch) for _ in range(3))
    jobs.claim_job(job_id=first.pk)  # running now: not claimable
    where, params = "user_id = %s", [designer.user_id]
    taken: list[Job | None] = []
    with transaction.atomic():
        assert lock_first_free(Job, where=f"status = 'queued' AND {where}", params=params).pk == second.pk
        seconds, error = in_thread(lambda: taken.append(run.claim_first(where=where, params=params)))
        assert error is None and seconds < 2.5
    assert taken[0] is not None and taken[0].pk == third.pk and taken[0].status == JobStatus.RUNNING
    assert run.claim_first(where=where, params=params).pk == second.pk
    assert run.claim_first(where=where, params=params) is None
