"""API benchmarks: figures printed, not asserted.

    make bench            # or: STUDIO_BENCH=1 .venv/bin/pytest tests/bench/test_api_bench.py -s

1. Submit path, POST /v2/images/generate (auth, validation, idempotency claim, hold,
   enqueue to Redis) at a paced 50 requests/s for 10 s against gunicorn (2 workers x 8
   threads) on PostgreSQL + Redis. No worker runs: only the submit is measured.
2. What POST /v1/images/generations adds over calling the fake provider directly: the
   same OpenAI-shaped request, sequentially, to the fake (tests/fakes/server.py) and to
   the studio (gunicorn + a real Celery worker whose adapter calls that fake).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from studio.api.auth import create_api_key
from studio.celery import app as celery_app
from studio.models import Job
from tests.fakes.server import FakeProvider
from tests.worker import ROOT, running_worker, stop_process, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

RATE = int(os.environ.get("STUDIO_BENCH_RATE", "50"))
SECONDS = 10
SIZES_1K = {"default": {"1:1": [1024, 1024]}}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"n={len(ms)} p50={percentile(ms, 50):.1f} ms p95={percentile(ms, 95):.1f} ms "
        f"p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms mean={statistics.fmean(ms):.1f} ms"
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(**env: str) -> Iterator[str]:
    """The web app under gunicorn (gthread), against the test database."""
    port = free_port()
    log = Path(settings.STUDIO_DATA_DIR) / "gunicorn.log"
    handle = log.open("ab")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "studio.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--threads", "8", "--worker-class", "gthread", "--log-level", "warning",
        ],
        cwd=ROOT,
        env=worker_env(ALLOWED_HOSTS="127.0.0.1", STUDIO_API_RATE_LIMIT="0", **env),
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    _SERVERS[url] = process.pid
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process)
        handle.close()


LOAD_BEFORE = ""
_SERVERS: dict[str, int] = {}


def server_pid(url: str) -> int:
    return _SERVERS[url]


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
    reason="the submit benchmark needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL",
)
def test_submit_endpoint_at_50_rps(make_member, make_model):
    global LOAD_BEFORE
    LOAD_BEFORE = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    make_model("bench-model", credits_per_image=1, sizes=SIZES_1K)
    member = make_member("bench", balance=50_000)
    _, key = create_api_key(membership=member, name="bench")
    headers = {"Authorization": f"Bearer {key}"}

    # Queries per submit, measured in-process on the same code path (enqueue not executed).
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # publish for real; nothing runs the jobs
    try:
        for attempt in ("warm", "count"):  # the first request also creates the ledger accounts
            with CaptureQueriesContext(connection) as queries:
                client.post(
                    "/v2/images/generate", {"model": "bench-model", "prompt": attempt},
                    content_type="application/json", headers={"Idempotency-Key": attempt},
                )
        query_count = len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]])
        with gunicorn() as url:
            local = threading.local()
            port = int(url.rsplit(":", 1)[1])

            def submit(i: int) -> tuple[float, int]:
                # http.client, not httpx: the load generator shares the 2 cores with the server.
                if not hasattr(local, "conn"):
                    local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                payload = json.dumps(
                    {"model": "bench-model", "prompt": f"benchmark prompt {i}", "params": {"aspectRatio": "1:1"}}
                )
                started = time.perf_counter()
                local.conn.request(
                    "POST",
                    "/v2/images/generate",
                    body=payload,
                    headers={**headers, "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
                )
                response = local.conn.getresponse()
                response.read()
                return time.perf_counter() - started, response.status

            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(submit, range(-40, 0)))  # warm-up: connections, imports
            cpu_before = process_tree_cpu(server_pid(url))
            total = RATE * SECONDS
            results: list[Any] = []
            with ThreadPoolExecutor(max_workers=32) as pool:
                start = time.perf_counter()
                for i in range(total):
                    delay = start + i / RATE - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    results.append(pool.submit(submit, i))
                outcomes = [future.result() for future in results]
                elapsed = time.perf_counter() - start
            server_cpu = process_tree_cpu(server_pid(url)) - cpu_before
    finally:
        celery_app.conf.task_always_eager = eager
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")  # no worker ran: drop the queued jobs

    latencies = [latency for latency, status in outcomes if status == 202]
    errors = [status for _, status in outcomes if status != 202]
    print(
        f"\n[P2] POST /v2/images/generate at {RATE} req/s for {SECONDS} s "
        f"({connection.vendor}, broker {settings.CELERY_BROKER_URL.split(':')[0]}, gunicorn 2x8 gthread):\n"
        f"     {summary(latencies)}\n"
        f"     achieved {len(outcomes) / elapsed:.1f} req/s, non-202 answers: {len(errors)} {sorted(set(errors))}, "
        f"SQL queries per submit (savepoints aside): {query_count}\n"
        f"     gunicorn CPU per request: {server_cpu / len(outcomes) * 1000:.1f} ms "
        f"(the load generator, PostgreSQL and Redis share the same 2 cores; load average before: {LOAD_BEFORE})"
    )
    assert Job.objects.filter(user=member.user).count() >= len(latencies)


def test_openai_endpoint_overhead_over_the_fake_provider(make_member, make_model):
    make_model(
        "bench-gpt", family="openai", remote_model="gpt-image-1", sizes=SIZES_1K,
        fixed_options={"quality": "medium"}, credits_per_image=1,
    )
    member = make_member("bench-sync", balance=50_000)
    _, key = create_api_key(membership=member, name="bench-sync")
    runs = 150
    with FakeProvider(latency=0.0) as fake:
        body = {"prompt": "a lighthouse at dusk", "n": 1, "size": "1024x1024", "output_format": "png"}
        direct: list[float] = []
        with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {fake.keys['openai']}"}, timeout=30) as http:
            for i in range(runs + 10):
                started = time.perf_counter()
                response = http.post("/v1/images/generations", json={**body, "model": "gpt-image-1", "quality": "medium"})
                response.raise_for_status()
                response.json()
                if i >= 10:
                    direct.append(time.perf_counter() - started)
        through: list[float] = []
        with running_worker(concurrency=4, **fake.env()), gunicorn(**fake.env()) as url:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
                for i in range(runs + 10):
                    started = time.perf_counter()
                    response = http.post("/v1/images/generations", json={**body, "model": "bench-gpt", "prompt": f"p{i}"})
                    assert response.status_code == 200, response.text[:300]
                    response.json()
                    if i >= 10:
                        through.append(time.perf_counter() - started)
    jobs = list(Job.objects.filter(user=member.user, status="succeeded").order_by("id"))[10:]
    queued = [(job.started_at - job.created_at).total_seconds() for job in jobs]
    running = [(job.finished_at - job.started_at).total_seconds() for job in jobs]
    median_added = (statistics.median(through) - statistics.median(direct)) * 1000
    p99_added = (percentile(through, 99) - percentile(direct, 99)) * 1000
    print(
        f"\n[P1] OpenAI-compatible /v1/images/generations vs the fake provider directly "
        f"({connection.vendor}, broker {settings.CELERY_BROKER_URL.split(':')[0]}, 1024x1024 PNG, sequential):\n"
        f"     fake provider directly: {summary(direct)}\n"
        f"     through the studio:     {summary(through)}\n"
        f"     added by the studio: median {median_added:.1f} ms, p99 {p99_added:.1f} ms "
        f"(auth, idempotency, hold, enqueue, worker pickup, adapter, storage + settle, row polling, base64 answer)\n"
        f"     of which, per job: submit to worker start median {statistics.median(queued) * 1000:.1f} ms; "
        f"worker start to stored and settled median {statistics.median(running) * 1000:.1f} ms"
    )
    assert len(through) == runs
