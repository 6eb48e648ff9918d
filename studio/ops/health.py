"""Readiness checks: database, broker, storage, live workers; each says its state and latency.

A check answers within about CHECK_TIMEOUT seconds, so `/readyz` stays fast when a
dependency hangs rather than refuses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection

CHECK_TIMEOUT = 2.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    up: bool
    latency_ms: float
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the exception's text: host names and addresses, for staff only

    def as_dict(self, *, with_errors: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"state": "up" if self.up else "down", "latency_ms": round(self.latency_ms, 1)}
        if self.detail:
            body["detail"] = self.detail
        if with_errors and self.error:
            body["error"] = self.error
        return body | self.extra


def _timed(name: str, probe: Callable[[], dict[str, Any] | None]) -> CheckResult:
    started = time.perf_counter()
    try:
        extra = probe() or {}
    except Exception as exc:  # noqa: BLE001 - any failure means "down", said in one line
        elapsed = (time.perf_counter() - started) * 1000
        return CheckResult(name, False, elapsed, type(exc).__name__, error=_describe(exc))
    detail = extra.pop("detail", "")
    up = extra.pop("up", True)
    return CheckResult(name, up, (time.perf_counter() - started) * 1000, detail, extra)


def _describe(exc: BaseException) -> str:
    # The class and the first line only: a connection error can carry a DSN.
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    first = first.split("@")[-1] if "://" in first else first
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def check_database() -> CheckResult:
    def probe() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return _timed("database", probe)


def check_broker(*, url: str | None = None) -> CheckResult:
    from studio.celery import app

    def probe() -> dict[str, Any] | None:
        broker_url = url or app.conf.broker_url
        if broker_url.startswith("filesystem"):
            folder = Path(app.conf.broker_transport_options.get("data_folder_in", ""))
            if not (folder.is_dir() and os.access(folder, os.W_OK)):
                raise OSError(f"the queue folder {folder} is not writable")
            return {"transport": "filesystem"}
        with app.connection_for_write(url=broker_url, connect_timeout=CHECK_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT)
            transport = conn.transport_cls
        return {"transport": str(transport)}

    return _timed("broker", probe)


def check_storage() -> CheckResult:
    def probe() -> dict[str, Any] | None:
        storage = default_storage
        if isinstance(getattr(storage, "_wrapped", storage), FileSystemStorage) or isinstance(storage, FileSystemStorage):
            location = Path(storage.location)
            location.mkdir(parents=True, exist_ok=True)  # as the first upload would
            if not os.access(location, os.W_OK):
                raise OSError("the media folder is missing or not writable")
            return {"backend": "filesystem"}
        storage.exists("healthz-probe")  # one HEAD against the bucket
        return {"backend": type(storage).__name__}

    return _timed("storage", probe)


def check_workers() -> CheckResult:
    from studio.ops.heartbeat import alive_workers

    def probe() -> dict[str, Any]:
        workers = alive_workers()
        extra: dict[str, Any] = {
            "alive": len(workers),
            "slots": sum(w.slots for w in workers),
            "busy": sum(w.active for w in workers),
        }
        if not workers:
            extra |= {"up": False, "detail": f"no worker heartbeat in the last {_stale_seconds()} s"}
        return extra

    return _timed("workers", probe)


def _stale_seconds() -> int:
    from studio.ops.heartbeat import stale_after

    return int(stale_after().total_seconds())


def readiness() -> list[CheckResult]:
    results = [check_database(), check_broker(), check_storage()]
    if not getattr(settings, "STUDIO_READYZ_REQUIRE_WORKER", True):
        return results
    database_up = results[0].up
    if database_up:
        results.append(check_workers())
    else:
        results.append(CheckResult("workers", False, 0.0, "unknown: the database is down"))
    return results
