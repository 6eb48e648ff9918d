"""Team pages: members, credits, model access, ledger, reports, audit trail.

Thin: parse a form, call a service, render. Every page acts on the signed-in user's
current team, and every object in a URL is looked up inside that team, so another
team's ids are a 404. Pages for owners and admins answer 403 to everyone else.

A POST from htmx gets the page's panel back (errors included, status 200 so htmx
swaps it); a plain POST redirects on success and re-renders the page with a 4xx on error.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

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
    Transfer,
    TransferKind,
    User,
)
from studio.services import credits, reports
from studio.services import team as team_services
from studio.services.errors import PermissionDenied, StudioError, ValidationFailed
from studio.services.team.access import TeamAccess
from studio.team import charts
from studio.team.forms import (
    AuditFilterForm,
    CreditForm,
    DeleteTeamForm,
    InviteForm,
    LedgerFilterForm,
    LimitsForm,
    ModelAccessForm,
    ReportForm,
    RoleForm,
    TierAccessForm,
)

LEDGER_PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50
ROLE_RANK = {Role.OWNER: 0, Role.ADMIN: 1, Role.DESIGNER: 2, Role.VIEWER: 3}


class TeamRequest(HttpRequest):
    htmx: HtmxDetails
    user: User
    membership: Membership


View = Callable[..., HttpResponse]


# -- access -------------------------------------------------------------------------
def member_required(view: View) -> View:
    """Any role; the page acts on the user's current team."""

    @wraps(view)
    def wrapper(request: TeamRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = request.user.membership()
        if membership is None:
            return render(request, "studio/no_team.html", status=403)
        request.membership = membership
        return view(request, *args, **kwargs)

    return wrapper


def manager_required(view: View) -> View:
    """Owners and admins only: everyone else gets a 403 that says so."""

    @wraps(view)
    @member_required
    def wrapper(request: TeamRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.can_manage:
            return _forbidden(request, "Only the team's owner and admins can open this page.")
        return view(request, *args, **kwargs)

    return wrapper


def _forbidden(request: TeamRequest, message: str) -> HttpResponse:
    return render(request, "team/forbidden.html", {"message": message}, status=403)


def _member_of_team(request: TeamRequest, member_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "team"), pk=member_id, team=request.membership.team
    )


def _respond(
    request: TeamRequest, page: str, partial: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    if request.htmx:
        # htmx swaps only 2xx answers: errors come back as a 200 panel that shows them.
        return render(request, f"{page}#{partial}", context)
    return render(request, page, context, status=status)


def _done(request: TeamRequest, page: str, partial: str, url_name: str, context: Callable[[], dict[str, Any]]) -> HttpResponse:
    if request.htmx:
        return render(request, f"{page}#{partial}", context())
    return redirect(url_name)


def _error_status(exc: StudioError) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400


def _apply_errors(form: Any, exc: StudioError) -> None:
    errors = exc.errors if isinstance(exc, ValidationFailed) else {exc.field or "__all__": exc.message}
    for field_name, message in errors.items():
        form.add_error(field_name if field_name in form.fields else None, message)


# -- overview (everyone) ---------------------------------------------------------------
@require_GET
@member_required
def overview(request: TeamRequest) -> HttpResponse:
    membership = request.membership
    usage = reports.month_usage(team=membership.team).get(membership.user_id, reports.MemberUsage())
    teams = Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    return render(
        request,
        "team/overview.html",
        {"usage": usage, "my_teams": teams, "refilled": _refilled_this_month(membership)},
    )


def _refilled_this_month(membership: Membership) -> RefillRecord | None:
    month = credits.month_start().date()
    return RefillRecord.objects.filter(team=membership.team, user=membership.user, month=month).first()


@require_POST
@login_not_required
def switch(request: TeamRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={reverse('team:overview')}")
    try:
        team_id = int(request.POST.get("team", ""))
        membership = team_services.switch_team(user=request.user, team_id=team_id)
    except (ValueError, PermissionDenied):
        return render(request, "team/forbidden.html", {"message": "You are not a member of that team."}, status=404)
    messages.success(request, f"You are now working in {membership.team.name}.")
    return redirect("studio:home")


# -- members ------------------------------------------------------------------------------
def _members_context(request: TeamRequest, **extra: Any) -> dict[str, Any]:
    actor = request.membership
    team = actor.team
    usage = reports.month_usage(team=team)
    members = list(
        Membership.objects.filter(team=team)
        .select_related("user")
        .annotate(
            rank=Case(*(When(role=r, then=Value(n)) for r, n in ROLE_RANK.items()), output_field=IntegerField())
        )
        .order_by("rank", "user__username")
    )
    row_errors: dict[int, str] = extra.pop("row_errors", {})
    rows = [
        {
            "member": m,
            "usage": usage.get(m.user_id, reports.MemberUsage()),
            "can_change": team_services.can_manage_member(actor, m),
            "role_form": RoleForm(initial={"role": m.role}, actor=actor, auto_id=f"id_m{m.pk}_%s"),
            "error": row_errors.get(m.pk, ""),
        }
        for m in members
    ]
    context = {
        "rows": rows,
        "invitations": Invitation.objects.filter(
            team=team, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).select_related("created_by"),
        "invite_form": InviteForm(actor=actor),
    }
    context.update(extra)
    return context


@require_GET
@manager_required
def members(request: TeamRequest) -> HttpResponse:
    return render(request, "team/members.html", _members_context(request))


@require_POST
@manager_required
def member_invite(request: TeamRequest) -> HttpResponse:
    form = InviteForm(request.POST, actor=request.membership)
    status = 400
    if form.is_valid():
        try:
            issued = team_services.invite_member(
                actor=request.membership, role=form.cleaned_data["role"], email=form.cleaned_data["email"]
            )
        except StudioError as exc:
            _apply_errors(form, exc)
            status = _error_status(exc)
        else:
            url = request.build_absolute_uri(reverse("team:invitation", args=[issued.token]))
            invitation = issued.invitation
            messages.success(
                request,
                f"Invitation link for a {invitation.role} (works once, for {team_services.INVITATION_DAYS} days; "
                f"copy it now, it is not shown again): {url}",
            )
            if invitation.email:
                try:
                    team_services.send_invitation_email(invitation=invitation, url=url)
                except Exception as exc:  # noqa: BLE001 - any mail backend failure; the link still works
                    messages.warning(
                        request, f"The email to {invitation.email} could not be sent ({exc}); share the link instead."
                    )
                else:
                    messages.info(request, f"Emailed the invitation to {invitation.email}.")
            return _done(request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request))
    return _respond(request, "team/members.html", "members-panel", _members_context(request, invite_form=form), status=status)


@require_POST
@manager_required
def member_role(request: TeamRequest, member_id: int) -> HttpResponse:
    target = _member_of_team(request, member_id)
    form = RoleForm(request.POST, actor=request.membership)
    if not form.is_valid():
        return _respond(
            request, "team/members.html", "members-panel",
            _members_context(request, row_errors={target.pk: "Choose one of the roles offered."}), status=400,
        )
    try:
        updated = team_services.change_role(actor=request.membership, target=target, role=form.cleaned_data["role"])
    except StudioError as exc:
        return _respond(
            request, "team/members.html", "members-panel",
            _members_context(request, row_errors={target.pk: exc.message}), status=_error_status(exc),
        )
    messages.success(request, f"{updated.user.get_username()} is now {updated.get_role_display().lower()}.")
    return _done(request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request))


@require_POST
@manager_required
def member_remove(request: TeamRequest, member_id: int) -> HttpResponse:
    target = _member_of_team(request, member_id)
    try:
        returned = team_services.remove_member(actor=request.membership, target=target)
    except StudioError as exc:
        return _respond(
            request, "team/members.html", "members-panel",
            _members_context(request, row_errors={target.pk: exc.message}), status=_error_status(exc),
        )
    messages.success(
        request,
        f"Removed {target.user.get_username()}; {returned:,} credits went back to the pool. "
        "Their team images stay in the gallery.",
    )
    return _done(request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request))


