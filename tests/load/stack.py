"""The production stack the load suite runs, started as an operator would start it.

From the virtualenv built from `requirements.txt` alone (`make prod-venv`): gunicorn with
the command `docker-compose.yml` uses, two Celery workers (threads pool, 64 slots each) and
beat, against a fresh PostgreSQL database and a Redis server of the suite's own (so it can
be stopped and started again). The fake provider runs in the test process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
PROD_VENV = ROOT / "var" / "prod-venv"
DATABASE = "studio_load"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(Exception):
            if predicate():
                return True
        time.sleep(interval)
    return False


class Stack:
    def __init__(self, *, workdir: Path, provider_env: dict[str, str]) -> None:
        self.workdir = workdir
        self.python = PROD_VENV / "bin" / "python"
        self.admin_url = os.environ["DATABASE_URL"]
        parts = urlsplit(self.admin_url)
        self.database_url = urlunsplit(parts._replace(path=f"/{DATABASE}"))
        self.redis_port = free_port()
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.redis: subprocess.Popen[bytes] | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.provider_env = provider_env
        self.credentials: dict[str, Any] = {}

    # -- environment ------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        redis = f"redis://127.0.0.1:{self.redis_port}/0"
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
        return {
            **keep,
            # The production settings of docker-compose.yml, on plain HTTP on loopback.
            "DEBUG": "false",
            "SECRET_KEY": "load-suite-secret-key-not-for-anything-real-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": redis,
            "STUDIO_DATA_DIR": str(self.workdir / "data"),
            "STUDIO_DEMO_RENDER": "off",
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "studio.settings",
            **self.provider_env,
        }

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True, text=True,
            check=check, timeout=300,
        )

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Stack:
        if not self.python.exists():
            raise RuntimeError(f"{PROD_VENV} is missing: `make prod-venv` builds it from requirements.txt alone")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        self.start_redis()
        self.create_database()
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        prepared = subprocess.run(
            [str(self.python), "tests/load/prepare.py"], cwd=ROOT, env=self.env(), capture_output=True, text=True,
            check=True, timeout=120,
        )
        self.credentials = json.loads(prepared.stdout.strip().splitlines()[-1])
        self.start_process(
            "web",
            "-m", "gunicorn", "studio.wsgi:application", "--bind", f"127.0.0.1:{self.web_port}",
            "--workers", "3", "--threads", "4", "--timeout", "120",
        )
        self.start_worker("worker1")
        self.start_worker("worker2")
        self.start_process("beat", "-m", "celery", "-A", "studio", "beat", "--loglevel", "INFO",
                           "--schedule", str(self.workdir / "celerybeat-schedule"))
        if not wait_for(lambda: httpx.get(f"{self.url}/v1/openapi.json", timeout=2).status_code == 200, timeout=60):
            raise RuntimeError(f"gunicorn did not start:\n{self.log('web')[-3000:]}")
        for name in ("worker1", "worker2"):
            if not wait_for(lambda name=name: "ready." in self.log(name), timeout=60):
                raise RuntimeError(f"{name} did not start:\n{self.log(name)[-3000:]}")
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.stop_redis()

    def start_process(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(self.python), *args], cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        # The command of docker-compose.yml's worker service, with a node name of its own.
        return self.start_process(
            name, "-m", "celery", "-A", "studio", "worker", "--pool", "threads", "--concurrency", "64",
            "--loglevel", "INFO", "-n", f"{name}@%h",
        )

    def kill(self, name: str) -> None:
        """SIGKILL, as the OOM killer or a lost host would: no warm shutdown, no acks."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- Redis --------------------------------------------------------------------------
    def start_redis(self) -> None:
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = (self.workdir / "redis.log").open("ab")
        # No persistence: a restart loses every queued message, the harshest outage.
        self.redis = subprocess.Popen(
            [redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory-policy", "noeviction"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        import redis as redis_client

        client = redis_client.Redis(port=self.redis_port, socket_timeout=1)
        if not wait_for(client.ping, timeout=20):
            raise RuntimeError("the suite's Redis did not start")

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.redis.wait(timeout=10)
            self.redis = None

    # -- PostgreSQL -----------------------------------------------------------------------
    def create_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def deadlocks(self) -> int:
        """PostgreSQL's own count of deadlocks detected in the suite's database."""
        return int(self.query("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")[0][0])

    def audit(self) -> dict[str, Any]:
        result = self.manage("studio_audit", "--json", check=False)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"studio_audit printed no report: {result.stdout}\n{result.stderr}")
        return json.loads(lines[-1])


def postgres_log_lines(since: int) -> tuple[list[str], int]:
    """New lines of the server's log (Debian's default place) since byte offset `since`."""
    candidates = sorted(Path("/var/log/postgresql").glob("postgresql-*-main.log"))
    if not candidates:
        return [], 0
    path = candidates[-1]
    with path.open("rb") as handle:
        handle.seek(since)
        data = handle.read()
    return data.decode(errors="replace").splitlines(), since + len(data)


def postgres_log_size() -> int:
    candidates = sorted(Path("/var/log/postgresql").glob("postgresql-*-main.log"))
    return candidates[-1].stat().st_size if candidates else 0
