"""The team's audit trail: one row per admin action, written in the action's transaction.

The trail never shows something that did not happen (or misses something that did),
because every service writes its `AuditEvent` inside the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from studio.models import AuditAction, AuditEvent, Membership, Team, Transfer, User

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


def security_event(
    *, user: User, action: AuditAction, ip: str = "", team: Team | None = None, by_user: bool = True, detail: str = ""
) -> int:
    """Put a security event about `user` in the trail of `team`, or of every team they belong to.

    `by_user` is false for what someone else attempted in their name (a failed sign-in,
    a lockout): the actor is then the sign-in form, not the account. Returns the rows written.
    """
    teams = [team] if team is not None else [m.team for m in Membership.objects.filter(user=user).select_related("team")]
    after = {"ip": ip} if ip else {}
    with transaction.atomic():
        for each in teams:
            log_event(
                team=each,
                actor=user if by_user else None,
                label="" if by_user else "sign-in form",
                action=action,
                target=user,
                after=after,
                memo=detail,
            )
    return len(teams)
