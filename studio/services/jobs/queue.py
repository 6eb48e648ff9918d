"""Handing turns to the workers, and where a queued job stands.

A run task carries a job id, but a worker runs whichever queued job the dispatcher picks
for that turn (`studio.services.jobs.dispatch`); the id matters only when tasks run eagerly.
"""

from __future__ import annotations

import logging

from studio.models import Job

logger = logging.getLogger(__name__)

# Every countdown stays far below the Redis visibility timeout (settings: 3600 s), so Redis
# never re-delivers a task that is only waiting for its countdown (celery#2599).
MAX_COUNTDOWN = 900.0


def enqueue_run(*, job_id: int, countdown: float = 0) -> None:
    """Publish the run task; raises what the broker raises when it is down."""
    from studio.tasks import run_job_task  # the tasks call these services: a lazy import breaks the circle

    run_job_task.apply_async((job_id,), countdown=min(max(countdown, 0), MAX_COUNTDOWN))


def enqueue_turn(*, countdown: float = 0) -> None:
    """Publish a turn that names no job: a free slot runs the fairest job that may start."""
    from studio.tasks import run_job_task

    run_job_task.apply_async((None,), countdown=min(max(countdown, 0), MAX_COUNTDOWN))


def enqueue_poll(*, job_id: int, countdown: float) -> None:
    from studio.tasks import poll_job_task

    poll_job_task.apply_async((job_id,), countdown=min(max(countdown, 0.5), MAX_COUNTDOWN))


def enqueue_run_or_leave_for_sweep(*, job_id: int, countdown: float = 0) -> None:
    """Publish the run task; if the broker is down, leave the job queued for the sweep.

    The job is committed either way: `recover_jobs` publishes queued jobs nobody claimed,
    so a broker outage delays a job and never loses it.
    """
    try:
        enqueue_run(job_id=job_id, countdown=countdown)
    except Exception:
        logger.warning("job %s: could not publish its task; the sweep will", job_id, exc_info=True)


def queue_position(*, job: Job) -> int | None:
    """1 for the next queued job to start, 2 for the one after…; None once it has started."""
    from studio.services.jobs.dispatch import queue_position as fair_position  # dispatch publishes through here

    return fair_position(job=job)