@require_POST
@manager_required
def invitation_revoke(request: TeamRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id, team=request.membership.team)
    try:
        team_services.revoke_invitation(actor=request.membership, invitation=invitation)
    except StudioError as exc:
        messages.error(request, exc.message)
        return _respond(request, "team/members.html", "members-panel", _members_context(request), status=_error_status(exc))
    messages.success(request, "Invitation withdrawn: the link no longer works.")
    return _done(request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request))


@require_http_methods(["GET", "POST"])
@login_not_required
def invitation(request: TeamRequest, token: str) -> HttpResponse:
    """The link in an invitation: anyone with it may look; signed-in users accept with a POST."""
    found = team_services.find_invitation(token=token)
    if found is None:
        return render(request, "team/forbidden.html", {"message": "This invitation link is not valid."}, status=404)
    if not request.user.is_authenticated:
        if request.method == "POST":
            return redirect(f"{reverse('login')}?next={request.path}")
        return render(request, "team/invitation.html", {"invitation": found, "problem": "", "token": token})
    if request.method == "GET":
        problem = team_services.invitation_problem(invitation=found, user=request.user)
        return render(request, "team/invitation.html", {"invitation": found, "problem": problem})
    try:
        joined = team_services.accept_invitation(token=token, user=request.user)
    except StudioError as exc:
        return render(request, "team/invitation.html", {"invitation": found, "problem": exc.message}, status=400)
    messages.success(request, f"Welcome to {joined.team.name}: you joined as {joined.get_role_display().lower()}.")
    return redirect("studio:home")


