"""Worker benchmarks against the fake provider (`make bench`; never part of `make test`).

(a) Synchronous calls answered after 2 s: ONE worker process (threads pool, SLOTS slots)
    works through 500 jobs. Little's law says the ceiling is SLOTS / latency jobs per
    second; the figure printed is what the whole path (claim, HTTP, decode, store,
    thumbnail, settle) achieves, with the worker's peak memory.
(b) Asynchronous jobs that take 30 s at the provider: 200 of them on 8 slots finish in
    under twice that, because a poll is a short re-scheduled task that holds no slot
    while the provider works.

Needs PostgreSQL and Redis (SQLite cannot take dozens of concurrent writers); skipped
otherwise. Jobs are queued first, then the worker starts, so the figures are the worker's.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Max, Min

from providers.catalog import sync_catalog
from studio.celery import app as celery_app
from studio.models import Job, JobStatus, Membership
from studio.services import credits, jobs
from tests.fakes.server import FakeProvider
from tests.worker import running_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SYNC_JOBS = 500
SYNC_LATENCY = 2.0
# 64 threads, each with its own PostgreSQL connection, stays well inside the default
# max_connections of 100 alongside the test process.
SLOTS = 64
ASYNC_JOBS = 200
ASYNC_SECONDS = 30.0
ASYNC_SLOTS = 8


@pytest.fixture(autouse=True)
def _needs_postgres_and_redis() -> None:
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip(
            "the worker benchmark runs on PostgreSQL + Redis: "
            "DATABASE_URL=postgres://... REDIS_URL=redis://... make bench"
        )


@pytest.fixture
def member(make_member: Any) -> Membership:
    return make_member("bench", balance=50_000)


@pytest.fixture
def fake(settings: Any) -> Any:
    with FakeProvider() as provider:
        provider.apply_to(settings)
        yield provider


def queue_jobs(member: Membership, model: str, count: int) -> list[int]:
    """Submit `count` jobs; their tasks wait in Redis until the worker starts."""
    spec = jobs.validate_job(membership=member, model=model, prompt="benchmark: a lighthouse at dusk")
    started = time.monotonic()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # publish for real, do not run here
    try:
        ids = [jobs.submit_job(membership=member, spec=spec, source="api").pk for _ in range(count)]
    finally:
        celery_app.conf.task_always_eager = eager
    print(f"\n  queued {count} jobs in {time.monotonic() - started:.1f} s (submit_job in a loop)")
    return ids


def all_finished(ids: list[int]) -> bool:
    return not Job.objects.filter(pk__in=ids, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            pids += process_tree(int(child))
    return pids


def peak_rss_mb(process: subprocess.Popen[bytes]) -> tuple[float, int]:
    """Sum of VmHWM (peak resident set) over the worker's process tree, and its size."""
    total_kb = 0
    pids = process_tree(process.pid)
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024, len(pids)


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU the worker has used so far (one process: the threads pool)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_in_flight(arrivals: list[float], duration: float) -> int:
    """Most provider calls open at once, from arrival times of calls lasting `duration`."""
    events = sorted([(t, 1) for t in arrivals] + [(t + duration, -1) for t in arrivals])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def task_seconds(log: Path, task: str) -> str:
    """Median and 90th percentile run time of `task` from the worker's log."""
    found = re.findall(rf"{re.escape(task)}\[[^\]]+\] succeeded in ([0-9.]+)s", log.read_text(errors="replace"))
    times = sorted(float(t) for t in found)
    if not times:
        return "no runs logged"
    return f"p50 {times[len(times) // 2]:.2f} s, p90 {times[int(len(times) * 0.9)]:.2f} s over {len(times)} runs"


def span_seconds(ids: list[int]) -> float:
    times = Job.objects.filter(pk__in=ids).aggregate(first=Min("started_at"), last=Max("finished_at"))
    return (times["last"] - times["first"]).total_seconds()


