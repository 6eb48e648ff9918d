"""The credit ledger's rules: every balance change is a transfer made here."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import BigIntegerField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from studio.models import Account, AccountKind, Job, Membership, Team, Transfer, TransferKind, User
from studio.models.jobs import HoldState
from studio.services.errors import InsufficientCredits, PermissionDenied, ValidationFailed


class CapExceeded(InsufficientCredits):
    """The member's monthly spending cap refuses this job (same contract code: a 402)."""


# -- accounts ---------------------------------------------------------------------
def mint_account() -> Account:
    account, _ = Account.objects.get_or_create(kind=AccountKind.MINT, team=None, user=None)
    return account


def team_account(*, team: Team, kind: AccountKind) -> Account:
    account, _ = Account.objects.get_or_create(kind=kind, team=team, user=None)
    return account


def member_account(*, team: Team, user: User) -> Account:
    account, _ = Account.objects.get_or_create(kind=AccountKind.MEMBER, team=team, user=user)
    return account


def member_balance(*, membership: Membership) -> int:
    return member_account(team=membership.team, user=membership.user).balance


# -- the one primitive --------------------------------------------------------------
def transfer_credits(
    *,
    debit: Account,
    credit: Account,
    amount: int,
    kind: TransferKind,
    job: Job | None = None,
    actor: User | None = None,
    memo: str = "",
) -> Transfer:
    """Move `amount` from `debit` to `credit` and record it; refuse an overdraft.

    Balances are updated with conditional SQL in a fixed (id) order, so concurrent
    transfers neither lose updates nor deadlock, and the DB CHECK backs it up.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed({"amount": "Amount must be a whole number of credits above zero."})
    if debit.pk == credit.pk:
        raise ValidationFailed({"amount": "A transfer needs two different accounts."})
    with transaction.atomic():
        for account in sorted((debit, credit), key=lambda a: a.pk):
            if account.pk == debit.pk:
                rows = Account.objects.filter(pk=debit.pk)
                if debit.kind != AccountKind.MINT:
                    rows = rows.filter(balance__gte=amount)
                if not rows.update(balance=F("balance") - amount):
                    raise InsufficientCredits(
                        f"Not enough credits: this needs {amount}."
                    )
            else:
                Account.objects.filter(pk=credit.pk).update(balance=F("balance") + amount)
        return Transfer.objects.create(
            debit=debit, credit=credit, amount=amount, kind=kind, job=job, actor=actor, memo=memo
        )


# -- team money -------------------------------------------------------------------
def top_up_pool(*, team: Team, amount: int, actor: User | None = None, memo: str = "") -> Transfer:
    """Add new credits to a team's pool (site staff)."""
    return transfer_credits(
        debit=mint_account(),
        credit=team_account(team=team, kind=AccountKind.POOL),
        amount=amount,
        kind=TransferKind.TOPUP,
        actor=actor,
        memo=memo,
    )


def grant_credits(
    *, membership: Membership, amount: int, actor: User | None = None, memo: str = ""
) -> Transfer:
    """Give a member credits from the team pool."""
    return transfer_credits(
        debit=team_account(team=membership.team, kind=AccountKind.POOL),
        credit=member_account(team=membership.team, user=membership.user),
        amount=amount,
        kind=TransferKind.GRANT,
        actor=actor,
        memo=memo,
    )


def revoke_credits(
    *, membership: Membership, amount: int, actor: User | None = None, memo: str = ""
) -> Transfer:
    """Return a member's credits to the team pool."""
    return transfer_credits(
        debit=member_account(team=membership.team, user=membership.user),
        credit=team_account(team=membership.team, kind=AccountKind.POOL),
        amount=amount,
        kind=TransferKind.REVOKE,
        actor=actor,
        memo=memo,
    )


