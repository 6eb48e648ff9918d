"""Transactions that survive a busy database, and the one lock order every service keeps.

Lock order (write it nowhere else; follow it everywhere):
  1. job rows, each `select_for_update(no_key=True, of=("self",))`, in id order when several;
  1b. while claiming a job of a member whose team caps running jobs per member, that
     member's transaction-level advisory lock, after the job row; then, for a provider with
     a limit, that provider's advisory lock (both in `studio.services.jobs.limits`);
  2. member and pool accounts, in id order (`credits.transfer_credits` does this); the one
     exception: a synchronous API submit starts its new job last, taking the provider's
     advisory lock after the member's account (`jobs.submit`, dispatch "caller"). That
     cannot close a cycle: whoever holds a provider's lock is claiming, and a claim locks
     no account;
  3. nothing else. Shared rows are never locked: not the catalogue (a job's foreign key to
     it needs FOR KEY SHARE, which FOR UPDATE on the catalogue row would block — the deadlock
     of issue 10), not teams or users, and not the system accounts (holds, spent, mint),
     whose balances are derived from the append-only transfers instead of cached on a row
     every job of a team would update.
`no_key=True` locks (FOR NO KEY UPDATE) do not conflict with the FOR KEY SHARE that inserting
a row that references the locked one takes, so a refinement or a transfer that points at a
locked job never waits on it.

Deadlocks and serialisation failures can still happen between any two transactions a
database does not order for us; `transient_retry` runs the whole transaction again, a
bounded number of times, and then raises `ServiceUnavailable` (a 503 with Retry-After).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.models import Model

from studio.services.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# PostgreSQL: deadlock_detected, serialization_failure, lock_not_available.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
ATTEMPTS = 4


def is_transient(exc: BaseException) -> bool:
    """A failure that the same transaction, run again, may not meet."""
    cause = exc.__cause__ or exc.__context__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(exc, "sqlstate", None)
    if sqlstate in TRANSIENT_SQLSTATES:
        return True
    if isinstance(exc, InterfaceError):
        return True  # the connection went away under us
    if isinstance(exc, OperationalError):
        text = str(exc).lower()
        # SQLite's writer lock, or a PostgreSQL connection that was dropped or refused.
        return any(
            marker in text
            for marker in ("database is locked", "connection", "server closed", "terminating", "timeout")
        )
    return False


def transient_retry(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` (which owns its transaction) again on a transient database error.

    Inside an enclosing transaction there is nothing to retry from here (the enclosing
    transaction is already aborted), so the error goes up to whoever owns that one.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except DatabaseError as exc:
                if connection.in_atomic_block or not is_transient(exc):
                    raise
                if connection.connection is not None and not connection.is_usable():
                    connection.close()  # a dropped connection: the next query opens a new one
                if attempt == ATTEMPTS:
                    logger.warning("%s: database still busy after %d attempts", func.__qualname__, attempt)
                    raise ServiceUnavailable(
                        "The database is busy; nothing was changed. Try again in a moment.", retry_after=2
                    ) from exc
                logger.info("%s: transient database error, attempt %d: %s", func.__qualname__, attempt, exc)
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not cryptography
        raise AssertionError("unreachable")

    return wrapper


def remember_related(instance: Model, relation: str, rows: Sequence[Model]) -> None:
    """Make `instance.<relation>.all()` answer `rows` without a query, as `prefetch_related`
    would: for rows this transaction has just written, all of them, so there is nothing else
    to read. Adding to the relation through its manager drops the cache again (Django)."""
    queryset = getattr(instance, relation).get_queryset()
    queryset._result_cache = list(rows)
    queryset._prefetch_done = True
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[relation] = queryset


def is_remembered(instance: Model, relation: str) -> bool:
    """Whether `instance.<relation>.all()` answers from `remember_related` (or a prefetch)."""
    return relation in getattr(instance, "_prefetched_objects_cache", {})


def has_row(model: type[Model], column: str, value: object) -> bool:
    """Whether any `model` row has `column` = `value`: a one-row probe in SQL, for the relations
    most jobs never have (inputs, a webhook), which every job asks about; the ORM's compiled
    query for it cost five times the probe's CPU."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {model._meta.db_table} WHERE {column} = %s LIMIT 1", [value])  # noqa: S608 - names
        return cursor.fetchone() is not None


M = TypeVar("M", bound=Model)


def lock_row(model: type[M], pk: int) -> M:
    """`model.objects.select_for_update(no_key=True, of=("self",)).get(pk=pk)`, from SQL written
    once per model: compiling the ORM's select list cost more CPU than the locked read itself
    on a job row's ~40 columns. Raises `model.DoesNotExist` like `get`."""
    rows = list(model._default_manager.raw(_lock_sql(model), [pk]))
    if not rows:
        raise model.DoesNotExist(f"{model.__name__} {pk} does not exist.")
    return rows[0]


def lock_first_free(model: type[M], *, where: str, params: Sequence[object]) -> M | None:
    """The first `model` row by primary key that matches `where` (SQL, a constant of the caller)
    and that no other transaction holds, locked as `lock_row` locks (SKIP LOCKED): for many
    slots claiming from one queue at once, each takes the next row instead of waiting."""
    rows = list(model._default_manager.raw(_first_free_sql(model, where), list(params)))
    return rows[0] if rows else None


def _select_sql(model: type[Model], where: str) -> str:
    meta, ops = model._meta, connection.ops
    columns = ", ".join(ops.quote_name(field.column) for field in meta.concrete_fields)
    return f"SELECT {columns} FROM {ops.quote_name(meta.db_table)} WHERE {where}"  # noqa: S608 - names


@functools.cache
def _lock_sql(model: type[Model]) -> str:
    sql = _select_sql(model, f"{connection.ops.quote_name(model._meta.pk.column)} = %s")
    # SQLite has no row locks (its writers are serialised); the ORM leaves the clause out too.
    return f"{sql} FOR NO KEY UPDATE" if connection.features.has_select_for_no_key_update else sql


@functools.cache
def _first_free_sql(model: type[Model], where: str) -> str:
    sql = f"{_select_sql(model, where)} ORDER BY {connection.ops.quote_name(model._meta.pk.column)} LIMIT 1"
    features = connection.features
    if features.has_select_for_no_key_update and features.has_select_for_update_skip_locked:
        return f"{sql} FOR NO KEY UPDATE SKIP LOCKED"
    return sql
