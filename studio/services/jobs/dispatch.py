"""Which queued job a free worker slot runs next: fair between teams and members, within limits.

A published run task is a turn for a free slot, not a ticket for one job: the slot runs the
fairest queued job that may start now. The order is: interactive before low priority
(batch rows, API jobs that ask for it); then the team with the fewest jobs running; then
the member with the fewest running; then that member's oldest job. So one member's
200-row batch holds at most the slots it already has: another member's job takes the next
free one. A member at the team's cap (`Team.max_running_per_member`) and a provider at its
limit (`limits`) are passed over; their jobs wait queued, holding no slot and using no
attempt, and are dispatched when a slot of theirs frees (the job leaving it pays the turn
they are owed, `queue.pay_owed_turn`) or when the provider's window opens (a delayed turn,
one per provider at a time). The sweep republishes anything still waiting as before.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min
from django.utils import timezone

from studio.models import Job, JobStatus, Team
from studio.services.jobs import limits, queue

logger = logging.getLogger(__name__)

# How many candidate groups one turn tries before giving up (each try is one claim).
MAX_TRIES = 12


def candidates(
    *, now: datetime | None = None, capped: set[tuple[int, int]] | None = None
) -> list[dict[str, object]]:
    """Groups of queued, due jobs (team, member, provider, priority) in dispatch order, with their first job.

    `capped` collects the (team, member) pairs passed over at the team's cap.
    """
    now = now or timezone.now()
    by_member = {(team_id, user_id): n for team_id, user_id, n in _rows(_RUNNING_SQL, [JobStatus.RUNNING.value])}
    by_team: Counter[int] = Counter()
    for (team_id, _), n in by_member.items():
        by_team[team_id] += n
    due = _due_value(now)
    groups = [
        dict(zip(_GROUP_KEYS, row, strict=True)) for row in _rows(_QUEUED_SQL, [JobStatus.QUEUED.value, due])
    ]
    eligible = []
    for g in groups:
        g["cap"] = g["cap"] or 0
        member = (g["team_id"], g["user_id"])
        if g["cap"] and by_member.get(member, 0) >= g["cap"]:
            if capped is not None:
                capped.add(member)
            continue
        eligible.append(g)
    eligible.sort(
        key=lambda g: (
            g["priority"], by_team[g["team_id"]], by_member.get((g["team_id"], g["user_id"]), 0), g["first"]
        )
    )
    return eligible


# Every worker turn runs these two aggregates and a claim: in SQL, since compiling the ORM's
# queries cost more CPU than running them (the worker benchmark's CPU per job).
_JOBS, _TEAMS = Job._meta.db_table, Team._meta.db_table
# Due: no retry waiting, or one due within the second (a delayed turn may arrive a little early).
_DUE = "({t}next_attempt_at IS NULL OR {t}next_attempt_at <= %s)"
_RUNNING_SQL = f"SELECT team_id, user_id, COUNT(*) FROM {_JOBS} WHERE status = %s GROUP BY team_id, user_id"  # noqa: S608
_GROUP_KEYS = ("team_id", "user_id", "provider_family", "model_slug", "priority", "first", "cap")
_QUEUED_SQL = (
    f"SELECT j.team_id, j.user_id, j.provider_family, j.model_slug, j.priority, MIN(j.id), t.max_running_per_member"  # noqa: S608
    f" FROM {_JOBS} j JOIN {_TEAMS} t ON t.id = j.team_id"
    f" WHERE j.status = %s AND {_DUE.format(t='j.')}"
    " GROUP BY j.team_id, j.user_id, j.provider_family, j.model_slug, j.priority, t.max_running_per_member"
)


# A group's jobs, for `run.claim_first` (which adds that they are queued).
_GROUP_JOBS = (
    f"team_id = %s AND user_id = %s AND provider_family = %s AND model_slug = %s AND priority = %s AND {_DUE.format(t='')}"
)


def _due_value(now: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(now + timedelta(seconds=1))


def _rows(sql: str, params: list[object]) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def next_groups(
    *,
    now: datetime | None = None,
    found: dict[str, list[limits.Limit]] | None = None,
    capped: set[tuple[int, int]] | None = None,
) -> tuple[list[dict[str, object]], dict[str, float]]:
    """The eligible groups in order (providers with no room left out), and those providers' waits.

    `found` collects the limits read per provider and model, for the rest of the turn to
    reuse; `capped`, the members passed over at their team's cap.
    """
    now = now or timezone.now()
    found = {} if found is None else found
    order: list[dict[str, object]] = []
    waits: dict[str, float] = {}
    for group in candidates(now=now, capped=capped):
        key = _limit_key(group)
        if key in waits:
            continue
        if key not in found:
            found[key] = limits.limits_for(family=group["provider_family"], model_slug=group["model_slug"], now=now)
        wait = limits.blocked_for(
            family=group["provider_family"], model_slug=group["model_slug"], now=now, found=found[key]
        )
        if wait is not None:
            waits[key] = wait
            continue
        order.append(group)
        if len(order) >= MAX_TRIES:
            break
    return order, waits


def _limit_key(group: dict[str, object]) -> str:
    return f"{group['provider_family']}/{group['model_slug']}"


def next_job(*, now: datetime | None = None) -> tuple[list[int], dict[str, float]]:
    """The first job of each eligible group, in dispatch order, and the waits of providers with no room."""
    order, waits = next_groups(now=now)
    return [group["first"] for group in order], waits


def _group_params(group: dict[str, object], now: datetime) -> list[object]:
    keys = ("team_id", "user_id", "provider_family", "model_slug", "priority")
    return [*(group[key] for key in keys), _due_value(now)]


def dispatch_next(*, fan_out: bool = False) -> Job | None:
    """Claim the fairest queued job that may start now; None when none may (a delayed turn is set).

    A fan-out turn that claims a job hands another fan-out turn to the next free slot
    (`queue.enqueue_turn`). Jobs passed over for a provider at its concurrency limit or a
    member at the team's cap are owed a turn when a slot of theirs frees (`queue.owe_turns`).
    """
    from studio.services.jobs.run import claim_first  # run publishes turns through this module

    now = timezone.now()
    # The limits as this turn read them (milliseconds ago): the counts are read afresh below,
    # the limits themselves change only with an admin edit or a 429.
    found: dict[str, list[limits.Limit]] = {}
    capped: set[tuple[int, int]] = set()
    order, waits = next_groups(now=now, found=found, capped=capped)
    claimed: Job | None = None
    for group in order:
        job = claim_first(where=_GROUP_JOBS, params=_group_params(group, now), member_cap=int(group["cap"]))
        if job is not None:
            claimed = job
            break
        family, model_slug, key = group["provider_family"], group["model_slug"], _limit_key(group)
        wait = limits.blocked_for(family=family, model_slug=model_slug, found=found[key])
        if wait is not None:
            waits[key] = wait
        elif group["cap"]:
            capped.add((int(group["team_id"]), int(group["user_id"])))  # the cap, re-read under its lock
    _owe_turns(capped=capped, waits=waits)
    if claimed is not None:
        if fan_out:
            _publish_turn(fan_out=True)
        return claimed
    for key, wait in waits.items():
        if wait > 0:
            wake_later(key=key, seconds=wait)
    return None


def _owe_turns(*, capped: set[tuple[int, int]], waits: dict[str, float]) -> None:
    # A wait of 0 is a provider at its concurrency limit: room comes when one of its calls ends.
    families = {key.split("/", 1)[0] for key, wait in waits.items() if wait == 0}
    if not (families or capped):
        return
    try:
        queue.owe_turns(families=families, members=capped)
    except Exception:
        logger.warning("could not note the owed turns; the sweep republishes waiting jobs", exc_info=True)


def _publish_turn(countdown: float = 0, *, fan_out: bool = False) -> None:
    try:
        queue.enqueue_turn(countdown=countdown, fan_out=fan_out)
    except Exception:
        logger.warning("could not publish a turn; the sweep republishes waiting jobs", exc_info=True)


def wake_later(*, key: str, seconds: float) -> None:
    """One delayed turn per provider at a time, for when its window or its pause ends."""
    seconds = min(max(seconds, 0.05), queue.MAX_COUNTDOWN)
    if cache.add(f"studio:dispatch-wake:{key}", 1, timeout=max(int(seconds), 1)):
        # Every job waiting for that window spent its turn: the window opens to a fan-out.
        _publish_turn(countdown=seconds, fan_out=True)


def queue_position(*, job: Job) -> int | None:
    """Where the job stands in the dispatcher's order (1: next), as if no limit held anyone back.

    Round-robin between members: the job is its member's r-th in its priority class; each
    member served before this one in a round (fewer jobs running, then the older first job)
    has up to r jobs ahead of it, each other member up to r - 1, and every job of a higher
    class goes first. Teams are not weighed here: the position is the order, not a promise.
    """
    if job.status != JobStatus.QUEUED:
        return None
    queued = Job.objects.filter(status=JobStatus.QUEUED)
    rank = queued.filter(priority=job.priority, team_id=job.team_id, user_id=job.user_id, pk__lt=job.pk).count() + 1
    groups = list(queued.values("priority", "team_id", "user_id").annotate(n=Count("pk"), first=Min("pk")))
    running = Job.objects.filter(status=JobStatus.RUNNING).values("team_id", "user_id").annotate(n=Count("pk"))
    by_member = {(row["team_id"], row["user_id"]): row["n"] for row in running}
    me = (job.team_id, job.user_id)
    mine = next((g["first"] for g in groups if g["priority"] == job.priority and (g["team_id"], g["user_id"]) == me), job.pk)
    my_turn = (by_member.get(me, 0), mine)
    ahead = rank - 1
    for group in groups:
        member = (group["team_id"], group["user_id"])
        if group["priority"] < job.priority:
            ahead += group["n"]
        elif group["priority"] == job.priority and member != me:
            before = (by_member.get(member, 0), group["first"]) < my_turn
            ahead += min(group["n"], rank if before else rank - 1)
    return ahead + 1
