"""The ledger's statements that every job runs (its hold, its charge), written in SQL.

The ORM compiles each of them afresh for every call, and on a small host that costs about
five times the statement itself (tests/bench/test_gateway_bench.py prints CPU per request).
They write the same rows and meet the same constraints as the ORM would: the CHECK that a
cached balance never goes below zero and UNIQUE(job, kind) stand behind them, and errors
come out as Django's (`IntegrityError`, ...), since Django's cursor wraps them.
Only `credits` calls these.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from studio.models import Account, Job, Membership, Transfer, User

_ACCOUNTS = Account._meta.db_table
_TRANSFERS = Transfer._meta.db_table
_MEMBERSHIPS = Membership._meta.db_table


def member_cap(*, team_id: int, user_id: int) -> tuple[bool, int | None]:
    """Whether the user is a member of the team, and their monthly cap (None: no cap)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT monthly_cap FROM {_MEMBERSHIPS} WHERE team_id = %s AND user_id = %s", [team_id, user_id])  # noqa: S608
        row = cursor.fetchone()
    return (False, None) if row is None else (True, row[0])


def debit_balance(*, account_id: int, amount: int) -> bool:
    """Take `amount` off a cached balance if it covers it; False (nothing written) if not."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_ACCOUNTS} SET balance = balance - %s WHERE id = %s AND balance >= %s",  # noqa: S608 - table names
            [amount, account_id, amount],
        )
        return cursor.rowcount == 1


def credit_balance(*, account_id: int, amount: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_ACCOUNTS} SET balance = balance + %s WHERE id = %s", [amount, account_id])  # noqa: S608


def insert_transfer(
    *, debit: Account, credit: Account, amount: int, kind: str, job: Job | None, actor: User | None, memo: str
) -> Transfer:
    """Append one transfer row and return it as the ORM would have (saved, with its id)."""
    transfer = Transfer(
        debit=debit, credit=credit, amount=amount, kind=kind, job=job, actor=actor, memo=memo, created_at=timezone.now()
    )
    columns = "debit_id, credit_id, amount, kind, job_id, actor_id, memo, created_at"
    params = [
        debit.pk, credit.pk, amount, str(kind), transfer.job_id, transfer.actor_id, memo,
        connection.ops.adapt_datetimefield_value(transfer.created_at),
    ]
    sql = f"INSERT INTO {_TRANSFERS} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(f"{sql} RETURNING id", params)
            transfer.pk = cursor.fetchone()[0]
        else:
            cursor.execute(sql, params)
            transfer.pk = cursor.lastrowid
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer
