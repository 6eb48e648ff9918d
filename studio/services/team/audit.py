"""The team's audit trail: one row per admin action, written in the action's transaction.

The trail never shows something that did not happen (or misses something that did),
because every service writes its `AuditEvent` inside the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from studio.models import AuditAction, AuditEvent, Team, Transfer, User

MEMO_MAX = 200


def actor_label(user: User | None) -> str:
    return user.get_username() if user is not None else "site staff"


def log_event(
    *,
    team: Team,
    actor: User | None,
    action: AuditAction,
    target: User | None = None,
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    memo: str = "",
    transfer: Transfer | None = None,
    request_key: str = "",
    label: str = "",
) -> AuditEvent:
    """Append one event to `team`'s trail (`label` names an actor that is not a user)."""
    return AuditEvent.objects.create(
        team=team,
        actor=actor,
        actor_label=label or actor_label(actor),
        action=action,
        target_user=target,
        target_label=target_label or (target.get_username() if target is not None else ""),
        before=before or {},
        after=after or {},
        memo=memo[:MEMO_MAX],
        transfer=transfer,
        request_key=request_key,
    )
