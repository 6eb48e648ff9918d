"""Handing turns to the workers, and where a queued job stands.

A run task carries a job id, but a worker runs whichever queued job the dispatcher picks
for that turn (`studio.services.jobs.dispatch`); the id matters only when tasks run eagerly.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

from studio.models import Job

logger = logging.getLogger(__name__)

# Every countdown stays far below the Redis visibility timeout (settings: 3600 s), so Redis
# never re-delivers a task that is only waiting for its countdown (celery#2599).
MAX_COUNTDOWN = 900.0


def enqueue_run(*, job_id: int, countdown: float = 0) -> None:
    """Publish the run task; raises what the broker raises when it is down."""
    from studio.tasks import run_job_task  # the tasks call these services: a lazy import breaks the circle

    run_job_task.apply_async((job_id,), countdown=min(max(countdown, 0), MAX_COUNTDOWN))


def enqueue_turn(*, countdown: float = 0, fan_out: bool = False) -> None:
    """Publish a turn that names no job: a free slot runs the fairest job that may start.

    Every submitted job publishes a turn of its own, so a turn that claims a job publishes
    nothing more. Jobs that lost their turns (passed over while their provider or member had
    no room) are served by a fan-out turn instead: one that claims a job publishes another,
    so every free slot joins in until one finds nothing left to start.
    """
    from studio.tasks import run_job_task

    run_job_task.apply_async(
        (None,), {"fan_out": True} if fan_out else None, countdown=min(max(countdown, 0), MAX_COUNTDOWN)
    )


# A job passed over (its provider at its concurrency limit, its member at the team's cap) has
# spent its turn: the dispatcher notes that a turn is owed, and the next job of that provider
# or member to leave its slot pays it. The marker outlives any job; should one be lost (a
# race with the last job leaving, a cache flush), the sweep republishes what still waits.
OWED_TIMEOUT = 3600


def owed_turn_keys(*, family: str | None = None, member: tuple[int, int] | None = None) -> list[str]:
    keys = [f"studio:turn-owed:provider:{family}"] if family else []
    if member is not None:
        keys.append(f"studio:turn-owed:member:{member[0]}:{member[1]}")
    return keys


def owe_turns(*, families: set[str], members: set[tuple[int, int]]) -> None:
    keys = [key for family in families for key in owed_turn_keys(family=family)]
    keys += [key for member in members for key in owed_turn_keys(member=member)]
    if keys:
        cache.set_many(dict.fromkeys(keys, 1), timeout=OWED_TIMEOUT)


def pay_owed_turn(*, family: str, team_id: int, user_id: int) -> None:
    """A job left its slot: if jobs of its provider or member wait for room, hand them a fan-out turn.

    Raises what the broker raises when it is down (the sweep republishes waiting jobs).
    """
    keys = owed_turn_keys(family=family, member=(team_id, user_id))
    try:
        owed = list(cache.get_many(keys))
        if not owed:
            return
        cache.delete_many(owed)
    except Exception:
        logger.warning("could not read the owed turns; publishing one to be safe", exc_info=True)
    enqueue_turn(fan_out=True)


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
