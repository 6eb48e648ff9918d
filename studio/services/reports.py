"""Spend reports, read straight from the ledger.

Spend is the sum of CHARGE transfers (holds -> spent) of the team's jobs: what was
actually delivered. Holds and releases are not spend. Every breakdown (by member, model,
tier, day) is a grouping of the same rows, so each one adds up to the same total, and
that total equals what the team's spent account received in the period.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from studio.models import Account, AccountKind, Job, JobStatus, Team, Transfer, TransferKind
from studio.models.jobs import HoldState
from studio.services import credits

REPORT_PERIODS = (30, 90)


@dataclass(frozen=True)
class SpendRow:
    key: str
    label: str
    credits: int
    jobs: int
    share: float  # percent of the period's total


@dataclass(frozen=True)
class DaySpend:
    day: date
    credits: int


@dataclass
class SpendReport:
    team: Team
    days: int
    since: datetime
    until: datetime
    total: int
    spent_account_total: int
    returned: int
    jobs_charged: int
    jobs_failed: int
    by_member: list[SpendRow] = field(default_factory=list)
    by_model: list[SpendRow] = field(default_factory=list)
    by_tier: list[SpendRow] = field(default_factory=list)
    by_day: list[DaySpend] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        """Every breakdown and the spent account agree with the ledger's total."""
        sums = (
            sum(r.credits for r in self.by_member),
            sum(r.credits for r in self.by_model),
            sum(r.credits for r in self.by_tier),
            sum(d.credits for d in self.by_day),
            self.spent_account_total,
        )
        return all(s == self.total for s in sums)


def period_start(*, days: int, now: datetime | None = None) -> datetime:
    """Local midnight `days - 1` days ago: the period includes today."""
    local = timezone.localtime(now or timezone.now())
    first = local.date() - timedelta(days=days - 1)
    return local.replace(year=first.year, month=first.month, day=first.day, hour=0, minute=0, second=0, microsecond=0)


def team_charges(*, team: Team, since: datetime, until: datetime) -> QuerySet[Transfer]:
    holds = credits.team_account(team=team, kind=AccountKind.HOLDS)
    return Transfer.objects.filter(
        debit=holds, kind=TransferKind.CHARGE, created_at__gte=since, created_at__lt=until
    ).order_by()


def _rows(charges: QuerySet[Transfer], key: str, label: str, total: int) -> list[SpendRow]:
    fields = (key,) if key == label else (key, label)
    grouped = (
        charges.values(*fields)
        .annotate(total=Sum("amount"), jobs=Count("job", distinct=True))
        .order_by("-total", label)
    )
    return [
        SpendRow(
            key=str(g[key]),
            label=str(g[label] or "—"),
            credits=int(g["total"]),
            jobs=int(g["jobs"]),
            share=100.0 * int(g["total"]) / total if total else 0.0,
        )
        for g in grouped
    ]