# -- credits ----------------------------------------------------------------------------
def _credits_context(request: TeamRequest, **extra: Any) -> dict[str, Any]:
    team = request.membership.team
    accounts = {a.kind: a for a in Account.objects.filter(team=team, user__isnull=True)}
    usage = reports.month_usage(team=team)
    month = credits.month_start().date()
    refills = {r.user_id: r for r in RefillRecord.objects.filter(team=team, month=month)}
    limit_errors: dict[int, LimitsForm] = extra.pop("limit_forms", {})
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    rows = [
        {
            "member": m,
            "usage": usage.get(m.user_id, reports.MemberUsage()),
            "refill": refills.get(m.user_id),
            "form": limit_errors.get(m.pk)
            or LimitsForm(
                initial={"monthly_cap": m.monthly_cap, "monthly_refill": m.monthly_refill}, auto_id=f"id_l{m.pk}_%s"
            ),
        }
        for m in members
    ]
    pool = accounts.get(AccountKind.POOL)
    context = {
        "pool": pool.balance if pool else 0,
        "held": accounts[AccountKind.HOLDS].balance if AccountKind.HOLDS in accounts else 0,
        "spent": accounts[AccountKind.SPENT].balance if AccountKind.SPENT in accounts else 0,
        "members_total": sum(u.balance for u in usage.values()),
        "rows": rows,
        "grant_form": CreditForm(team=team, auto_id="id_grant_%s"),
        "revoke_form": CreditForm(team=team, auto_id="id_revoke_%s"),
        "top_ups": Transfer.objects.filter(credit=pool, kind=TransferKind.TOPUP).select_related("actor")[:5]
        if pool
        else [],
        "month": month,
    }
    context.update(extra)
    return context


@require_GET
@manager_required
def credits_page(request: TeamRequest) -> HttpResponse:
    return render(request, "team/credits.html", _credits_context(request))


