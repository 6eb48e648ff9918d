"""Issue 12: what `POST /v1/images/generations` adds over calling the provider directly.

    STUDIO_BENCH=1 STUDIO_BENCH_BASELINE=<git rev> DATABASE_URL=postgres://... \\
        .venv/bin/python -m pytest tests/bench/test_gateway_bench.py -s

Figures printed, never asserted. The fake OpenAI-shaped provider (tests/fakes/server.py)
answers a 1024x1024 PNG after 18 ms. Each stack is served as docker-compose.yml serves it
(gunicorn 3 workers x 4 threads, from this virtualenv) with one Celery worker (threads,
4 slots: the thumbnails) and a Redis server of its own, so its Redis commands and CPU are
its alone; both share the test database. With STUDIO_BENCH_BASELINE a second stack runs
the code of that revision (extracted under var/bench/), and every phase interleaves the
direct call, the baseline and this tree round by round, so the drift of this shared,
noisy machine hits all three alike.

With the LiteLLM proxy installed (`make litellm-venv`, or STUDIO_BENCH_LITELLM=<its litellm
executable>), it is one more target in every phase, pointed at the same fake: one uvicorn
worker, a master key, no database (tests/bench/litellm_proxy.py). Without it one line says
how to build it and the other targets run as before.

Printed per stack: latency (sequential median/p99, and 8 requests at once), overhead over
the direct call, CPU per request of every process (gunicorn, Celery, its PostgreSQL
backends, its Redis server), SQL statements, PostgreSQL transactions and Redis commands
per request (counted with one stack running alone). For LiteLLM, latency, overhead and the
CPU of its process.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection

from studio.api.auth import create_api_key
from tests.bench.litellm_proxy import MODEL as LITELLM_MODEL
from tests.bench.litellm_proxy import LiteLLMProxy, litellm_executable, running_litellm
from tests.bench.test_api_bench import free_port, percentile, process_tree_cpu
from tests.fakes.server import FakeProvider
from tests.worker import ROOT, worker_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the gateway benchmark needs PostgreSQL: set DATABASE_URL",
    ),
]

HOOKS = Path(__file__).resolve().parent / "hooks"
PROVIDER_LATENCY = 0.018
SEQUENTIAL_ROUNDS = int(os.environ.get("STUDIO_BENCH_ROUNDS", "120"))
PARALLEL_ROUNDS = int(os.environ.get("STUDIO_BENCH_PARALLEL_ROUNDS", "25"))
PARALLEL = 8
ACCOUNTING_RUNS = 20
BODY = {"prompt": "a lighthouse at dusk", "n": 1, "size": "1024x1024", "output_format": "png"}


@dataclass
class Target:
    name: str
    port: int
    headers: dict[str, str]
    body: dict[str, object]
    local: threading.local = field(default_factory=threading.local)

    def call(self, i: int) -> float:
        payload = json.dumps({**self.body, "prompt": f"{BODY['prompt']} {i}"})
        try:
            return self._timed(payload)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # gunicorn closed an idle keep-alive connection (2 s): time a fresh one instead.
            self.local.conn = None
            return self._timed(payload)

    def _timed(self, payload: str) -> float:
        # http.client with keep-alive: the client shares the 2 cores with the servers.
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            conn.connect()
        started = time.perf_counter()
        conn.request("POST", "/v1/images/generations", body=payload, headers=self.headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        assert response.status == 200 and b'"b64_json"' in data, data[:300]
        return elapsed


@dataclass
class Stack:
    name: str
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    redis_server: subprocess.Popen[bytes]
    redis: redis.Redis
    count_dir: Path
    appname: str
    target: Target | None = None

    def queries(self) -> int:
        return sum(int(p.read_text() or 0) for p in self.count_dir.iterdir())

    def redis_info(self) -> tuple[int, float]:
        stats, cpu = self.redis.info("stats"), self.redis.info("cpu")
        return int(stats["total_commands_processed"]), float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])

    def snapshot(self) -> dict[str, float]:
        commands, redis_cpu = self.redis_info()
        return {
            "web": process_tree_cpu(self.web.pid),
            "worker": process_tree_cpu(self.worker.pid),
            "postgres": backend_cpu(self.appname),
            "redis": redis_cpu,
            "redis_cmds": commands - 2,  # the two INFO calls of this snapshot
            "queries": self.queries(),
        }


def backend_cpu(appname: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [appname])
        pids = [row[0] for row in cursor.fetchall()]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, PermissionError):
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def database_transactions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # not up yet
            if predicate():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def baseline_tree() -> Path | None:
    rev = os.environ.get("STUDIO_BENCH_BASELINE", "")
    if not rev:
        return None
    sha = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    tree = ROOT / "var" / "bench" / sha[:12]
    if not (tree / "manage.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


@contextmanager
def running_stack(name: str, tree: Path, provider_env: dict[str, str]) -> Iterator[Stack]:
    workdir = Path(settings.STUDIO_DATA_DIR) / "bench" / name
    count_dir = workdir / "counts"
    count_dir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "stack.log").open("ab")
    redis_port, web_port = free_port(), free_port()
    appname = f"bench-{name}-{os.getpid()}"
    env = worker_env(
        PYTHONPATH=str(tree),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        PGAPPNAME=appname,
        STUDIO_BENCH_COUNT_DIR=str(count_dir),
        ALLOWED_HOSTS="127.0.0.1",
        STUDIO_API_RATE_LIMIT="0",
        **provider_env,
    )
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(list(args), cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        redis_server = start("redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no")
        client = redis.Redis(port=redis_port)
        wait_until(client.ping, timeout=10, what="redis-server")
        web = start(
            sys.executable, "-m", "gunicorn", "-c", str(HOOKS / "gunicorn_conf.py"), "studio.wsgi:application",
            "--bind", f"127.0.0.1:{web_port}", "--workers", "3", "--threads", "4", "--timeout", "120",
            "--log-level", "warning",
        )
        celery_main = (
            f"import sys; sys.path.insert(0, {str(HOOKS)!r}); import bench_counting; "
            "bench_counting.install(celery=True); from celery.__main__ import main; "
            "sys.argv = ['celery', '-A', 'studio', 'worker', '--pool', 'threads', '--concurrency', '4', "
            "'--without-gossip', '--without-mingle', '--without-heartbeat', '--loglevel', 'WARNING']; main()"
        )
        worker = start(sys.executable, "-c", celery_main)
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{web_port}/v1/openapi.json", timeout=2).status_code == 200,
                   timeout=60, what=f"gunicorn ({name})")
        stack = Stack(name, web, worker, redis_server, client, count_dir, appname)
        stack.target = Target(name, web_port, {}, {})
        yield stack
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def cpu_line(before: dict[str, float], after: dict[str, float], requests: int) -> str:
    cpu_keys = [k for k in ("web", "worker", "postgres", "redis", "proxy") if k in before]
    parts = {k: (after[k] - before[k]) * 1000 / requests for k in cpu_keys}
    total = sum(parts.values())
    return f"CPU/request {total:.1f} ms (" + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()) + ")"


def stats(values: list[float]) -> tuple[float, float]:
    ms = [v * 1000 for v in values]
    return statistics.median(ms), percentile(ms, 99)


def test_gateway_overhead_side_by_side(make_member, make_model):
    make_model(
        "bench-gpt", family="openai", remote_model="gpt-image-1", sizes={"default": {"1:1": [1024, 1024]}},
        fixed_options={"quality": "medium"}, credits_per_image=1,
    )
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    trees = {"studio": ROOT}
    if (baseline := baseline_tree()) is not None:
        trees = {"baseline": baseline, **trees}
    with FakeProvider(latency=PROVIDER_LATENCY) as fake, ExitStack() as exits:
        fake_port = int(fake.url.rsplit(":", 1)[1])
        direct = Target("direct", fake_port, {"Authorization": f"Bearer {fake.keys['openai']}",
                                                "Content-Type": "application/json"},
                        {**BODY, "model": "gpt-image-1", "quality": "medium"})
        stacks: list[Stack] = []
        for name, tree in trees.items():
            _, key = create_api_key(membership=make_member(f"bench-{name}", balance=900), name=name)
            stack = exits.enter_context(running_stack(name, tree, fake.env()))
            assert stack.target is not None
            stack.target.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            stack.target.body = {**BODY, "model": "bench-gpt"}
            stacks.append(stack)
        litellm: LiteLLMProxy | None = None
        if (executable := litellm_executable()) is not None:
            litellm = exits.enter_context(running_litellm(executable, fake.url, fake.keys["openai"], "gpt-image-1"))
            litellm_target = Target("litellm", litellm.port, {"Authorization": f"Bearer {litellm.master_key}",
                                                              "Content-Type": "application/json"},
                                    {**BODY, "model": LITELLM_MODEL, "quality": "medium"})
        else:
            print("\n[issue 12] no LiteLLM proxy to compare with: `make litellm-venv` builds one "
                  "(or set STUDIO_BENCH_LITELLM to a litellm executable)")
        # The direct call runs no process of ours: it has latency figures only.
        measured: dict[str, Stack | LiteLLMProxy] = {s.name: s for s in stacks}
        targets = [direct, *(s.target for s in stacks if s.target)]
        if litellm is not None:
            measured["litellm"] = litellm
            targets.append(litellm_target)
        counter = iter(range(10**9))
        # Warm-up (imports, connections, ledger accounts), on parallel connections so that every
        # gunicorn worker has served before the counts (one keep-alive connection reaches one).
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            for target in targets:
                list(pool.map(target.call, [next(counter) for _ in range(3 * PARALLEL)]))
        time.sleep(1.5)

        # 1. Counts, with one stack running at a time (PostgreSQL's counters are per database).
        accounting: dict[str, str] = {}
        for stack in stacks:
            idle_before, idle_started = stack.redis_info()[0], time.monotonic()
            time.sleep(2)
            idle_rate = (stack.redis_info()[0] - idle_before - 1) / (time.monotonic() - idle_started)
            xacts, before, started = database_transactions(), stack.snapshot(), time.monotonic()
            for _ in range(ACCOUNTING_RUNS):
                assert stack.target is not None
                stack.target.call(next(counter))
            time.sleep(1.5)  # thumbnails finish; PostgreSQL flushes its counters
            after, elapsed = stack.snapshot(), time.monotonic() - started
            xacts = database_transactions() - xacts - 2  # the two reads here
            commands = after["redis_cmds"] - before["redis_cmds"] - idle_rate * elapsed
            accounting[stack.name] = (
                f"SQL statements {(after['queries'] - before['queries']) / ACCOUNTING_RUNS:.1f}, "
                f"PostgreSQL transactions {xacts / ACCOUNTING_RUNS:.1f}, "
                f"Redis commands {commands / ACCOUNTING_RUNS:.1f} per request "
                f"(idle worker polling, {idle_rate:.1f}/s, taken out); "
                f"{cpu_line(before, after, ACCOUNTING_RUNS)}"
            )

        # 2. Sequential, interleaved round by round in a shuffled order.
        rng = random.Random(12)
        sequential: dict[str, list[float]] = {t.name: [] for t in targets}
        before = {name: m.snapshot() for name, m in measured.items()}
        for _ in range(SEQUENTIAL_ROUNDS):
            for target in rng.sample(targets, len(targets)):
                sequential[target.name].append(target.call(next(counter)))
        seq_cpu = {name: cpu_line(before[name], m.snapshot(), SEQUENTIAL_ROUNDS) for name, m in measured.items()}

        # 3. Eight requests at once, one target per round, targets in turn.
        parallel: dict[str, list[float]] = {t.name: [] for t in targets}
        before = {name: m.snapshot() for name, m in measured.items()}
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            for _ in range(PARALLEL_ROUNDS):
                for target in rng.sample(targets, len(targets)):
                    ids = [next(counter) for _ in range(PARALLEL)]
                    parallel[target.name] += list(pool.map(target.call, ids))
        par_cpu = {
            name: cpu_line(before[name], m.snapshot(), PARALLEL_ROUNDS * PARALLEL) for name, m in measured.items()
        }

    d_seq, d_par = stats(sequential["direct"]), stats(parallel["direct"])
    lines = [
        f"\n[issue 12] POST /v1/images/generations vs the fake provider directly ({connection.vendor}, "
        f"fake answers a 1024x1024 PNG after {PROVIDER_LATENCY * 1000:.0f} ms; gunicorn 3x4 gthread from "
        f"{Path(sys.executable).parent.parent.name}, 1 Celery worker and a private redis-server per stack; "
        f"load average before: {load_before})",
        f"     direct: sequential median {d_seq[0]:.1f} / p99 {d_seq[1]:.1f} ms; "
        f"{PARALLEL} at once median {d_par[0]:.1f} / p99 {d_par[1]:.1f} ms",
    ]
    labels = {name: tree.name for name, tree in trees.items()}
    if litellm is not None:
        labels["litellm"] = f"LiteLLM {litellm.version}, uvicorn 1 worker, no database"
    for name in measured:
        s_seq, s_par = stats(sequential[name]), stats(parallel[name])
        paired = sorted((t - d) * 1000 for t, d in zip(sequential[name], sequential["direct"], strict=True))
        lines += [
            f"     {name} ({labels[name]}):",
            f"       sequential: median {s_seq[0]:.1f} / p99 {s_seq[1]:.1f} ms; overhead median "
            f"{s_seq[0] - d_seq[0]:.1f} / p99 {s_seq[1] - d_seq[1]:.1f} ms (per-round difference: median "
            f"{statistics.median(paired):.1f}, p99 {percentile(paired, 99):.1f}); {seq_cpu[name]}",
            f"       {PARALLEL} at once: median {s_par[0]:.1f} / p99 {s_par[1]:.1f} ms; overhead median "
            f"{s_par[0] - d_par[0]:.1f} / p99 {s_par[1] - d_par[1]:.1f} ms; {par_cpu[name]}",
        ]
        if name in accounting:
            lines.append(f"       alone, {ACCOUNTING_RUNS} sequential: {accounting[name]}")
    print("\n".join(lines))
    assert all(len(v) == SEQUENTIAL_ROUNDS for v in sequential.values())
