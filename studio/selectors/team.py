"""What the team pages show: members, credits, model access, reports and the audit trail.

Plain reads for one team; the views add their forms and render. Access is built from
the rules just read, never from a membership's cache, because a page may show them right
after they changed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone

from providers.models import TIER_ORDER, CatalogModel, Tier
from studio.models import (
    AccessEffect,
    Account,
    AccountKind,
    AuditEvent,
    Invitation,
    Membership,
    ModelAccessRule,
    RefillRecord,
    Role,
    Team,
    Transfer,
    TransferKind,
)
from studio.services import credits, reports
from studio.services import team as team_services
from studio.services.team import TeamAccess
from studio.team import charts

ROLE_RANK = {Role.OWNER: 0, Role.ADMIN: 1, Role.DESIGNER: 2, Role.VIEWER: 3}


def refilled_this_month(*, membership: Membership) -> RefillRecord | None:
    month = credits.month_start().date()
    return RefillRecord.objects.filter(team=membership.team, user=membership.user, month=month).first()


# -- members ------------------------------------------------------------------------------
def member_rows(*, actor: Membership) -> list[dict[str, Any]]:
    """Every member by role then name, with this month's usage and whether `actor` may change them."""
    usage = reports.month_usage(team=actor.team)
    members = (
        Membership.objects.filter(team=actor.team)
        .select_related("user")
        .annotate(rank=Case(*(When(role=r, then=Value(n)) for r, n in ROLE_RANK.items()), output_field=IntegerField()))
        .order_by("rank", "user__username")
    )
    return [
        {
            "member": m,
            "usage": usage.get(m.user_id, reports.MemberUsage()),
            "can_change": team_services.can_manage_member(actor, m),
        }
        for m in members
    ]


def open_invitations(*, team: Team) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        team=team, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("created_by")


# -- credits ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreditSummary:
    pool: int
    held: int
    spent: int
    members_total: int
    rows: list[dict[str, Any]]  # member, usage, refill
    top_ups: list[Transfer]
    month: datetime.date


def credit_summary(*, team: Team) -> CreditSummary:
    """The pool, holds and spend, each member's balance and refill this month, the last top-ups."""
    accounts = {a.kind: a for a in Account.objects.filter(team=team, user__isnull=True)}
    usage = reports.month_usage(team=team)
    month = credits.month_start().date()
    refills = {r.user_id: r for r in RefillRecord.objects.filter(team=team, month=month)}
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    pool = accounts.get(AccountKind.POOL)
    return CreditSummary(
        pool=pool.balance if pool else 0,
        held=credits.team_system_balance(team=team, kind=AccountKind.HOLDS),
        spent=credits.team_system_balance(team=team, kind=AccountKind.SPENT),
        members_total=sum(u.balance for u in usage.values()),
        rows=[
            {"member": m, "usage": usage.get(m.user_id, reports.MemberUsage()), "refill": refills.get(m.user_id)}
            for m in members
        ],
        top_ups=list(Transfer.objects.filter(credit=pool, kind=TransferKind.TOPUP).select_related("actor")[:5])
        if pool
        else [],
        month=month,
    )


# -- model access -------------------------------------------------------------------------
def access_tiers(*, team: Team) -> list[dict[str, Any]]:
    """Each tier (blocked or not) with its models: the team's setting and why a model is blocked."""
    rules = ModelAccessRule.objects.filter(team=team)
    blocked_tiers = {r.tier for r in rules if r.tier and r.effect == AccessEffect.BLOCK}
    model_rules = {r.catalog_model_id: r.effect for r in rules if r.catalog_model_id}
    access = TeamAccess(blocked_tiers=frozenset(blocked_tiers), models=model_rules)
    groups: dict[str, list[dict[str, Any]]] = {tier: [] for tier in TIER_ORDER}
    for model in CatalogModel.objects.menu_order():
        groups[model.tier].append(
            {
                "model": model,
                "setting": model_rules.get(model.pk, "inherit"),
                "reason": "This model is disabled by site staff." if not model.enabled else access.block_reason(model),
            }
        )
    return [
        {"tier": tier, "label": Tier(tier).label, "blocked": tier in blocked_tiers, "models": groups[tier]}
        for tier in TIER_ORDER
    ]


# -- reports and audit --------------------------------------------------------------------
def spend_charts(*, team: Team, days: int) -> dict[str, Any]:
    """The spend report over `days` and its four charts (by day, member, model, tier)."""
    report = reports.spend_report(team=team, days=days)
    # The report groups by model string and tier key; people read the catalogue's names.
    names = dict(CatalogModel.objects.filter(slug__in=[r.key for r in report.by_model]).values_list("slug", "display_name"))
    by_model = [replace(r, label=names.get(r.key, r.label)) for r in report.by_model]
    by_tier = [replace(r, label=Tier(r.key).label if r.key in Tier.values else r.label) for r in report.by_tier]
    return {
        "report": report,
        "by_model": by_model,
        "by_tier": by_tier,
        "day_chart": charts.column_chart(
            [(d.day.strftime("%d %b"), d.credits) for d in report.by_day], label_every=5 if days <= 31 else 14
        ),
        "member_chart": charts.bar_chart([(r.label, r.credits) for r in report.by_member]),
        "model_chart": charts.bar_chart([(r.label, r.credits) for r in by_model[:12]]),
        "tier_chart": charts.bar_chart([(r.label, r.credits) for r in by_tier]),
    }


def audit_events(*, team: Team, action: str = "") -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(team=team)
    return events.filter(action=action) if action else events


def active_job_count(*, team: Team) -> int:
    return team.jobs.filter(status__in=team_services.ACTIVE_JOB_STATUSES).count()
