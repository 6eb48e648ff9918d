"""Worker heartbeats: each worker process writes its row every HEARTBEAT_SECONDS from a
thread started on `worker_ready`; `/readyz` and the status page count the fresh rows.

Celery's own `inspect ping` needs a broadcast round-trip through the broker (and the
embedded filesystem broker has none worth waiting on), so readiness reads the database.
Slots in use are counted by task signals, which run in the worker process with the
threads pool that Studio uses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from studio.ops.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

_active = 0
_lock = threading.Lock()
_stop = threading.Event()


def interval() -> float:
    return float(getattr(settings, "STUDIO_WORKER_HEARTBEAT_SECONDS", 10))


def stale_after() -> timedelta:
    """A worker silent for three beats is counted as gone."""
    return timedelta(seconds=3 * interval())


def alive_workers() -> list[WorkerHeartbeat]:
    return list(WorkerHeartbeat.objects.filter(last_seen_at__gte=timezone.now() - stale_after()))


def beat(*, hostname: str, slots: int, started_at: Any) -> None:
    with _lock:
        active = _active
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"pid": os.getpid(), "slots": slots, "active": active, "started_at": started_at,
                  "last_seen_at": timezone.now()},
    )


def _loop(hostname: str, slots: int) -> None:
    started_at = timezone.now()
    while not _stop.is_set():
        try:
            beat(hostname=hostname, slots=slots, started_at=started_at)
        except DatabaseError:
            logger.warning("worker %s: could not write its heartbeat", hostname, exc_info=True)
        finally:
            close_old_connections()
        _stop.wait(interval())


def on_worker_ready(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", None) or f"celery@{socket.gethostname()}"
    controller = getattr(sender, "controller", None)
    slots = int(getattr(controller, "concurrency", 0) or 0)
    _stop.clear()
    threading.Thread(target=_loop, args=(hostname, slots), name="studio-heartbeat", daemon=True).start()


def on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    _stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        with contextlib.suppress(DatabaseError):  # else the row goes stale on its own
            WorkerHeartbeat.objects.filter(hostname=hostname).delete()


def on_task_prerun(**_: Any) -> None:
    global _active
    with _lock:
        _active += 1


def on_task_postrun(**_: Any) -> None:
    global _active
    with _lock:
        _active = max(_active - 1, 0)
