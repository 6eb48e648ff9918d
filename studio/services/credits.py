"""The credit ledger's rules: every balance change is a transfer made here.

Member and pool balances are cached on their account rows (with a CHECK that they never go
below zero), updated in the transfer's transaction. The system accounts (holds, spent,
mint) cache nothing: their balance is the sum of their transfers, so no job ever updates a
row that every other job of the team updates too. The hold itself is per job: the job row
carries `credits_held` and `hold_state`, settled exactly once under that row's lock (and
`UNIQUE(job, kind)` on transfers), so a team's holds account always equals the sum of its
jobs' open holds — `ledger_problems()` checks exactly that.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import BigIntegerField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from studio.models import Account, AccountKind, Job, Membership, Team, Transfer, TransferKind, User
from studio.models.jobs import HoldState
from studio.services import ledger_sql
from studio.services.db import lock_row, transient_retry
from studio.services.errors import InsufficientCredits, PermissionDenied, ValidationFailed

# Accounts whose balance is derived from the transfers, never cached (see the module doc).
DERIVED_KINDS = frozenset({AccountKind.HOLDS, AccountKind.SPENT, AccountKind.MINT})


class CapExceeded(InsufficientCredits):
    """The member's monthly spending cap refuses this job (same contract code: a 402)."""


# -- accounts ---------------------------------------------------------------------
def mint_account() -> Account:
    return _get_or_create_account(kind=AccountKind.MINT, team_id=None, user_id=None)


def team_account(*, team: Team, kind: AccountKind) -> Account:
    return _get_or_create_account(kind=kind, team_id=team.pk, user_id=None)


def member_account(*, team: Team, user: User) -> Account:
    return _get_or_create_account(kind=AccountKind.MEMBER, team_id=team.pk, user_id=user.pk)


_AccountKey = tuple[str, int | None, int | None]
# Account ids by (kind, team, user), per process: an account row is never deleted and never
# changes owner, so a job's hold and settle need not look their accounts up every time.
_ACCOUNT_IDS: dict[_AccountKey, int] = {}
# Accounts this process created in a transaction not yet committed: found again inside it,
# they are not remembered, since a rollback removes them. A rollback leaves the key here,
# which only costs that account its cache entry.
_CREATED_UNCOMMITTED: set[_AccountKey] = set()


def _get_or_create_account(*, kind: AccountKind, team_id: int | None, user_id: int | None) -> Account:
    key = (str(kind), team_id, user_id)
    account, created = Account.objects.get_or_create(kind=kind, team_id=team_id, user_id=user_id)
    if created and transaction.get_connection().in_atomic_block:
        _CREATED_UNCOMMITTED.add(key)
        transaction.on_commit(lambda: _CREATED_UNCOMMITTED.discard(key))
    elif key not in _CREATED_UNCOMMITTED:
        _ACCOUNT_IDS[key] = account.pk
    return account


def _account_ref(*, kind: AccountKind, team_id: int | None, user_id: int | None) -> Account:
    """An account to transfer from or to, known by id only: never read its `balance`."""
    pk = _ACCOUNT_IDS.get((str(kind), team_id, user_id))
    if pk is None:
        return _get_or_create_account(kind=kind, team_id=team_id, user_id=user_id)
    return Account(pk=pk, kind=kind, team_id=team_id, user_id=user_id)


def clear_account_ids() -> None:
    _ACCOUNT_IDS.clear()
    _CREATED_UNCOMMITTED.clear()


def member_balance(*, membership: Membership) -> int:
    return member_account(team=membership.team, user=membership.user).balance


