"""Team administration: members and roles, credits, caps and refills, model access.

Every admin action writes its `AuditEvent` in the same transaction as the change, so
the trail never shows something that did not happen (or misses something that did).
Credits still move only through `studio.services.credits`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from providers.models import CatalogModel, Tier
from studio.models import (
    AccessEffect,
    Account,
    AccountKind,
    AuditAction,
    AuditEvent,
    Invitation,
    Job,
    Membership,
    ModelAccessRule,
    RefillRecord,
    Role,
    Team,
    TeamClosure,
    Transfer,
    TransferKind,
    User,
)
from studio.services import credits, teams
from studio.services.errors import InsufficientCredits, PermissionDenied, StudioError, ValidationFailed

logger = logging.getLogger(__name__)

INVITATION_DAYS = 7
MEMO_MAX = 200
ASSIGNABLE_ROLES = (Role.ADMIN, Role.DESIGNER, Role.VIEWER)
ACTIVE_JOB_STATUSES = ("queued", "running")


# -- small helpers ----------------------------------------------------------------
def _label(user: User | None) -> str:
    return user.get_username() if user is not None else "site staff"


def _audit(
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
    actor_label: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        team=team,
        actor=actor,
        actor_label=actor_label or _label(actor),
        action=action,
        target_user=target,
        target_label=target_label or (target.get_username() if target is not None else ""),
        before=before or {},
        after=after or {},
        memo=memo[:MEMO_MAX],
        transfer=transfer,
        request_key=request_key,
    )


def require_manager(actor: Membership) -> None:
    """Refuse anyone but the team's owner and admins."""
    if not actor.can_manage:
        raise PermissionDenied("Only the team's owner and admins can do this.")


def _require_same_team(actor: Membership, target: Membership) -> None:
    # Views look members up inside the actor's team already; this is the second lock.
    if target.team_id != actor.team_id:
        raise PermissionDenied("That member belongs to another team.")


def is_closed(team: Team) -> bool:
    return TeamClosure.objects.filter(team=team).exists()


