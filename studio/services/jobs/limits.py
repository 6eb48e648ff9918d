"""Provider limits: most calls in flight and most calls per minute, over every worker and host.

The counters are the database, which every worker already shares: calls in flight are the
running jobs of the provider whose lease is live (a crashed worker's job stops counting
when its lease lapses, so no counter can leak), and calls per minute are `ProviderCall`
rows in a sliding 60-second window. `acquire` runs inside the claim's transaction, after
the job row is locked and written as running; on PostgreSQL it takes a transaction-scoped
advisory lock per provider before counting, so two claims cannot both read "4 of 5" and both
start (SQLite's IMMEDIATE transactions already serialise every writer). Nothing here is held across a provider call.

A 429 pauses the provider for its Retry-After and halves its rate for a while (again on
each further 429); the rate recovers when that time passes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from studio.models import Job, JobStatus, ProviderCall, ProviderLimit

WINDOW = timedelta(seconds=60)
# A call is counted when its job is claimed, a moment before the request leaves (building
# the request, a busy host); the window is kept that much longer so the provider, counting
# arrivals, never sees more than the limit in its own 60 seconds.
WINDOW_MARGIN = timedelta(seconds=3)
FAMILY_NAMES = {
    "openai": "OpenAI", "gemini": "Gemini", "imagen": "Imagen", "bfl": "Black Forest Labs", "ideogram": "Ideogram",
    "recraft": "Recraft", "luma": "Luma", "leonardo": "Leonardo", "xai": "xAI", "stability": "Stability",
    "replicate": "Replicate", "fal": "fal", "dashscope": "DashScope", "ark": "Ark", "local": "the local renderer",
}


def family_name(family: str) -> str:
    return FAMILY_NAMES.get(family, family)


@dataclass(frozen=True)
class Limit:
    """The limits in force for a family (model_slug "") or one remote model, right now."""

    family: str
    model_slug: str
    concurrent: int  # 0: no limit
    per_minute: int  # 0: no limit
    paused_until: datetime | None
    last_429_at: datetime | None


def _setting(key: str) -> dict[str, int] | None:
    return settings.STUDIO_PROVIDER_LIMITS.get(key)


# Every claim runs the three statements below: in SQL, since compiling the ORM's version of
# each costs several times the statement on a small host (the gateway benchmark's CPU).
class _LimitRow(NamedTuple):
    model_slug: str
    max_concurrent: int | None
    per_minute: int | None
    last_429_at: datetime | None
    paused_until: datetime | None
    slowed_until: datetime | None
    rate_factor: float


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands a raw cursor naive UTC datetimes; PostgreSQL aware ones.
    return value.replace(tzinfo=UTC) if value is not None and timezone.is_naive(value) else value


def _limit_rows(family: str, model_slug: str) -> dict[str, _LimitRow]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_LimitRow._fields)} FROM {ProviderLimit._meta.db_table}"  # noqa: S608 - names
            " WHERE family = %s AND model_slug IN (%s, %s)",
            [family, "", model_slug],
        )
        rows = [_LimitRow(slug, conc, per, _aware(a), _aware(b), _aware(c), factor)
                for slug, conc, per, a, b, c, factor in cursor.fetchall()]
    return {row.model_slug: row for row in rows}


def _in_flight(limit: Limit, now: datetime) -> int:
    sql = (
        f"SELECT COUNT(*) FROM {Job._meta.db_table}"  # noqa: S608 - a table name
        " WHERE status = %s AND provider_family = %s AND lease_expires_at > %s"
    )
    params: list[object] = [JobStatus.RUNNING.value, limit.family, connection.ops.adapt_datetimefield_value(now)]
    if limit.model_slug:
        sql += " AND model_slug = %s"
        params.append(limit.model_slug)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def _record_call(*, family: str, model_slug: str, at: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ProviderCall._meta.db_table} (family, model_slug, at) VALUES (%s, %s, %s)",  # noqa: S608
            [family, model_slug, connection.ops.adapt_datetimefield_value(at)],
        )


def limits_for(*, family: str, model_slug: str, now: datetime | None = None) -> list[Limit]:
    """The family's limit, and the model's own where one is configured (setting or admin row)."""
    now = now or timezone.now()
    rows = _limit_rows(family, model_slug)
    found = []
    for slug in ("", model_slug) if model_slug else ("",):
        configured = _setting(f"{family}/{slug}" if slug else family)
        if configured is None and not slug:
            configured = _setting("*") or {}
        row = rows.get(slug)
        if configured is None and row is None:
            continue
        configured = configured or {}
        concurrent = row.max_concurrent if row and row.max_concurrent is not None else configured.get("concurrent", 0)
        per_minute = row.per_minute if row and row.per_minute is not None else configured.get("per_minute", 0)
        paused_until = last_429 = None
        if row is not None:
            last_429 = row.last_429_at
            paused_until = row.paused_until if row.paused_until and row.paused_until > now else None
            if row.slowed_until and row.slowed_until > now and row.rate_factor < 1:
                concurrent = max(1, int(concurrent * row.rate_factor)) if concurrent else 0
                per_minute = max(1, int(per_minute * row.rate_factor)) if per_minute else 0
        found.append(Limit(family, slug, int(concurrent), int(per_minute), paused_until, last_429))
    return found


def _calls(limit: Limit, now: datetime) -> QuerySet[ProviderCall]:
    calls = ProviderCall.objects.filter(family=limit.family, at__gt=now - WINDOW - WINDOW_MARGIN)
    return calls.filter(model_slug=limit.model_slug) if limit.model_slug else calls


def blocked_for(
    *,
    family: str,
    model_slug: str,
    now: datetime | None = None,
    found: list[Limit] | None = None,
    started: bool = False,
) -> float | None:
    """None if a call may start now; else seconds until one may (0: when a call in flight ends).

    `found`: the limits the caller has just read, to save reading them twice. `started`: the
    caller's transaction has already written its own job of this provider as running
    (`acquire`), so the calls in flight include it.
    """
    now = now or timezone.now()
    if found is None:
        found = limits_for(family=family, model_slug=model_slug, now=now)
    for limit in found:
        if limit.paused_until:
            return (limit.paused_until - now).total_seconds()
        if limit.concurrent and _in_flight(limit, now) - int(started) >= limit.concurrent:
            return 0.0
        if limit.per_minute:
            window = _calls(limit, now).order_by("-at").values_list("at", flat=True)[: limit.per_minute]
            window = list(window)
            if len(window) >= limit.per_minute:
                return max((window[-1] + WINDOW + WINDOW_MARGIN - now).total_seconds(), 0.05)
    return None


def _advisory_lock(name: str) -> None:
    if connection.vendor == "postgresql":
        key = zlib.crc32(name.encode()) - 2**31
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _lock_family(family: str) -> None:
    _advisory_lock(f"studio-provider:{family}")


def member_has_room(*, job: Job, cap: int) -> bool:
    """Inside the claim's transaction: may the job's member start one more under the team's cap?

    The dispatcher's count is read without a lock, so two free slots could both start a
    member's cap + 1st job. Under the member's advisory lock, held to the claim's commit,
    the count is re-read (a fresh snapshot per statement) and sees the other slot's claim.
    SQLite has one writer at a time, so the count is already exact there.
    """
    if not cap:
        return True
    _advisory_lock(f"studio-member:{job.team_id}:{job.user_id}")
    running = Job.objects.filter(team_id=job.team_id, user_id=job.user_id, status=JobStatus.RUNNING).count()
    return running < cap


def acquire(*, job: Job, now: datetime | None = None) -> float | None:
    """Inside the claim's transaction, the job already written as running: count one call against
    its provider, or say how long to wait (the caller then puts the job back as it was).

    Returns None when the call may start (and records it), else as `blocked_for`. Every claim
    of a limited provider, in every worker, queues for its lock: so the limits (what an admin
    set, a 429's pause) are read before it, and under it only the calls are counted and this
    one recorded. The time is read after the lock: a claim that waited counts from when it got it.
    """
    found = limits_for(family=job.provider_family, model_slug=job.model_slug, now=now)
    if any(limit.concurrent or limit.per_minute or limit.paused_until for limit in found):
        # Only a provider with a limit serialises its claims; the others count calls freely.
        _lock_family(job.provider_family)
    now = max(now or timezone.now(), timezone.now())
    wait = blocked_for(family=job.provider_family, model_slug=job.model_slug, now=now, found=found, started=True)
    if wait is None:
        _record_call(family=job.provider_family, model_slug=job.model_slug, at=now)
    return wait


def record_429(*, family: str, retry_after: float | None, now: datetime | None = None) -> None:
    """Pause the family for Retry-After and halve its rate for a while (again on each 429)."""
    now = now or timezone.now()
    row, _ = ProviderLimit.objects.get_or_create(family=family, model_slug="")
    slowed = row.slowed_until is not None and row.slowed_until > now
    pause = retry_after if retry_after is not None else settings.STUDIO_PROVIDER_429_PAUSE
    ProviderLimit.objects.filter(pk=row.pk).update(
        last_429_at=now,
        paused_until=now + timedelta(seconds=max(pause, 0)),
        slowed_until=now + timedelta(seconds=settings.STUDIO_PROVIDER_SLOWDOWN_SECONDS),
        rate_factor=max(0.1, (row.rate_factor if slowed else 1.0) * 0.5),
        updated_at=now,
    )


def forget_old_calls(*, now: datetime | None = None) -> int:
    """Drop calls older than any window counts (the sweep calls this)."""
    now = now or timezone.now()
    deleted, _ = ProviderCall.objects.filter(at__lt=now - 2 * WINDOW).delete()
    return deleted


def waiting_for_capacity(*, job: Job) -> str:
    """The card's line for a queued job its provider has no room for yet ("" otherwise)."""
    if job.status != JobStatus.QUEUED or job.is_demo and job.provider_family == "local":
        return ""
    if job.next_attempt_at and job.next_attempt_at > timezone.now():
        return ""
    if blocked_for(family=job.provider_family, model_slug=job.model_slug) is None:
        return ""
    return f"Waiting for {family_name(job.provider_family)} capacity"


def provider_status(*, team_id: int | None = None) -> list[dict[str, object]]:
    """Per provider family: jobs waiting and running (of the team, or all), limits in force, last 429."""
    now = timezone.now()
    jobs = Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    if team_id is not None:
        jobs = jobs.filter(team_id=team_id)
    counts = {
        row["provider_family"]: row
        for row in jobs.values("provider_family").annotate(
            waiting=Count("pk", filter=Q(status=JobStatus.QUEUED)),
            running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        )
    }
    calls = dict(
        ProviderCall.objects.filter(at__gt=now - WINDOW).values("family").annotate(n=Count("pk")).values_list("family", "n")
    )
    families = set(counts) | set(ProviderLimit.objects.values_list("family", flat=True))
    families |= {key for key in settings.STUDIO_PROVIDER_LIMITS if key != "*" and "/" not in key}
    last_429 = dict(ProviderLimit.objects.values("family").annotate(at=Max("last_429_at")).values_list("family", "at"))
    table = []
    for family in sorted(families):
        limit = limits_for(family=family, model_slug="", now=now)[0]
        table.append({
            "family": family,
            "name": family_name(family),
            "waiting": counts.get(family, {}).get("waiting", 0),
            "running": counts.get(family, {}).get("running", 0),
            "concurrent": limit.concurrent,
            "per_minute": limit.per_minute,
            "calls_last_minute": calls.get(family, 0),
            "paused_until": limit.paused_until,
            "last_429_at": last_429.get(family),
        })
    return table