# -- holds ------------------------------------------------------------------------
def hold_credits(*, job: Job) -> Transfer:
    """Reserve a job's full price from its member; call inside the submit transaction.

    The member's monthly cap is checked under a lock on their account, so concurrent
    submits queue up and each one sees the holds committed before it.
    """
    member = member_account(team=job.team, user=job.user)
    holds = team_account(team=job.team, kind=AccountKind.HOLDS)
    with transaction.atomic():
        # Both rows, in id order: the order transfer_credits updates them in, so a
        # hold never waits on a settle that waits on it.
        list(
            Account.objects.select_for_update(no_key=True)
            .filter(pk__in=[member.pk, holds.pk])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        membership = Membership.objects.filter(team=job.team, user=job.user).only("monthly_cap").first()
        if membership is None:
            raise PermissionDenied("You are no longer a member of this team.")
        if membership.monthly_cap is not None:
            used = month_spend(team=job.team, user=job.user, exclude_job_id=job.pk)
            if used + job.credits_held > membership.monthly_cap:
                raise CapExceeded(
                    f"This would pass your monthly cap of {membership.monthly_cap} credits "
                    f"({used} used, this job needs {job.credits_held})."
                )
        return transfer_credits(
            debit=member,
            credit=holds,
            amount=job.credits_held,
            kind=TransferKind.HOLD,
            job=job,
            actor=job.user,
            memo=f"{job.count} × {job.model_slug}",
        )


def month_start(now: datetime | None = None) -> datetime:
    """Midnight on the first day of the current calendar month, in the site's time zone."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(*, team: Team, user: User, exclude_job_id: int | None = None, now: datetime | None = None) -> int:
    """Credits counted against a member's cap: this month's charges plus open holds.

    Open holds count whenever they were made: they are charged when the job ends,
    which is this month or later.
    """
    charged = (
        Transfer.objects.filter(
            kind=TransferKind.CHARGE,
            job__team=team,
            job__user=user,
            created_at__gte=month_start(now),
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    open_holds = Job.objects.filter(team=team, user=user, hold_state=HoldState.HELD)
    if exclude_job_id is not None:
        open_holds = open_holds.exclude(pk=exclude_job_id)
    held = open_holds.aggregate(total=Sum("credits_held"))["total"] or 0
    return int(charged) + int(held)


def settle_job_credits(*, job_id: int, delivered: int) -> Job:
    """Charge for `delivered` images and return the rest of the hold, exactly once.

    A second call (a redelivered task, a cancel racing a success) finds the hold
    settled under the job's row lock and changes nothing.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.hold_state == HoldState.SETTLED:
            return job
        charge = min(max(delivered, 0) * job.credits_per_image, job.credits_held)
        holds = team_account(team=job.team, kind=AccountKind.HOLDS)
        if charge:
            transfer_credits(
                debit=holds,
                credit=team_account(team=job.team, kind=AccountKind.SPENT),
                amount=charge,
                kind=TransferKind.CHARGE,
                job=job,
                memo=f"{delivered} × {job.model_slug}",
            )
        remainder = job.credits_held - charge
        if remainder:
            transfer_credits(
                debit=holds,
                credit=member_account(team=job.team, user=job.user),
                amount=remainder,
                kind=TransferKind.RELEASE,
                job=job,
                memo="returned: not delivered",
            )
        job.credits_charged = charge
        job.hold_state = HoldState.SETTLED
        job.save(update_fields=["credits_charged", "hold_state", "updated_at"])
        return job


def release_job_credits(*, job_id: int) -> Job:
    """Return a job's whole hold (failure or cancel), exactly once."""
    return settle_job_credits(job_id=job_id, delivered=0)


# -- checks -----------------------------------------------------------------------
def ledger_is_balanced() -> bool:
    """The sum of all balances is zero and every cached balance matches its transfers."""
    if (Account.objects.aggregate(total=Sum("balance"))["total"] or 0) != 0:
        return False

    def total(side: str) -> Subquery:
        rows = Transfer.objects.filter(**{side: OuterRef("pk")}).values(side).annotate(t=Sum("amount"))
        return Coalesce(Subquery(rows.values("t")), Value(0), output_field=BigIntegerField())

    mismatched = Account.objects.annotate(credited=total("credit"), debited=total("debit")).exclude(
        balance=F("credited") - F("debited")
    )
    return not mismatched.exists()
