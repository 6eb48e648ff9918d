"""Issue 12, goal 3: is the worker as fast as its two bounds allow, and does a second process
on the second core double it? (`make bench`; figures printed, never asserted.)

A provider answering in 18 ms makes the worker CPU-bound: the slot bound (slots ÷ latency)
is far above the CPU bound (cores ÷ CPU per job). The same number of jobs is queued twice,
then worked through by one worker process and by two, from the first claim to the last
thumbnail; the whole path counts (claim, call, verify, store, settle, the thumbnail task),
and so does the CPU it costs PostgreSQL and Redis. CPU per job is split by process so it
says where the time goes.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.utils import timezone

from gallery.models import Image
from providers.catalog import sync_catalog
from studio.models import Job, Membership
from studio.services import credits
from tests.bench.test_worker_bench import all_finished, cpu_seconds, queue_jobs, span_seconds
from tests.fakes.server import FakeProvider
from tests.worker import running_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

JOBS = int(os.environ.get("STUDIO_BENCH_WORKER_JOBS", "300"))
LATENCY = 0.018
SLOTS = 8  # per process: 8 / 18 ms = 444 jobs/s, far above what two cores can do
CORES = os.cpu_count() or 1


@pytest.fixture(autouse=True)
def _needs_postgres_and_redis() -> None:
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("the worker benchmark runs on PostgreSQL + Redis: DATABASE_URL=... REDIS_URL=... make bench")


@pytest.fixture
def member(make_member: Any) -> Membership:
    return make_member("bench", balance=50_000)


@pytest.fixture
def fake(settings: Any) -> Any:
    with FakeProvider(latency=LATENCY, record=False) as provider:
        provider.apply_to(settings)
        yield provider


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process alive now (the workers' connections persist
    through a run, so their backends are all counted)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if name.startswith("postgres"):
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def redis_cpu() -> float:
    info = redis.Redis.from_url(settings.REDIS_URL).info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def thumbnails_done(ids: list[int]) -> bool:
    return not Image.objects.filter(job_id__in=ids, thumbnail="").exists()


def work_through(fake: FakeProvider, member: Membership, processes: int, tmp_path: Path) -> dict[str, float]:
    ids = queue_jobs(member, "gpt-image-1-mini-low", JOBS)
    logs = [tmp_path / f"worker{processes}-{n}.log" for n in range(processes)]
    with ExitStack() as workers:
        started = [
            workers.enter_context(running_worker(concurrency=SLOTS, log=log, **fake.env())) for log in logs
        ]
        # Start-up (imports, connections) is no job's cost: count from the moment each says ready.
        ready_cpu = []
        for worker, log in zip(started, logs, strict=True):
            assert wait_until(lambda log=log: "ready." in log.read_text(errors="replace"), timeout=60, interval=0.01)
            ready_cpu.append(cpu_seconds(worker))
        pg_before, redis_before, here_before = postgres_cpu(), redis_cpu(), sum(os.times()[:2])
        finished = wait_until(lambda: all_finished(ids) and thumbnails_done(ids), timeout=600, interval=0.05)
        # The work ends with the last thumbnail, which a worker makes after the jobs it serves first.
        ended = timezone.now()
        worker_cpu = sum(cpu_seconds(worker) for worker in started) - sum(ready_cpu)
        pg_cpu, r_cpu = postgres_cpu() - pg_before, redis_cpu() - redis_before
        here_cpu = sum(os.times()[:2]) - here_before
    assert finished, (tmp_path / f"worker{processes}-0.log").read_text()[-3000:]
    assert Job.objects.filter(pk__in=ids, status="succeeded").count() == JOBS
    first = Job.objects.filter(pk__in=ids).aggregate(first=Min("started_at"))["first"]
    span = (ended - first).total_seconds()
    return {
        "rate": JOBS / span,
        "span": span,
        "jobs_span": span_seconds(ids),
        "worker_ms": 1000 * worker_cpu / JOBS,
        "postgres_ms": 1000 * pg_cpu / JOBS,
        "redis_ms": 1000 * r_cpu / JOBS,
        "provider_ms": 1000 * here_cpu / JOBS,
    }


def test_c_one_and_two_worker_processes_against_their_bounds(
    fake: FakeProvider, member: Membership, tmp_path: Path
) -> None:
    sync_catalog()
    runs = {n: work_through(fake, member, n, tmp_path) for n in (1, 2)}
    lines = [
        f"\n[issue 12] worker: {JOBS} jobs, provider latency {LATENCY * 1000:.0f} ms, {SLOTS} slots per process, "
        f"{CORES} cores (load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])})"
    ]
    for n, run in runs.items():
        cpu = run["worker_ms"] + run["postgres_ms"] + run["redis_ms"]
        slot_bound = n * SLOTS / LATENCY
        cpu_bound = CORES / (cpu / 1000)
        bound = min(slot_bound, cpu_bound)
        lines.append(
            f"     {n} process(es): {run['rate']:.1f} jobs/s over {run['span']:.1f} s; bounds: slots {slot_bound:.0f}/s, "
            f"cores ÷ CPU {cpu_bound:.1f}/s -> {100 * run['rate'] / bound:.0f}% of {bound:.1f}/s; "
            f"CPU per job {cpu:.1f} ms (worker {run['worker_ms']:.1f}, postgres {run['postgres_ms']:.1f}, "
            f"redis {run['redis_ms']:.1f}); the last job ended after {run['jobs_span']:.1f} s, its thumbnails "
            f"count too; the fake provider and this test's polling took {run['provider_ms']:.1f} ms per job "
            "of the same cores, not counted"
        )
    lines.append(f"     two processes ÷ one: {runs[2]['rate'] / runs[1]['rate']:.2f}x")
    print("\n".join(lines))
    assert credits.ledger_is_balanced()
