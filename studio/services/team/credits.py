"""Team credits: grants and revokes from the pool, caps, staff top-ups, monthly refills.

Credits still move only through `studio.services.credits` (the ledger); this module adds
the team rules and the audit trail around each move.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from studio.models import (
    AccountKind,
    AuditAction,
    AuditEvent,
    Membership,
    RefillRecord,
    Team,
    Transfer,
    TransferKind,
    User,
)
from studio.services import credits as ledger
from studio.services.errors import InsufficientCredits, StudioError, ValidationFailed
from studio.services.team.access import require_manager, require_same_team
from studio.services.team.audit import MEMO_MAX, log_event
from studio.services.team.lifecycle import is_closed, lock_accounts

logger = logging.getLogger(__name__)


def clean_memo(memo: str) -> str:
    memo = (memo or "").strip()
    if len(memo) > MEMO_MAX:
        raise ValidationFailed({"memo": f"Keep the memo under {MEMO_MAX} characters."})
    return memo


def whole_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed({"amount": "Enter a whole number of credits above zero."})
    return amount


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
    require_same_team(actor, target)
    amount = whole_amount(amount)
    memo = clean_memo(memo)
    team, user = actor.team, target.user
    earlier = _replay(team, request_key)
    if earlier is not None:
        return CreditMove(event=earlier, replayed=True)
    pool = ledger.team_account(team=team, kind=AccountKind.POOL)
    account = ledger.member_account(team=team, user=user)
    name = user.get_username()
    try:
        with transaction.atomic():
            if not Membership.objects.filter(pk=target.pk, team=team).exists():
                raise StudioError(f"{name} is no longer a member.")
            try:
                if grant:
                    transfer = ledger.grant_credits(
                        membership=target, amount=amount, actor=actor.user, memo=memo or f"grant to {name}"
                    )
                else:
                    transfer = ledger.revoke_credits(
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
            event = log_event(
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
    require_same_team(actor, target)
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
        log_event(
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
    amount = whole_amount(amount)
    memo = clean_memo(memo)
    if not memo:
        raise ValidationFailed({"memo": "Say why: a top-up needs a memo."})
    pool = ledger.team_account(team=team, kind=AccountKind.POOL)
    with transaction.atomic():
        lock_accounts([ledger.mint_account(), pool])
        if is_closed(team):
            raise StudioError(f"{team.name} was deleted; its pool cannot be topped up.")
        transfer = ledger.top_up_pool(team=team, amount=amount, actor=actor, memo=memo)
        pool.refresh_from_db(fields=["balance"])
        log_event(
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


# -- monthly refills --------------------------------------------------------------------
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
    month = ledger.month_start(now).date()
    membership = Membership.objects.select_related("team", "user").filter(pk=membership_id).first()
    if membership is None or not membership.monthly_refill:
        return None
    team, user = membership.team, membership.user
    if RefillRecord.objects.filter(team=team, user=user, month=month).exists():
        return None
    pool = ledger.team_account(team=team, kind=AccountKind.POOL)
    account = ledger.member_account(team=team, user=user)
    with transaction.atomic():
        lock_accounts([pool, account])
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
            transfer = ledger.transfer_credits(
                debit=pool,
                credit=account,
                amount=amount,
                kind=TransferKind.REFILL,
                memo=f"monthly refill {month:%Y-%m}: up to {target}",
            )
        record = RefillRecord.objects.create(
            team=team, user=user, month=month, target=target, amount=amount, transfer=transfer
        )
        log_event(
            team=team,
            actor=None,
            label="monthly refill",
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


def pool_balance(*, team: Team) -> int:
    return ledger.team_account(team=team, kind=AccountKind.POOL).balance
