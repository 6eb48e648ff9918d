"""Members and roles: who may change whom, role changes, removal, switching teams."""

from __future__ import annotations

import contextlib

from django.db import transaction

from studio.models import AccountKind, AuditAction, Membership, Role, User
from studio.services import credits as ledger
from studio.services.errors import PermissionDenied, StudioError, ValidationFailed
from studio.services.team.access import require_manager, require_same_team
from studio.services.team.audit import log_event
from studio.services.team.lifecycle import active_jobs, lock_accounts, move_current_team

ASSIGNABLE_ROLES = (Role.ADMIN, Role.DESIGNER, Role.VIEWER)


def can_manage_member(actor: Membership, target: Membership) -> bool:
    """Whether `actor` may change `target`'s role or remove them (for showing controls)."""
    if not actor.can_manage or target.team_id != actor.team_id or target.role == Role.OWNER:
        return False
    return target.role != Role.ADMIN or actor.role == Role.OWNER


def _check_member_change(actor: Membership, target: Membership, new_role: str | None = None) -> None:
    require_manager(actor)
    require_same_team(actor, target)
    if target.role == Role.OWNER:
        raise PermissionDenied("The team owner cannot be changed or removed.")
    if new_role is not None and new_role not in ASSIGNABLE_ROLES:
        raise ValidationFailed({"role": "A team has one owner: choose admin, designer or viewer."})
    if (target.role == Role.ADMIN or new_role == Role.ADMIN) and actor.role != Role.OWNER:
        raise PermissionDenied("Only the team owner can promote, demote or remove admins.")


def change_role(*, actor: Membership, target: Membership, role: str) -> Membership:
    """Give a member another role (owners manage admins; admins manage the rest)."""
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=target.pk)
        _check_member_change(actor, locked, new_role=role)
        if locked.role == role:
            return locked
        before = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        log_event(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.ROLE_CHANGED,
            target=locked.user,
            before={"role": before},
            after={"role": role},
        )
        return locked


def remove_member(*, actor: Membership, target: Membership) -> int:
    """Remove a member: cancel their jobs in progress, return their balance to the pool.

    Their images stay with the team (the team owns what members made team-visible).
    Returns the credits moved back to the pool.
    """
    from studio.services.jobs import cancel_job

    _check_member_change(actor, target)
    team, user = target.team, target.user
    # Cancelling returns each hold to the member; done first, job by job, in the same
    # lock order a worker settling the job uses (job row, then accounts).
    for job in active_jobs(team, user):
        # StudioError: it finished meanwhile, and its hold is settled either way.
        with contextlib.suppress(StudioError):
            cancel_job(job=job, user=user)
    pool = ledger.team_account(team=team, kind=AccountKind.POOL)
    account = ledger.member_account(team=team, user=user)
    with transaction.atomic():
        lock_accounts([pool, account])
        locked = Membership.objects.select_for_update().filter(pk=target.pk).first()
        if locked is None:
            raise StudioError(f"{user.get_username()} is no longer a member.")
        _check_member_change(actor, locked)
        if active_jobs(team, user).exists():
            raise StudioError(f"{user.get_username()} started a job just now; try again in a moment.")
        account.refresh_from_db(fields=["balance"])
        returned = account.balance
        transfer = None
        if returned:
            transfer = ledger.revoke_credits(
                membership=locked, amount=returned, actor=actor.user, memo=f"returned: {user.get_username()} removed"
            )
        locked.delete()
        move_current_team(user, away_from=team)
        log_event(
            team=team,
            actor=actor.user,
            action=AuditAction.REMOVED,
            target=user,
            before={"role": locked.role, "balance": returned},
            after={"balance": 0, "returned_to_pool": returned},
            transfer=transfer,
        )
        return returned


def switch_team(*, user: User, team_id: int) -> Membership:
    """Make one of the user's teams the one they work in."""
    if not 0 < team_id < 2**63:
        raise PermissionDenied("You are not a member of that team.")
    membership = Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()
    if membership is None:
        raise PermissionDenied("You are not a member of that team.")
    user.current_team = membership.team
    user.save(update_fields=["current_team"])
    return membership
