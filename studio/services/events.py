"""Job events for whoever listens (the API's webhooks, metrics), without the job layer
importing them: listeners register here from their `AppConfig.ready()`.

An event is `(job_id, event, job)` with event one of `progress`, `succeeded`, `failed`,
`canceled` (and `submitted`, `started`, `retrying` for observers). Listeners run after the
transaction that changed the job commits, and a listener that raises is logged, never
allowed to break the pipeline. `job` is the row as the changing transaction wrote it, when
the publisher has it (a job's end), so listeners need not read it again; else None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

JobListener = Callable[..., None]
_listeners: list[JobListener] = []


def subscribe(listener: JobListener) -> None:
    """Register `listener(job_id=…, event=…, job=…)`; registering the same function twice is a no-op."""
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: JobListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def publish_job_event(*, job_id: int, event: str, job: Any = None) -> None:
    """Tell every listener once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _deliver(job_id=job_id, event=event, job=job))


def _deliver(*, job_id: int, event: str, job: Any = None) -> None:
    for listener in list(_listeners):
        try:
            listener(job_id=job_id, event=event, job=job)
        except Exception:
            logger.exception("job %s: a %s listener failed", job_id, event)
