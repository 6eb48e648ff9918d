"""The credit ledger's rules: every balance change is a transfer made here."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Sum

from studio.models import Account, AccountKind, Job, Membership, Team, Transfer, TransferKind, User
from studio.models.jobs import HoldState
from studio.services.errors import InsufficientCredits, ValidationFailed


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
    """Reserve a job's full price from its member; call inside the submit transaction."""
    return transfer_credits(
        debit=member_account(team=job.team, user=job.user),
        credit=team_account(team=job.team, kind=AccountKind.HOLDS),
        amount=job.credits_held,
        kind=TransferKind.HOLD,
        job=job,
        actor=job.user,
        memo=f"{job.count} × {job.model_slug}",
    )


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
    for account in Account.objects.all():
        credited = account.credits.aggregate(t=Sum("amount"))["t"] or 0
        debited = account.debits.aggregate(t=Sum("amount"))["t"] or 0
        if account.balance != credited - debited:
            return False
    return True
