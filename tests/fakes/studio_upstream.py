"""A second Studio, started as a process, to be the aggregator upstream of the one under test.

Studio serves the aggregator shapes itself (seed 002's /v2 jobs, seed 004's OpenAI-compatible
/v1, seed 001's model list), so the aggregator family is tested against the real thing. The
upstream has its own SQLite database and data folder, draws every model with its demo
renderer, and runs its jobs in-process (eager Celery); its one member's API key is returned.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.worker import stop_process

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
from studio.api.auth import create_api_key
from studio.models import User
from studio.services import credits, teams
owner = User.objects.create_user(username="upstream-owner", email="o@upstream.test", password="pw-upstream-1")
team = teams.create_team(name="Upstream", owner=owner)
credits.top_up_pool(team=team, amount=100_000, memo="aggregator test")
user = User.objects.create_user(username="downstream", email="d@upstream.test", password="pw-upstream-2")
member = teams.add_member(team=team, user=user, role="designer")
if {balance}:
    credits.grant_credits(membership=member, amount={balance}, memo="aggregator test")
print(create_api_key(membership=member, name="downstream studio")[1])
"""


@dataclass(frozen=True)
class Upstream:
    base_url: str
    api_key: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def upstream_env(folder: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # The upstream is its own install: none of this run's database, broker or routes.
        if not key.startswith(("AGGREGATOR_", "REDIS_", "DATABASE_", "CELERY_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"sqlite:///{folder / 'upstream.sqlite3'}",
            "STUDIO_DATA_DIR": str(folder),
            "STUDIO_DEMO_RENDER": "all",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args[:1])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextmanager
def running_upstream(folder: Path, *, balance: int = 10_000) -> Iterator[Upstream]:
    folder.mkdir(parents=True, exist_ok=True)
    env = upstream_env(folder)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "sync_catalog")
    api_key = manage(env, "shell", "-c", SETUP.format(balance=balance)).strip().splitlines()[-1]
    port = free_port()
    log = folder / "upstream.log"
    handle = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the upstream Studio did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield Upstream(base_url=base_url, api_key=api_key, log=log)
    finally:
        stop_process(process, timeout=10)
        handle.close()