# -- the one primitive --------------------------------------------------------------
@transient_retry
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

    Cached balances (members, pools) are updated with conditional SQL in id order, so
    concurrent transfers neither lose updates nor deadlock, and the DB CHECK backs it up.
    System accounts are not touched: the transfer row is their balance.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed({"amount": "Amount must be a whole number of credits above zero."})
    if debit.pk == credit.pk:
        raise ValidationFailed({"amount": "A transfer needs two different accounts."})
    # A savepoint only where a refused debit could follow a credit already written (two
    # cached balances): otherwise nothing was written when it is refused, and a caller
    # inside a submit or a settle saves two statements per transfer.
    cached = sum(account.kind not in DERIVED_KINDS for account in (debit, credit))
    with transaction.atomic(savepoint=cached == 2):
        for account in sorted((debit, credit), key=lambda a: a.pk):
            if account.kind in DERIVED_KINDS:
                continue
            if account.pk == debit.pk:
                if not ledger_sql.debit_balance(account_id=debit.pk, amount=amount):
                    raise InsufficientCredits(f"Not enough credits: this needs {amount}.")
            else:
                ledger_sql.credit_balance(account_id=credit.pk, amount=amount)
        return ledger_sql.insert_transfer(
            debit=debit, credit=credit, amount=amount, kind=kind, job=job, actor=actor, memo=memo
        )


def account_balance(*, account: Account) -> int:
    """An account's balance: cached on the row, or summed from the transfers for system accounts."""
    if account.kind not in DERIVED_KINDS:
        return Account.objects.filter(pk=account.pk).values_list("balance", flat=True).get()
    credited = Transfer.objects.filter(credit=account).aggregate(t=Sum("amount"))["t"] or 0
    debited = Transfer.objects.filter(debit=account).aggregate(t=Sum("amount"))["t"] or 0
    return int(credited) - int(debited)


def team_system_balance(*, team: Team, kind: AccountKind) -> int:
    """What a team's holds or spent account holds now."""
    return account_balance(account=team_account(team=team, kind=kind))


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
def hold_credits(*, job: Job) -> Transfer | None:
    """Reserve a job's full price from its member; call inside the submit transaction.

    The member's monthly cap is checked under a lock on their account (the only row this
    locks), so concurrent submits queue up and each one sees the holds committed before it.
    """
    if job.credits_held == 0:
        return None  # a free job (a demo render) holds nothing
    member = _account_ref(kind=AccountKind.MEMBER, team_id=job.team_id, user_id=job.user_id)
    holds = _account_ref(kind=AccountKind.HOLDS, team_id=job.team_id, user_id=None)
    # No savepoint of its own: a refusal here leaves the submit, whose own block rolls back.
    with transaction.atomic(savepoint=False):
        is_member, cap = ledger_sql.member_cap(team_id=job.team_id, user_id=job.user_id)
        if not is_member:
            raise PermissionDenied("You are no longer a member of this team.")
        if cap is not None:
            list(Account.objects.select_for_update(no_key=True).filter(pk=member.pk).values_list("pk", flat=True))
            used = month_spend(team=job.team, user=job.user, exclude_job_id=job.pk)
            if used + job.credits_held > cap:
                raise CapExceeded(
                    f"This would pass your monthly cap of {cap} credits "
                    f"({used} used, this job needs {job.credits_held})."
                )
        return transfer_credits(
            debit=member,
            credit=holds,
            amount=job.credits_held,
            kind=TransferKind.HOLD,
            job=job,
            actor=job.user,
            memo=f"{job.count} × {job.model_slug}{_demo_note(job)}",
        )


def _demo_note(job: Job) -> str:
    # Only where STUDIO_DEMO_CHARGE bills placeholders: the ledger must still say what was bought.
    return " (demo render)" if job.is_demo else ""


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
        job = lock_row(Job, job_id)
        if job.hold_state == HoldState.SETTLED:
            return job
        settle_locked_job(job=job, delivered=delivered)
        job.save(update_fields=["credits_charged", "hold_state", "updated_at"])
        return job