def _lock_accounts(accounts: Iterable[Account]) -> None:
    """Lock account rows in id order, the order `transfer_credits` updates them in."""
    ids = sorted({a.pk for a in accounts})
    list(Account.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def _active_jobs(team: Team, user: User | None = None) -> Any:
    jobs = Job.objects.filter(team=team, status__in=ACTIVE_JOB_STATUSES)
    return jobs.filter(user=user) if user is not None else jobs


def _clean_memo(memo: str) -> str:
    memo = (memo or "").strip()
    if len(memo) > MEMO_MAX:
        raise ValidationFailed({"memo": f"Keep the memo under {MEMO_MAX} characters."})
    return memo


def _whole_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed({"amount": "Enter a whole number of credits above zero."})
    return amount


# -- invitations --------------------------------------------------------------------
def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvitation:
    """The invitation and its token: the token is shown once and never stored."""

    invitation: Invitation
    token: str


def invite_member(*, actor: Membership, role: str, email: str = "") -> IssuedInvitation:
    """Create a single-use invitation link, valid for a week."""
    require_manager(actor)
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed({"role": "Invite as admin, designer or viewer."})
    if role == Role.ADMIN and actor.role != Role.OWNER:
        raise PermissionDenied("Only the team owner can invite admins.")
    email = (email or "").strip().lower()
    if email and Membership.objects.filter(team=actor.team, user__email__iexact=email).exists():
        raise ValidationFailed({"email": f"{email} is already a member of {actor.team.name}."})
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            team=actor.team,
            role=role,
            email=email,
            token_hash=_hash_token(token),
            created_by=actor.user,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        _audit(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.INVITED,
            target_label=email or "invitation link",
            after={"role": role, "email": email, "invitation": invitation.pk},
        )
    return IssuedInvitation(invitation=invitation, token=token)


def send_invitation_email(*, invitation: Invitation, url: str) -> None:
    """Mail the link through Django's email backend (outside any transaction: it is I/O)."""
    if not invitation.email:
        return
    expires = timezone.localtime(invitation.expires_at)
    send_mail(
        subject=f"You are invited to {invitation.team.name} on Studio",
        message=(
            f"You have been invited to join {invitation.team.name} on Studio as {invitation.role}.\n\n"
            f"Open this link to accept (it works once, until {expires:%Y-%m-%d %H:%M %Z}):\n{url}\n\n"
            "If you did not expect this, ignore this email."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


def find_invitation(*, token: str) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    return Invitation.objects.select_related("team").filter(token_hash=_hash_token(token)).first()


def invitation_problem(*, invitation: Invitation, user: User, now: datetime | None = None) -> str:
    """Say why `user` cannot accept `invitation`, or return "" when they can."""
    now = now or timezone.now()
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn."
    if invitation.accepted_at is not None:
        return "This invitation has already been used."
    if invitation.expires_at <= now:
        return "This invitation has expired; ask for a new one."
    if is_closed(invitation.team):
        return "This team no longer exists."
    if invitation.email and (user.email or "").lower() != invitation.email.lower():
        return "This invitation was sent to a different email address; sign in with that account."
    if Membership.objects.filter(team=invitation.team, user=user).exists():
        return f"You are already a member of {invitation.team.name}."
    return ""


def accept_invitation(*, token: str, user: User) -> Membership:
    """Join the team with the invited role, once; the team becomes the user's current one."""
    with transaction.atomic():
        found = find_invitation(token=token)
        if found is None:
            raise StudioError("This invitation link is not valid.")
        invitation = Invitation.objects.select_for_update().select_related("team").get(pk=found.pk)
        problem = invitation_problem(invitation=invitation, user=user)
        if problem:
            raise StudioError(problem)
        membership = teams.add_member(team=invitation.team, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        user.current_team = invitation.team
        user.save(update_fields=["current_team"])
        _audit(
            team=invitation.team,
            actor=user,
            action=AuditAction.JOINED,
            target=user,
            after={"role": invitation.role, "invitation": invitation.pk},
        )
        return membership


def revoke_invitation(*, actor: Membership, invitation: Invitation) -> Invitation:
    require_manager(actor)
    if invitation.team_id != actor.team_id:
        raise PermissionDenied("That invitation belongs to another team.")
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None or locked.revoked_at is not None:
            raise StudioError("This invitation is no longer open.")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        _audit(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.INVITATION_REVOKED,
            target_label=locked.email or "invitation link",
            before={"role": locked.role, "invitation": locked.pk},
        )
        return locked


# -- roles and membership -------------------------------------------------------------
def can_manage_member(actor: Membership, target: Membership) -> bool:
    """Whether `actor` may change `target`'s role or remove them (for showing controls)."""
    if not actor.can_manage or target.team_id != actor.team_id or target.role == Role.OWNER:
        return False
    return target.role != Role.ADMIN or actor.role == Role.OWNER


def _check_member_change(actor: Membership, target: Membership, new_role: str | None = None) -> None:
    require_manager(actor)
    _require_same_team(actor, target)
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
        _audit(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.ROLE_CHANGED,
            target=locked.user,
            before={"role": before},
            after={"role": role},
        )
        return locked


def _move_current_team(user: User, *, away_from: Team) -> None:
    if user.current_team_id != away_from.pk:
        return
    other = Membership.objects.filter(user=user).exclude(team=away_from).order_by("joined_at").first()
    user.current_team = other.team if other else None
    user.save(update_fields=["current_team"])


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
    for job in _active_jobs(team, user):
        # StudioError: it finished meanwhile, and its hold is settled either way.
        with contextlib.suppress(StudioError):
            cancel_job(job=job, user=user)
    pool = credits.team_account(team=team, kind=AccountKind.POOL)
    account = credits.member_account(team=team, user=user)
    with transaction.atomic():
        _lock_accounts([pool, account])
        locked = Membership.objects.select_for_update().filter(pk=target.pk).first()
        if locked is None:
            raise StudioError(f"{user.get_username()} is no longer a member.")
        _check_member_change(actor, locked)
        if _active_jobs(team, user).exists():
            raise StudioError(f"{user.get_username()} started a job just now; try again in a moment.")
        account.refresh_from_db(fields=["balance"])
        returned = account.balance
        transfer = None
        if returned:
            transfer = credits.revoke_credits(
                membership=locked, amount=returned, actor=actor.user, memo=f"returned: {user.get_username()} removed"
            )
        locked.delete()
        _move_current_team(user, away_from=team)
        _audit(
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
    membership = Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()
    if membership is None:
        raise PermissionDenied("You are not a member of that team.")
    user.current_team = membership.team
    user.save(update_fields=["current_team"])
    return membership


# -- credits ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CreditMove:
    """The outcome of a grant or revoke; `replayed` when the form was submitted twice."""

    event: AuditEvent
    replayed: bool = False

    @property
    def amount(self) -> int:
        return int(self.event.after.get("amount", 0))


def _replay(team: Team, request_key: str) -> AuditEvent | None:
    if not request_key:
        return None
    return AuditEvent.objects.filter(team=team, request_key=request_key).first()


def _move_credits(
    *,
    actor: Membership,
    target: Membership,
    amount: int,
    memo: str,
    request_key: str,
    grant: bool,
) -> CreditMove:
    require_manager(actor)
    _require_same_team(actor, target)
    amount = _whole_amount(amount)
    memo = _clean_memo(memo)
    team, user = actor.team, target.user
    earlier = _replay(team, request_key)
    if earlier is not None:
        return CreditMove(event=earlier, replayed=True)
    pool = credits.team_account(team=team, kind=AccountKind.POOL)
    account = credits.member_account(team=team, user=user)
    name = user.get_username()
    try:
        with transaction.atomic():
            if not Membership.objects.filter(pk=target.pk, team=team).exists():
                raise StudioError(f"{name} is no longer a member.")
            try:
                if grant:
                    transfer = credits.grant_credits(
                        membership=target, amount=amount, actor=actor.user, memo=memo or f"grant to {name}"
                    )
                else:
                    transfer = credits.revoke_credits(
                        membership=target, amount=amount, actor=actor.user, memo=memo or f"revoked from {name}"
                    )
            except InsufficientCredits:
                if grant:
                    pool.refresh_from_db(fields=["balance"])
                    raise ValidationFailed(
                        {"amount": f"The team pool holds {pool.balance:,} credits; you cannot grant {amount:,}."}
                    ) from None
                account.refresh_from_db(fields=["balance"])
                raise ValidationFailed(
                    {"amount": f"{name} holds {account.balance:,} credits; you cannot revoke {amount:,}."}
                ) from None
            # Both rows are locked by the transfer: these are exact, not a racy re-read.
            pool.refresh_from_db(fields=["balance"])
            account.refresh_from_db(fields=["balance"])
            sign = 1 if grant else -1
            event = _audit(
                team=team,
                actor=actor.user,
                action=AuditAction.GRANTED if grant else AuditAction.REVOKED,
                target=user,
                before={"member_balance": account.balance - sign * amount, "pool_balance": pool.balance + sign * amount},
                after={"member_balance": account.balance, "pool_balance": pool.balance, "amount": amount},
                memo=transfer.memo,
                transfer=transfer,
                request_key=request_key,
            )
    except IntegrityError:
        # The same form raced itself: the other request made the move; ours rolled back.
        earlier = _replay(team, request_key)
        if earlier is None:
            raise
        return CreditMove(event=earlier, replayed=True)
    return CreditMove(event=event)


def grant(*, actor: Membership, target: Membership, amount: int, memo: str = "", request_key: str = "") -> CreditMove:
    """Move credits from the team pool to a member. The same `request_key` is done once."""
    return _move_credits(actor=actor, target=target, amount=amount, memo=memo, request_key=request_key, grant=True)


def revoke(*, actor: Membership, target: Membership, amount: int, memo: str = "", request_key: str = "") -> CreditMove:
    """Move credits from a member back to the team pool. The same `request_key` is done once."""
    return _move_credits(actor=actor, target=target, amount=amount, memo=memo, request_key=request_key, grant=False)


def set_limits(
    *, actor: Membership, target: Membership, monthly_cap: int | None, monthly_refill: int | None
) -> Membership:
    """Set (or clear, with None) a member's monthly spending cap and monthly refill target."""
    require_manager(actor)
    _require_same_team(actor, target)
    errors: dict[str, str] = {}
    for name, value, low in (("monthly_cap", monthly_cap, 0), ("monthly_refill", monthly_refill, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            errors[name] = f"Enter a whole number of credits of at least {low}, or leave it empty."
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=target.pk)
        before = {"monthly_cap": locked.monthly_cap, "monthly_refill": locked.monthly_refill}
        after = {"monthly_cap": monthly_cap, "monthly_refill": monthly_refill}
        if before == after:
            return locked
        locked.monthly_cap, locked.monthly_refill = monthly_cap, monthly_refill
        locked.save(update_fields=["monthly_cap", "monthly_refill"])
        _audit(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.LIMITS_CHANGED,
            target=locked.user,
            before=before,
            after=after,
        )
        return locked


def top_up_team(*, team: Team, amount: int, memo: str, actor: User | None = None) -> Transfer:
    """Site staff add new credits to a team's pool, with a memo saying why."""
    amount = _whole_amount(amount)
    memo = _clean_memo(memo)
    if not memo:
        raise ValidationFailed({"memo": "Say why: a top-up needs a memo."})
    pool = credits.team_account(team=team, kind=AccountKind.POOL)
    with transaction.atomic():
        _lock_accounts([credits.mint_account(), pool])
        if is_closed(team):
            raise StudioError(f"{team.name} was deleted; its pool cannot be topped up.")
        transfer = credits.top_up_pool(team=team, amount=amount, actor=actor, memo=memo)
        pool.refresh_from_db(fields=["balance"])
        _audit(
            team=team,
            actor=actor,
            action=AuditAction.TOPPED_UP,
            target_label="team pool",
            before={"pool_balance": pool.balance - amount},
            after={"pool_balance": pool.balance, "amount": amount},
            memo=memo,
            transfer=transfer,
        )
        return transfer


# -- monthly refills ------------------------------------------------------------------
@dataclass
class RefillSummary:
    refilled: int = 0
    credits: int = 0
    already_full: int = 0
    already_done: int = 0
    pool_short: int = 0


def refill_member(*, membership_id: int, now: datetime | None = None) -> RefillRecord | None:
    """Bring one member's balance up to their refill target, once per calendar month.

    Returns None when there is nothing to do (no target, or already refilled this
    month). Raises InsufficientCredits when the pool is short: nothing is recorded,
    so the next daily run tries again.
    """
    month = credits.month_start(now).date()
    membership = Membership.objects.select_related("team", "user").filter(pk=membership_id).first()
    if membership is None or not membership.monthly_refill:
        return None
    team, user = membership.team, membership.user
    if RefillRecord.objects.filter(team=team, user=user, month=month).exists():
        return None
    pool = credits.team_account(team=team, kind=AccountKind.POOL)
    account = credits.member_account(team=team, user=user)
    with transaction.atomic():
        _lock_accounts([pool, account])
        # Under the lock a concurrent run has either committed its record or not started.
        if RefillRecord.objects.filter(team=team, user=user, month=month).exists() or is_closed(team):
            return None
        target = Membership.objects.filter(pk=membership_id).values_list("monthly_refill", flat=True).first()
        if not target:
            return None
        account.refresh_from_db(fields=["balance"])
        amount = max(0, target - account.balance)
        transfer = None
        if amount:
            transfer = credits.transfer_credits(
                debit=pool,
                credit=account,
                amount=amount,
                kind=TransferKind.REFILL,
                memo=f"monthly refill {month:%Y-%m}: up to {target}",
            )
        record = RefillRecord.objects.create(
            team=team, user=user, month=month, target=target, amount=amount, transfer=transfer
        )
        _audit(
            team=team,
            actor=None,
            actor_label="monthly refill",
            action=AuditAction.REFILLED,
            target=user,
            before={"member_balance": account.balance},
            after={"member_balance": account.balance + amount, "amount": amount, "target": target},
            memo=f"{month:%Y-%m}",
            transfer=transfer,
        )
        return record


def run_monthly_refills(*, now: datetime | None = None) -> RefillSummary:
    """Refill every member with a target; safe to run daily, twice, or concurrently."""
    summary = RefillSummary()
    pending = (
        Membership.objects.filter(monthly_refill__gt=0)
        .exclude(team__closure__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for membership_id in pending:
        try:
            record = refill_member(membership_id=membership_id, now=now)
        except InsufficientCredits:
            summary.pool_short += 1
            logger.warning("monthly refill of membership %s skipped: the team pool is short", membership_id)
            continue
        except IntegrityError:
            summary.already_done += 1  # a concurrent run recorded it first
            continue
        if record is None:
            summary.already_done += 1
        elif record.amount:
            summary.refilled += 1
            summary.credits += record.amount
        else:
            summary.already_full += 1
    return summary


# -- model access ---------------------------------------------------------------------
def set_tier_access(*, actor: Membership, tier: str, blocked: bool) -> None:
    """Allow (the default) or block a whole tier for the team."""
    require_manager(actor)
    if tier not in Tier.values:
        raise ValidationFailed({"tier": "Choose standard, advanced, premium or ultra."})
    with transaction.atomic():
        rule = ModelAccessRule.objects.select_for_update().filter(team=actor.team, tier=tier).first()
        was_blocked = rule is not None and rule.effect == AccessEffect.BLOCK
        if was_blocked == blocked:
            return
        if blocked:
            ModelAccessRule.objects.update_or_create(
                team=actor.team, tier=tier, defaults={"effect": AccessEffect.BLOCK, "updated_by": actor.user}
            )
        else:
            ModelAccessRule.objects.filter(team=actor.team, tier=tier).delete()
        _audit(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.TIER_ACCESS,
            target_label=f"{tier} tier",
            before={"tier": tier, "access": "blocked" if was_blocked else "allowed"},
            after={"tier": tier, "access": "blocked" if blocked else "allowed"},
        )


MODEL_SETTINGS = ("inherit", AccessEffect.ALLOW.value, AccessEffect.BLOCK.value)


def set_model_access(*, actor: Membership, model: CatalogModel, setting: str) -> None:
    """Set one model to follow its tier ("inherit"), always "allow" it, or "block" it."""
    require_manager(actor)
    if setting not in MODEL_SETTINGS:
        raise ValidationFailed({"access": "Choose: follow the tier, always allow, or block."})
    with transaction.atomic():
        rule = ModelAccessRule.objects.select_for_update().filter(team=actor.team, catalog_model=model).first()
        before = rule.effect if rule is not None else "inherit"
        if before == setting:
            return
        if setting == "inherit":
            ModelAccessRule.objects.filter(team=actor.team, catalog_model=model).delete()
        else:
            ModelAccessRule.objects.update_or_create(
                team=actor.team, catalog_model=model, defaults={"effect": setting, "updated_by": actor.user}
            )
        _audit(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.MODEL_ACCESS,
            target_label=model.slug,
            before={"model": model.slug, "access": before},
            after={"model": model.slug, "access": setting},
        )


# -- deleting a team ------------------------------------------------------------------
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
        _lock_accounts([credits.mint_account(), *accounts])
        if is_closed(team):
            raise StudioError("This team is already deleted.")
        active = _active_jobs(team).count()
        if active:
            raise StudioError(
                f"{active} job{'s are' if active != 1 else ' is'} still in progress; "
                "wait for them to finish, then delete the team."
            )
        members = list(Membership.objects.select_related("user").filter(team=team))
        returned = 0
        for membership in members:
            account = credits.member_account(team=team, user=membership.user)
            if account.balance:
                credits.revoke_credits(
                    membership=membership, amount=account.balance, actor=actor.user, memo="returned: team deleted"
                )
                returned += account.balance
        pool = credits.team_account(team=team, kind=AccountKind.POOL)
        retired = pool.balance
        if retired:
            credits.transfer_credits(
                debit=pool,
                credit=credits.mint_account(),
                amount=retired,
                kind=TransferKind.ADJUST,
                actor=actor.user,
                memo="pool retired: team deleted",
            )
        Invitation.objects.filter(team=team, accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        TeamClosure.objects.create(team=team, closed_by=actor.user)
        _audit(
            team=team,
            actor=actor.user,
            action=AuditAction.TEAM_DELETED,
            target_label=team.name,
            before={"members": len(members), "member_balances": returned, "pool_balance": retired - returned},
            after={"members": 0, "retired_to_mint": retired},
        )
        for membership in members:
            membership.delete()
            _move_current_team(membership.user, away_from=team)
        return team


def pool_balance(*, team: Team) -> int:
    return credits.team_account(team=team, kind=AccountKind.POOL).balance