def _credit_move(request: TeamRequest, *, grant: bool) -> HttpResponse:
    team = request.membership.team
    prefix = "grant" if grant else "revoke"
    form = CreditForm(request.POST, team=team, auto_id=f"id_{prefix}_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        move = team_services.grant if grant else team_services.revoke
        try:
            result = move(
                actor=request.membership,
                target=data["member"],
                amount=data["amount"],
                memo=data["memo"],
                request_key=data["request_key"],
            )
        except StudioError as exc:
            _apply_errors(form, exc)
            status = _error_status(exc)
        else:
            name = data["member"].user.get_username()
            if result.replayed:
                messages.info(request, "This form was already submitted: nothing changed the second time.")
            elif grant:
                messages.success(request, f"Granted {result.amount:,} credits to {name}.")
            else:
                messages.success(request, f"Revoked {result.amount:,} credits from {name}; they are back in the pool.")
            return _done(request, "team/credits.html", "credits-panel", "team:credits", lambda: _credits_context(request))
    context = _credits_context(request, **{f"{prefix}_form": form})
    return _respond(request, "team/credits.html", "credits-panel", context, status=status)


@require_POST
@manager_required
def credits_grant(request: TeamRequest) -> HttpResponse:
    return _credit_move(request, grant=True)


@require_POST
@manager_required
def credits_revoke(request: TeamRequest) -> HttpResponse:
    return _credit_move(request, grant=False)


@require_POST
@manager_required
def member_limits(request: TeamRequest, member_id: int) -> HttpResponse:
    target = _member_of_team(request, member_id)
    form = LimitsForm(request.POST, auto_id=f"id_l{target.pk}_%s")
    status = 400
    if form.is_valid():
        try:
            team_services.set_limits(
                actor=request.membership,
                target=target,
                monthly_cap=form.cleaned_data["monthly_cap"],
                monthly_refill=form.cleaned_data["monthly_refill"],
            )
        except StudioError as exc:
            _apply_errors(form, exc)
            status = _error_status(exc)
        else:
            messages.success(request, f"Saved the cap and refill of {target.user.get_username()}.")
            return _done(request, "team/credits.html", "credits-panel", "team:credits", lambda: _credits_context(request))
    return _respond(
        request, "team/credits.html", "credits-panel", _credits_context(request, limit_forms={target.pk: form}), status=status
    )


# -- model access ------------------------------------------------------------------------
def _access_context(request: TeamRequest, **extra: Any) -> dict[str, Any]:
    team = request.membership.team
    rules = ModelAccessRule.objects.filter(team=team)
    blocked_tiers = {r.tier for r in rules if r.tier and r.effect == AccessEffect.BLOCK}
    model_rules = {r.catalog_model_id: r.effect for r in rules if r.catalog_model_id}
    # Built from the rows just read, not the membership's cache: rules may have just changed.
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
    tiers = [
        {"tier": tier, "label": Tier(tier).label, "blocked": tier in blocked_tiers, "models": groups[tier]}
        for tier in TIER_ORDER
    ]
    context: dict[str, Any] = {"tiers": tiers, "error": ""}
    context.update(extra)
    return context


@require_GET
@manager_required
def access_page(request: TeamRequest) -> HttpResponse:
    return render(request, "team/access.html", _access_context(request))


@require_POST
@manager_required
def access_tier(request: TeamRequest) -> HttpResponse:
    form = TierAccessForm(request.POST)
    if not form.is_valid():
        context = _access_context(request, error="Choose a tier and allowed or blocked.")
        return _respond(request, "team/access.html", "access-panel", context, status=400)
    tier, blocked = form.cleaned_data["tier"], form.cleaned_data["access"] == "block"
    team_services.set_tier_access(actor=request.membership, tier=tier, blocked=blocked)
    messages.success(request, f"The {tier} tier is now {'blocked' if blocked else 'allowed'} for the team.")
    return _done(request, "team/access.html", "access-panel", "team:access", lambda: _access_context(request))


@require_POST
@manager_required
def access_model(request: TeamRequest) -> HttpResponse:
    form = ModelAccessForm(request.POST)
    model = CatalogModel.objects.filter(slug=request.POST.get("model", "")).first()
    if not form.is_valid() or model is None:
        context = _access_context(request, error="Choose a model from the list and a setting.")
        return _respond(request, "team/access.html", "access-panel", context, status=400)
    setting = form.cleaned_data["access"]
    team_services.set_model_access(actor=request.membership, model=model, setting=setting)
    wording = {"inherit": "follows its tier", "allow": "is always allowed", "block": "is blocked"}[setting]
    messages.success(request, f"{model.display_name} {wording} for the team.")
    return _done(request, "team/access.html", "access-panel", "team:access", lambda: _access_context(request))


# -- ledger ---------------------------------------------------------------------------------
def _ledger_filters(request: TeamRequest) -> tuple[LedgerFilterForm, dict[str, Any]]:
    """Managers see the whole team; everyone else only their own entries."""
    membership = request.membership
    form = LedgerFilterForm(request.GET or None, team=membership.team)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    if not membership.can_manage:
        filters["member"] = membership.user_id
    return form, filters


@require_GET
@member_required
def ledger(request: TeamRequest) -> HttpResponse:
    form, filters = _ledger_filters(request)
    valid = not form.is_bound or form.is_valid()
    entries = reports.ledger_entries(team=request.membership.team, **filters) if valid else Transfer.objects.none()
    page = Paginator(entries, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "own_only": not request.membership.can_manage}
    if request.htmx and request.htmx.target == "ledger-results":
        # htmx swaps only 2xx answers: a bad filter comes back as a 200 that says what is wrong.
        return render(request, "team/ledger.html#ledger-results", context)
    return render(request, "team/ledger.html", context, status=200 if valid else 400)


class _Echo:
    """csv.writer writes into this and gets the line back, so rows stream one by one."""

    def write(self, value: str) -> str:
        return value


def _csv_safe(value: Any) -> Any:
    # Spreadsheet apps run cells that start like a formula; memos are user text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@require_GET
@member_required
def ledger_csv(request: TeamRequest) -> HttpResponse:
    form, filters = _ledger_filters(request)
    if form.is_bound and not form.is_valid():
        empty = Paginator(Transfer.objects.none(), 1).get_page(1)
        context = {"form": form, "page": empty, "own_only": not request.membership.can_manage}
        return render(request, "team/ledger.html", context, status=400)
    rows = reports.ledger_rows(team=request.membership.team, **filters)
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield writer.writerow(reports.LEDGER_CSV_HEADER)
        for row in rows:
            yield writer.writerow([_csv_safe(v) for v in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="ledger-{request.membership.team.slug}-{stamp}.csv"'
    return response


# -- reports ------------------------------------------------------------------------------------
@require_GET
@manager_required
def reports_page(request: TeamRequest) -> HttpResponse:
    form = ReportForm(request.GET or None)
    days = form.cleaned_data["days"] if form.is_bound and form.is_valid() else 30
    status = 400 if form.is_bound and not form.is_valid() else 200
    report = reports.spend_report(team=request.membership.team, days=days)
    context = {
        "form": form,
        "report": report,
        "day_chart": charts.column_chart(
            [(d.day.strftime("%d %b"), d.credits) for d in report.by_day], label_every=5 if days <= 31 else 14
        ),
        "member_chart": charts.bar_chart([(r.label, r.credits) for r in report.by_member]),
        "model_chart": charts.bar_chart([(r.label, r.credits) for r in report.by_model[:12]]),
        "tier_chart": charts.bar_chart([(r.label.capitalize(), r.credits) for r in report.by_tier]),
    }
    if request.htmx and request.htmx.target == "report":
        return render(request, "team/reports.html#report", context, status=status)
    return render(request, "team/reports.html", context, status=status)


# -- audit trail ----------------------------------------------------------------------------------
@require_GET
@manager_required
def audit(request: TeamRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.filter(team=request.membership.team)
    status = 200
    if form.is_bound:
        if form.is_valid():
            if form.cleaned_data["action"]:
                events = events.filter(action=form.cleaned_data["action"])
        else:
            status, events = 400, AuditEvent.objects.none()
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "team/audit.html", {"form": form, "page": page}, status=status)


# -- deleting the team ------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@member_required
def delete_team(request: TeamRequest) -> HttpResponse:
    if request.membership.role != Role.OWNER:
        return _forbidden(request, "Only the team owner can delete the team.")
    team = request.membership.team
    form = DeleteTeamForm(request.POST or None)
    context = {"form": form, "active_jobs": team.jobs.filter(status__in=team_services.ACTIVE_JOB_STATUSES).count()}
    if request.method == "GET":
        return render(request, "team/delete.html", context)
    if form.is_valid():
        try:
            team_services.delete_team(actor=request.membership, confirm=form.cleaned_data["confirm"])
        except StudioError as exc:
            _apply_errors(form, exc)
            return render(request, "team/delete.html", context, status=_error_status(exc))
        messages.success(request, f"{team.name} was deleted. Its ledger, jobs and images are kept as records.")
        return redirect("studio:home")
    return render(request, "team/delete.html", context, status=400)