def spend_report(*, team: Team, days: int = 30, now: datetime | None = None) -> SpendReport:
    """Spend of the last `days` days (30 or 90) by member, model, tier and day."""
    if days not in REPORT_PERIODS:
        raise ValueError(f"days must be one of {REPORT_PERIODS}")
    now = now or timezone.now()
    since = period_start(days=days, now=now)
    until = now + timedelta(seconds=1)
    charges = team_charges(team=team, since=since, until=until)
    total = int(charges.aggregate(t=Sum("amount"))["t"] or 0)

    spent = credits.team_account(team=team, kind=AccountKind.SPENT)
    spent_total = int(
        Transfer.objects.filter(credit=spent, created_at__gte=since, created_at__lt=until)
        .order_by()
        .aggregate(t=Sum("amount"))["t"]
        or 0
    )
    returned = int(
        Transfer.objects.filter(
            kind=TransferKind.RELEASE, job__team=team, created_at__gte=since, created_at__lt=until
        )
        .order_by()
        .aggregate(t=Sum("amount"))["t"]
        or 0
    )
    tz = timezone.get_current_timezone()
    per_day = {
        row["day"]: int(row["total"])
        for row in charges.annotate(day=TruncDate("created_at", tzinfo=tz)).values("day").annotate(total=Sum("amount"))
    }
    first = since.date()
    by_day = [
        DaySpend(day=first + timedelta(days=i), credits=per_day.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]
    failed = Job.objects.filter(
        team=team, status=JobStatus.FAILED, finished_at__gte=since, finished_at__lt=until
    ).count()
    return SpendReport(
        team=team,
        days=days,
        since=since,
        until=now,
        total=total,
        spent_account_total=spent_total,
        returned=returned,
        jobs_charged=charges.values("job").distinct().count(),
        jobs_failed=failed,
        by_member=_rows(charges, "job__user_id", "job__user__username", total),
        by_model=_rows(charges, "job__model_slug", "job__model_slug", total),
        by_tier=_rows(charges, "job__catalog_model__tier", "job__catalog_model__tier", total),
        by_day=by_day,
    )


@dataclass(frozen=True)
class MemberUsage:
    balance: int = 0
    charged: int = 0
    held: int = 0

    @property
    def used(self) -> int:
        """What counts against a monthly cap: charged this month plus open holds."""
        return self.charged + self.held


def month_usage(*, team: Team, now: datetime | None = None) -> dict[int, MemberUsage]:
    """Each member's balance, this month's charges and open holds, keyed by user id."""
    balances = dict(
        Account.objects.filter(team=team, kind=AccountKind.MEMBER).values_list("user_id", "balance")
    )
    charged = dict(
        Transfer.objects.filter(kind=TransferKind.CHARGE, job__team=team, created_at__gte=credits.month_start(now))
        .order_by()
        .values("job__user_id")
        .annotate(total=Sum("amount"))
        .values_list("job__user_id", "total")
    )
    held = dict(
        Job.objects.filter(team=team, hold_state=HoldState.HELD)
        .order_by()
        .values("user_id")
        .annotate(total=Sum("credits_held"))
        .values_list("user_id", "total")
    )
    users = set(balances) | set(charged) | set(held)
    return {
        uid: MemberUsage(
            balance=int(balances.get(uid, 0)), charged=int(charged.get(uid, 0) or 0), held=int(held.get(uid, 0) or 0)
        )
        for uid in users
    }


# -- the ledger, filtered ------------------------------------------------------------------
LEDGER_CSV_HEADER = (
    "id", "time", "kind", "amount", "from", "to", "member", "model", "job", "actor", "memo",
)


def ledger_entries(
    *,
    team: Team,
    member: int | None = None,
    kind: str | None = None,
    model: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Transfer]:
    """Transfers touching the team's accounts, newest first, filtered.

    `member` (a user id) matches their account's movements and the charges of their jobs.
    Dates are local calendar days, both ends included.
    """
    account_ids = Account.objects.filter(team=team).values("pk")
    entries = Transfer.objects.filter(Q(debit_id__in=account_ids) | Q(credit_id__in=account_ids))
    if member is not None:
        own = Account.objects.filter(team=team, kind=AccountKind.MEMBER, user_id=member).values("pk")
        entries = entries.filter(Q(debit_id__in=own) | Q(credit_id__in=own) | Q(job__user_id=member))
    if kind:
        entries = entries.filter(kind=kind)
    if model:
        entries = entries.filter(job__model_slug=model)
    if date_from:
        entries = entries.filter(created_at__gte=_local_midnight(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=_local_midnight(date_to + timedelta(days=1)))
    return entries.select_related("debit__user", "credit__user", "job__user", "actor").order_by("-created_at", "-id")


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day), timezone.get_current_timezone())


def account_label(kind: str, username: str | None) -> str:
    if kind == AccountKind.MEMBER:
        return username or "member"
    return {AccountKind.POOL: "team pool", AccountKind.HOLDS: "holds", AccountKind.SPENT: "spent", AccountKind.MINT: "mint"}.get(
        kind, kind
    )


def ledger_rows(**filters: object) -> Iterator[tuple[object, ...]]:
    """The filtered ledger as CSV rows, read in chunks (for a streamed export)."""
    entries = ledger_entries(**filters).values_list(  # type: ignore[arg-type]
        "pk", "created_at", "kind", "amount", "debit__kind", "debit__user__username", "credit__kind",
        "credit__user__username", "job__user__username", "job__model_slug", "job__public_id", "actor__username", "memo",
    )
    for pk, at, kind, amount, dkind, duser, ckind, cuser, juser, slug, job_id, actor, memo in entries.iterator(
        chunk_size=2000
    ):
        member = juser or (duser if dkind == AccountKind.MEMBER else cuser if ckind == AccountKind.MEMBER else "")
        yield (
            pk,
            timezone.localtime(at).isoformat(timespec="seconds"),
            kind,
            amount,
            account_label(dkind, duser),
            account_label(ckind, cuser),
            member or "",
            slug or "",
            str(job_id) if job_id else "",
            actor or "",
            memo,
        )