def test_a_one_worker_throughput_on_a_2_second_provider(fake: FakeProvider, member: Membership, tmp_path: Path) -> None:
    sync_catalog()
    fake.latency = SYNC_LATENCY
    ids = queue_jobs(member, "gpt-image-1-mini-low", SYNC_JOBS)

    with running_worker(concurrency=SLOTS, log=tmp_path / "worker.log", **fake.env()) as worker:
        finished = wait_until(lambda: all_finished(ids), timeout=300, interval=0.5)
        rss, processes = peak_rss_mb(worker)
        cpu = cpu_seconds(worker)
    assert finished, (tmp_path / "worker.log").read_text()[-3000:]

    succeeded = Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count()
    span = span_seconds(ids)
    rate = SYNC_JOBS / span
    ideal = SLOTS / SYNC_LATENCY
    waves = math.ceil(SYNC_JOBS / SLOTS) * SYNC_LATENCY
    calls = fake.requests_to("openai.generations")
    in_flight = peak_in_flight([c.at for c in calls], SYNC_LATENCY)
    print(
        f"  (a) {SYNC_JOBS} jobs, provider latency {SYNC_LATENCY:g} s, 1 worker process, {SLOTS} thread slots\n"
        f"      first claim -> last finish: {span:.1f} s (best possible {waves:.0f} s in "
        f"{math.ceil(SYNC_JOBS / SLOTS)} waves)\n"
        f"      throughput {rate:.1f} jobs/s vs ideal {ideal:.1f} (slots / latency): {100 * rate / ideal:.0f}%\n"
        f"      peak provider calls in flight: {in_flight}; provider calls: {len(calls)}\n"
        f"      run_job task: {task_seconds(tmp_path / 'worker.log', 'studio.tasks.run_job')}\n"
        f"      worker CPU {cpu:.1f} s ({1000 * cpu / SYNC_JOBS:.0f} ms per job; one process, one GIL)\n"
        f"      worker peak RSS (VmHWM, {processes} process): {rss:.0f} MB"
    )
    assert succeeded == SYNC_JOBS
    assert len(calls) == SYNC_JOBS  # one call per job: nothing retried or run twice
    assert in_flight <= SLOTS
    assert credits.ledger_is_balanced()


def test_b_async_polling_holds_no_slot(fake: FakeProvider, member: Membership, tmp_path: Path) -> None:
    sync_catalog()
    fake.bfl_seconds = ASYNC_SECONDS
    ids = queue_jobs(member, "flux-1.1-pro", ASYNC_JOBS)

    with running_worker(concurrency=ASYNC_SLOTS, log=tmp_path / "worker.log", **fake.env()) as worker:
        finished = wait_until(lambda: all_finished(ids), timeout=4 * ASYNC_SECONDS, interval=0.5)
        rss, _ = peak_rss_mb(worker)
        cpu = cpu_seconds(worker)
    assert finished, (tmp_path / "worker.log").read_text()[-3000:]

    span = span_seconds(ids)
    serial = ASYNC_JOBS * ASYNC_SECONDS / ASYNC_SLOTS
    submits = fake.requests_to("bfl.submit")
    polls = fake.requests_to("bfl.poll")
    provider_ids = set(Job.objects.filter(pk__in=ids).values_list("provider_job_id", flat=True))
    print(
        f"  (b) {ASYNC_JOBS} async jobs of {ASYNC_SECONDS:g} s on {ASYNC_SLOTS} slots: "
        f"first claim -> last finish {span:.1f} s (limit {2 * ASYNC_SECONDS:g} s; a slot held per job "
        f"would need {serial:.0f} s)\n"
        f"      poll task: {task_seconds(tmp_path / 'worker.log', 'studio.tasks.poll_job')}; "
        f"run_job (submit) task: {task_seconds(tmp_path / 'worker.log', 'studio.tasks.run_job')}\n"
        f"      {len(submits)} submits, {len(polls)} polls ({len(polls) / ASYNC_JOBS:.1f} per job), "
        f"worker CPU {cpu:.1f} s, peak RSS {rss:.0f} MB"
    )
    assert Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == ASYNC_JOBS
    assert len(submits) == ASYNC_JOBS and len(provider_ids) == ASYNC_JOBS  # exactly one submit per job
    assert span < 2 * ASYNC_SECONDS
    assert credits.ledger_is_balanced()
