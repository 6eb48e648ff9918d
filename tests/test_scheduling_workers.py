"""Provider limits and fairness through real worker processes (two at once) and the fake provider.

Runs on the embedded defaults (SQLite, filesystem broker) and, with DATABASE_URL and
REDIS_URL set, on PostgreSQL and Redis: the limit is one count shared by every process.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from providers.catalog import sync_catalog
from studio.celery import app as celery_app
from studio.models import Job, JobStatus, ProviderLimit, Team
from studio.services import credits, jobs
from tests.fakes.server import FakeProvider
from tests.worker import running_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def fake(settings: Any) -> Any:
    with FakeProvider(latency=0.6) as provider:
        provider.apply_to(settings)
        yield provider


def publish(membership, count: int, *, model: str = "test-model") -> list[int]:
    spec = jobs.validate_job(membership=membership, model=model, prompt="a lighthouse at dusk")
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # publish for real: the worker processes run them
    try:
        return [jobs.submit_job(membership=membership, spec=spec, source="api").pk for _ in range(count)]
    finally:
        celery_app.conf.task_always_eager = eager


def test_two_worker_processes_keep_one_provider_limit_together(fake, make_member, ai_model, tmp_path: Path):
    # The fake answers 429 past 2 calls at once, as a real provider would past its limit.
    ProviderLimit.objects.create(family="openai", max_concurrent=2)
    fake.concurrency_limit["openai"] = 2
    alice, bob = make_member("alice"), make_member("bob")
    ids = publish(alice, 6) + publish(bob, 4)
    assert set(Job.objects.filter(pk__in=ids).values_list("provider_family", flat=True)) == {"openai"}

    with ExitStack() as stack:
        for n in (1, 2):
            stack.enter_context(running_worker(concurrency=4, log=tmp_path / f"worker{n}.log", **fake.env()))
        finished = wait_until(
            lambda: not Job.objects.filter(pk__in=ids, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists(),
            timeout=120,
            interval=0.2,
        )
    logs = "".join((tmp_path / f"worker{n}.log").read_text(errors="replace")[-2000:] for n in (1, 2))
    assert finished, logs
    assert fake.peak_in_flight["openai"] == 2  # both slots used, never a third
    assert fake.rejected_429.get("openai", 0) == 0
    done = Job.objects.filter(pk__in=ids)
    assert [j.status for j in done] == [JobStatus.SUCCEEDED] * len(ids)
    # Waiting for the provider used no attempt: each job was claimed (and called) once.
    assert {j.attempts for j in done} == {1}
    assert len(fake.requests_to("openai.generations")) == len(ids)
    # Both processes did work: the limit held across them, not inside one.
    assert all("studio.tasks.run_job" in (tmp_path / f"worker{n}.log").read_text() for n in (1, 2))
    assert credits.ledger_is_balanced()


def test_a_member_at_the_cap_gets_the_turn_a_polled_job_frees(fake, designer, tmp_path: Path):
    """The member's second job is passed over at the team's cap of one while the first waits at
    an asynchronous provider (BFL: submitted, then polled); the poll that ends the first hands
    it the turn it is owed. No sweep runs here: without that turn it would wait forever."""
    sync_catalog()
    Team.objects.filter(pk=designer.team_id).update(max_running_per_member=1)
    fake.bfl_seconds = 1.5
    ids = publish(designer, 2, model="flux-1.1-pro")
    log = tmp_path / "worker.log"
    with running_worker(concurrency=4, log=log, **fake.env()):
        finished = wait_until(
            lambda: not Job.objects.filter(pk__in=ids, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists(),
            timeout=60,
            interval=0.2,
        )
    assert finished, log.read_text(errors="replace")[-3000:]
    first, second = Job.objects.filter(pk__in=ids).order_by("pk")
    assert (first.status, second.status) == (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED)
    assert second.started_at >= first.finished_at  # the cap held: one at a time
    assert len(fake.requests_to("bfl.submit")) == 2
    assert credits.ledger_is_balanced()
