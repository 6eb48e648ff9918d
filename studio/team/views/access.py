"""Model access: allow or block tiers and single models for the team."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from providers.models import CatalogModel
from studio.http import service_errors
from studio.selectors import team as team_selectors
from studio.services import team_admin
from studio.services.errors import StudioError
from studio.services.jobs import provider_status
from studio.services.team import access_table
from studio.team.forms import ModelAccessForm, TierAccessForm
from studio.team.views.common import TeamRequest, done, error_status, manager_required, respond


def _access_context(request: TeamRequest, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "tiers": team_selectors.access_tiers(team=request.membership.team),
        "error": "",
        "providers": provider_status(team_id=request.membership.team_id),
    }
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
@manager_required
def access_page(request: TeamRequest) -> HttpResponse:
    """The whole table; a POST saves every tier and model setting it holds at once."""
    if request.method == "GET":
        return render(request, "team/access.html", _access_context(request))
    tiers = {key[5:]: value for key, value in request.POST.items() if key.startswith("tier_")}
    models = {key[6:]: value for key, value in request.POST.items() if key.startswith("model_")}
    try:
        changed = access_table.save_access_table(actor=request.membership, tiers=tiers, models=models)
    except StudioError as exc:
        context = _access_context(request, error=" ".join(service_errors(exc).values()))
        return respond(request, "team/access.html", "access-panel", context, status=error_status(exc))
    if changed:
        messages.success(request, f"Saved: {changed} setting{'s' if changed != 1 else ''} changed.")
    else:
        messages.info(request, "Nothing changed.")
    return done(request, "team/access.html", "access-panel", "team:access", lambda: _access_context(request))


@require_POST
@manager_required
def access_tier(request: TeamRequest) -> HttpResponse:
    form = TierAccessForm(request.POST)
    if not form.is_valid():
        context = _access_context(request, error="Choose a tier and allowed or blocked.")
        return respond(request, "team/access.html", "access-panel", context, status=400)
    tier, blocked = form.cleaned_data["tier"], form.cleaned_data["access"] == "block"
    team_admin.set_tier_access(actor=request.membership, tier=tier, blocked=blocked)
    messages.success(request, f"The {tier} tier is now {'blocked' if blocked else 'allowed'} for the team.")
    return done(request, "team/access.html", "access-panel", "team:access", lambda: _access_context(request))


@require_POST
@manager_required
def access_model(request: TeamRequest) -> HttpResponse:
    form = ModelAccessForm(request.POST)
    model = CatalogModel.objects.filter(slug=request.POST.get("model", "")).first()
    if not form.is_valid() or model is None:
        context = _access_context(request, error="Choose a model from the list and a setting.")
        return respond(request, "team/access.html", "access-panel", context, status=400)
    setting = form.cleaned_data["access"]
    team_admin.set_model_access(actor=request.membership, model=model, setting=setting)
    wording = {"inherit": "follows its tier", "allow": "is always allowed", "block": "is blocked"}[setting]
    messages.success(request, f"{model.display_name} {wording} for the team.")
    return done(request, "team/access.html", "access-panel", "team:access", lambda: _access_context(request))
