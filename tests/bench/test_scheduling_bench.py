"""Scheduling benchmarks against the fake provider (`make bench`; never part of `make test`).

(1) Fairness: member A's 200-job batch, then member B's single job, on 16 slots of a
    provider answering in 1 s. Printed: how long B's job waited to start, and A's batch
    throughput with B's job in the middle against A's batch alone.
(2) Provider limits: OpenAI limited to 5 concurrent calls and 60 a minute, 100 jobs at once
    on 64 slots, and Gemini jobs submitted meanwhile. The fake answers 429 past 5 calls at
    once, as a real provider would. Printed: most calls in flight, most calls in any 60 s,
    failures, 429s, and how soon the Gemini jobs finished.
(3) Two worker processes of 32 slots each, OpenAI limited to 5 concurrent calls: the most
    in flight over both, and how the jobs split between the processes.

Needs PostgreSQL and Redis (SQLite cannot take dozens of concurrent writers); skipped
otherwise. The figures are printed; nothing here asserts a time.
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Max, Min

from providers.catalog import sync_catalog
from studio.celery import app as celery_app
from studio.models import Job, JobStatus, Membership, ProviderLimit
from studio.services import credits, jobs
from tests.fakes.server import FakeProvider
from tests.worker import running_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

OPENAI = "gpt-image-1-mini-low"
GEMINI = "gemini-2.5-flash-image"


@pytest.fixture(autouse=True)
def _needs_postgres_and_redis() -> None:
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("the scheduling benchmark runs on PostgreSQL + Redis: DATABASE_URL=... REDIS_URL=... make bench")


@pytest.fixture
def fake(settings: Any) -> Any:
    with FakeProvider(latency=1.0) as provider:
        provider.apply_to(settings)
        yield provider


def publish(membership: Membership, model: str, count: int, *, batch: bool = False) -> list[int]:
    specs = [jobs.validate_job(membership=membership, model=model, prompt=f"benchmark {i}: a lighthouse") for i in range(count)]
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        if batch:
            return [job.pk for job in jobs.submit_jobs(membership=membership, specs=specs)]
        return [jobs.submit_job(membership=membership, spec=spec, source="api").pk for spec in specs]
    finally:
        celery_app.conf.task_always_eager = eager


def unfinished(ids: list[int]) -> bool:
    return Job.objects.filter(pk__in=ids, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()


def span(ids: list[int]) -> float:
    times = Job.objects.filter(pk__in=ids).aggregate(first=Min("started_at"), last=Max("finished_at"))
    return (times["last"] - times["first"]).total_seconds()


def busiest_minute(arrivals: list[float]) -> int:
    """Most calls that arrived within any 60 seconds."""
    arrivals = sorted(arrivals)
    best = start = 0
    for end, at in enumerate(arrivals):
        while at - arrivals[start] >= 60:
            start += 1
        best = max(best, end - start + 1)
    return best


def wait_all(ids: list[int], timeout: float) -> bool:
    return wait_until(lambda: not unfinished(ids), timeout=timeout, interval=0.2)


def test_1_one_members_batch_does_not_starve_another(fake: FakeProvider, make_member: Any, tmp_path: Path) -> None:
    sync_catalog()
    alice, bob = make_member("alice", balance=50_000), make_member("bob", balance=50_000)
    with running_worker(concurrency=16, log=tmp_path / "worker.log", **fake.env()):
        time.sleep(3)  # the worker is up before the clock starts
        alone = publish(alice, OPENAI, 200, batch=True)
        assert wait_all(alone, 120)
        alone_rate = 200 / span(alone)

        batch = publish(alice, OPENAI, 200, batch=True)
        time.sleep(3)  # the batch holds every slot
        (single,) = publish(bob, OPENAI, 1)
        assert wait_all([*batch, single], 120)
    with_b_rate = 200 / span(batch)
    b = Job.objects.get(pk=single)
    b_wait = (b.started_at - b.created_at).total_seconds()
    change = 100 * (with_b_rate - alone_rate) / alone_rate
    print(
        f"\n  (1) A: 200-job batch, then B: 1 job; fake answers in 1 s; 16 slots\n"
        f"      B's job started {b_wait:.2f} s after submit (target <= 1.2 s) and finished "
        f"{(b.finished_at - b.created_at).total_seconds():.2f} s after\n"
        f"      A's throughput alone {alone_rate:.2f} jobs/s, with B's job {with_b_rate:.2f} jobs/s ({change:+.1f} %)"
    )
    assert Job.objects.filter(pk__in=[*alone, *batch, single], status=JobStatus.SUCCEEDED).count() == 401
    assert credits.ledger_is_balanced()


def test_2_provider_limits_hold_and_other_providers_run(fake: FakeProvider, make_member: Any, tmp_path: Path) -> None:
    sync_catalog()
    ProviderLimit.objects.create(family="openai", max_concurrent=5, per_minute=60)
    fake.concurrency_limit["openai"] = 5
    alice, bob = make_member("alice", balance=50_000), make_member("bob", balance=50_000)
    with running_worker(concurrency=64, log=tmp_path / "worker.log", **fake.env()):
        time.sleep(3)
        started = time.monotonic()
        limited = publish(alice, OPENAI, 100)
        time.sleep(5)
        others = publish(bob, GEMINI, 20)
        others_at = time.monotonic()
        assert wait_all(others, 60)
        others_took = time.monotonic() - others_at
        assert wait_all(limited, 300)
        total = time.monotonic() - started
    calls = fake.requests_to("openai.generations")
    done = Job.objects.filter(pk__in=limited + others)
    failed = done.filter(status=JobStatus.FAILED).count()
    retried = done.filter(attempts__gt=1).count()
    print(
        f"\n  (2) 100 OpenAI jobs at once on 64 slots; limit 5 concurrent, 60 a minute\n"
        f"      most OpenAI calls in flight at the fake: {fake.peak_in_flight.get('openai', 0)}; "
        f"most in any 60 s: {busiest_minute([c.at for c in calls])}; calls {len(calls)}\n"
        f"      jobs failed {failed}; 429s the fake sent {fake.rejected_429.get('openai', 0)}; jobs retried {retried}; "
        f"all 100 done in {total:.0f} s (60 a minute allows no less than ~60 s)\n"
        f"      meanwhile 20 Gemini jobs (submitted 5 s in) all finished {others_took:.1f} s after submit"
    )
    assert failed == 0 and done.filter(status=JobStatus.SUCCEEDED).count() == 120
    assert credits.ledger_is_balanced()


def test_3_two_worker_processes_share_one_limit(fake: FakeProvider, make_member: Any, tmp_path: Path) -> None:
    sync_catalog()
    ProviderLimit.objects.create(family="openai", max_concurrent=5)
    fake.concurrency_limit["openai"] = 5
    alice = make_member("alice", balance=50_000)
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    with ExitStack() as stack:
        for log in logs:
            stack.enter_context(running_worker(concurrency=32, log=log, **fake.env()))
        time.sleep(3)
        ids = publish(alice, OPENAI, 60)
        assert wait_all(ids, 120)
    ran = [len(re.findall(r"dispatched to this worker", log.read_text(errors="replace"))) for log in logs]
    print(
        f"\n  (3) 60 OpenAI jobs, 2 worker processes x 32 slots, limit 5 concurrent\n"
        f"      most calls in flight at the fake over both: {fake.peak_in_flight.get('openai', 0)}; "
        f"429s sent {fake.rejected_429.get('openai', 0)}; span {span(ids):.1f} s (5 at a time: >= 12 s)\n"
        f"      jobs run per process: {ran[0]} and {ran[1]}; "
        f"failed {Job.objects.filter(pk__in=ids, status=JobStatus.FAILED).count()}"
    )
    assert Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 60
