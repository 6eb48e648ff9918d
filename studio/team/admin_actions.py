"""Django admin: site staff top up team pools (an action with a confirmation form)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from studio.http import add_form_errors
from studio.models import Team
from studio.services import team as team_services
from studio.services.errors import StudioError
from studio.team.forms import AMOUNT_ERRORS


class TopUpForm(forms.Form):
    amount = forms.IntegerField(label="Credits to add", min_value=1, max_value=10**12, error_messages=AMOUNT_ERRORS)
    memo = forms.CharField(
        label="Memo", max_length=team_services.MEMO_MAX, help_text="Why: an invoice number, a purchase, a promotion…"
    )


@admin.action(description="Top up the pool of the selected team…", permissions=["change"])
def top_up_pool(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Team]) -> HttpResponse | None:
    """One team at a time, so nobody tops up ten teams by a slip of the checkbox."""
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one team to top up.", messages.ERROR)
        return None
    team = queryset.get()
    form = TopUpForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        try:
            team_services.top_up_team(
                team=team, amount=form.cleaned_data["amount"], memo=form.cleaned_data["memo"], actor=request.user
            )
        except StudioError as exc:
            add_form_errors(form, exc)
        else:
            modeladmin.message_user(
                request, f"Added {form.cleaned_data['amount']:,} credits to {team.name}.", messages.SUCCESS
            )
            return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Top up {team.name}",
        "team": team,
        "form": form,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "pool": team_services.pool_balance(team=team),
    }
    return TemplateResponse(request, "team/admin_top_up.html", context, status=400 if form.is_bound else 200)