def settle_locked_job(*, job: Job, delivered: int) -> None:
    """The transfers of `settle_job_credits` for a job whose row the caller has locked in the
    current transaction; the caller saves `credits_charged` and `hold_state` with its own
    write of the row (the success path: one UPDATE of the job instead of two)."""
    if job.hold_state == HoldState.SETTLED:
        return
    charge = min(max(delivered, 0) * job.credits_per_image, job.credits_held)
    holds = _account_ref(kind=AccountKind.HOLDS, team_id=job.team_id, user_id=None)
    if charge:
        transfer_credits(
            debit=holds,
            credit=_account_ref(kind=AccountKind.SPENT, team_id=job.team_id, user_id=None),
            amount=charge,
            kind=TransferKind.CHARGE,
            job=job,
            memo=f"{delivered} × {job.model_slug}{_demo_note(job)}",
        )
    remainder = job.credits_held - charge
    if remainder:
        transfer_credits(
            debit=holds,
            credit=_account_ref(kind=AccountKind.MEMBER, team_id=job.team_id, user_id=job.user_id),
            amount=remainder,
            kind=TransferKind.RELEASE,
            job=job,
            memo="returned: not delivered",
        )
    job.credits_charged = charge
    job.hold_state = HoldState.SETTLED


def release_job_credits(*, job_id: int) -> Job:
    """Return a job's whole hold (failure or cancel), exactly once."""
    return settle_job_credits(job_id=job_id, delivered=0)


# -- checks -----------------------------------------------------------------------
def ledger_problems() -> list[str]:
    """Everything that would make the ledger wrong; empty when it is right.

    - every cached balance equals its transfers (credits in minus debits out);
    - system accounts cache nothing (their balance is their transfers);
    - so the sum of all balances is zero (each transfer adds and takes the same amount);
    - each team's holds account equals the sum of its jobs' open holds, and every
      settled job's charge plus release equals its hold.
    """
    problems: list[str] = []

    def total(side: str) -> Subquery:
        rows = Transfer.objects.filter(**{side: OuterRef("pk")}).values(side).annotate(t=Sum("amount"))
        return Coalesce(Subquery(rows.values("t")), Value(0), output_field=BigIntegerField())

    accounts = Account.objects.annotate(credited=total("credit"), debited=total("debit"))
    for row in accounts.exclude(kind__in=DERIVED_KINDS).exclude(balance=F("credited") - F("debited")):
        problems.append(f"account {row.pk} ({row.kind}) caches {row.balance}, its transfers say {row.credited - row.debited}")
    for row in accounts.filter(kind__in=DERIVED_KINDS).exclude(balance=0):
        problems.append(f"system account {row.pk} ({row.kind}) caches {row.balance}; it must cache nothing")
    derived = sum(int(a.credited) - int(a.debited) for a in accounts.filter(kind__in=DERIVED_KINDS))
    cached = Account.objects.exclude(kind__in=DERIVED_KINDS).aggregate(t=Sum("balance"))["t"] or 0
    if derived + int(cached) != 0:
        problems.append(f"balances sum to {derived + int(cached)}, not 0")
    open_holds = dict(
        Job.objects.filter(hold_state=HoldState.HELD).values("team").annotate(t=Sum("credits_held")).values_list("team", "t")
    )
    for row in accounts.filter(kind=AccountKind.HOLDS):
        held = int(row.credited) - int(row.debited)
        if held != int(open_holds.get(row.team_id, 0)):
            problems.append(f"team {row.team_id} holds {held} but its open jobs hold {open_holds.get(row.team_id, 0)}")
    settled_out = (
        Transfer.objects.filter(job=OuterRef("pk"), kind__in=[TransferKind.CHARGE, TransferKind.RELEASE])
        .values("job")
        .annotate(t=Sum("amount"))
        .values("t")
    )
    uneven = (
        Job.objects.filter(hold_state=HoldState.SETTLED, credits_held__gt=0)
        .annotate(out=Coalesce(Subquery(settled_out), Value(0), output_field=BigIntegerField()))
        .exclude(out=F("credits_held"))
    )
    for job in uneven[:20]:
        problems.append(f"job {job.pk} held {job.credits_held} but settled {job.out}")
    return problems


def ledger_is_balanced() -> bool:
    """The ledger's invariants hold (see `ledger_problems`)."""
    return not ledger_problems()
