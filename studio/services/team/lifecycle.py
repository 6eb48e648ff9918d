"""A team's life: whether it is closed, leaving it, and deleting it for good."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from studio.models import (
    Account,
    AccountKind,
    AuditAction,
    Invitation,
    Job,
    Membership,
    Role,
    Team,
    TeamClosure,
    TransferKind,
    User,
)
from studio.services import credits as ledger
from studio.services.errors import PermissionDenied, StudioError, ValidationFailed
from studio.services.team.audit import log_event

ACTIVE_JOB_STATUSES = ("queued", "running")


def is_closed(team: Team) -> bool:
    return TeamClosure.objects.filter(team=team).exists()


def lock_accounts(accounts: Iterable[Account]) -> None:
    """Lock account rows in id order, the order `transfer_credits` updates them in."""
    ids = sorted({a.pk for a in accounts})
    list(Account.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def active_jobs(team: Team, user: User | None = None) -> Any:
    jobs = Job.objects.filter(team=team, status__in=ACTIVE_JOB_STATUSES)
    return jobs.filter(user=user) if user is not None else jobs


def move_current_team(user: User, *, away_from: Team) -> None:
    """Point a user who leaves `away_from` at another of their teams (or none)."""
    if user.current_team_id != away_from.pk:
        return
    other = Membership.objects.filter(user=user).exclude(team=away_from).order_by("joined_at").first()
    user.current_team = other.team if other else None
    user.save(update_fields=["current_team"])


def delete_team(*, actor: Membership, confirm: str) -> Team:
    """Close the team for good (owner only).

    The ledger is append-only and jobs and images are records, so nothing is erased:
    every member balance returns to the pool, the pool is retired to the mint, open
    invitations end and every membership ends. Refused while jobs are in progress.
    """
    if actor.role != Role.OWNER:
        raise PermissionDenied("Only the team owner can delete the team.")
    team = actor.team
    if (confirm or "").strip() != team.name:
        raise ValidationFailed({"confirm": f"Type the team's name, {team.name}, exactly to confirm."})
    accounts = list(Account.objects.filter(team=team))
    with transaction.atomic():
        lock_accounts([ledger.mint_account(), *accounts])
        if is_closed(team):
            raise StudioError("This team is already deleted.")
        active = active_jobs(team).count()
        if active:
            raise StudioError(
                f"{active} job{'s are' if active != 1 else ' is'} still in progress; "
                "wait for them to finish, then delete the team."
            )
        members = list(Membership.objects.select_related("user").filter(team=team))
        returned = 0
        for membership in members:
            account = ledger.member_account(team=team, user=membership.user)
            if account.balance:
                ledger.revoke_credits(
                    membership=membership, amount=account.balance, actor=actor.user, memo="returned: team deleted"
                )
                returned += account.balance
        pool = ledger.team_account(team=team, kind=AccountKind.POOL)
        retired = pool.balance
        if retired:
            ledger.transfer_credits(
                debit=pool,
                credit=ledger.mint_account(),
                amount=retired,
                kind=TransferKind.ADJUST,
                actor=actor.user,
                memo="pool retired: team deleted",
            )
        Invitation.objects.filter(team=team, accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        TeamClosure.objects.create(team=team, closed_by=actor.user)
        log_event(
            team=team,
            actor=actor.user,
            action=AuditAction.TEAM_DELETED,
            target_label=team.name,
            before={"members": len(members), "member_balances": returned, "pool_balance": retired - returned},
            after={"members": 0, "retired_to_mint": retired},
        )
        for membership in members:
            membership.delete()
            move_current_team(membership.user, away_from=team)
        return team
