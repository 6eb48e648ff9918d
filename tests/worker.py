"""Start a real Celery worker process against the test database (for end-to-end tests).

Use `running_worker()` inside a `django_db(transaction=True)` test: rows must be
committed for the worker to see them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from studio.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """The URL of the database the test run is using (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    raise RuntimeError(f"no worker support for {db['ENGINE']}")


def worker_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": test_database_url(),
        "STUDIO_DATA_DIR": str(settings.STUDIO_DATA_DIR),
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


@contextmanager
def running_worker(*, concurrency: int = 4, log: Path | None = None, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `celery worker` (threads pool) for the duration of the block; publish for real meanwhile."""
    log = log or Path(settings.STUDIO_DATA_DIR) / "worker.log"
    handle = log.open("ab")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "studio", "worker",
            "--pool", "threads", "--concurrency", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ],
        cwd=ROOT,
        env=worker_env(**env),
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield process
    finally:
        celery_app.conf.task_always_eager = eager
        stop_process(process)
        handle.close()
        connection.close()


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(predicate: Callable[[], bool], *, timeout: float = 60.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def worker_log() -> str:
    path = Path(settings.STUDIO_DATA_DIR) / "worker.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no worker log)"
