"""Forms for the team pages: they parse and say what is wrong; services decide."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from providers.models import Tier
from studio.models import Account, AccountKind, AuditAction, Job, Membership, Role, Team, TransferKind
from studio.services.reports import REPORT_PERIODS
from studio.services.team.audit import MEMO_MAX

AMOUNT_ERRORS = {
    "required": "Enter an amount.",
    "invalid": "Enter a whole number of credits above zero.",
    "min_value": "Enter a whole number of credits above zero.",
    "max_value": "That is more credits than a ledger entry may hold.",
}
LIMIT_ERRORS = {
    "invalid": "Enter a whole number of credits, or leave it empty.",
    "min_value": "Enter a whole number of credits of at least %(limit_value)s, or leave it empty.",
    "max_value": "That is more credits than a limit may hold.",
}
ROLE_LABELS = {Role.ADMIN: "Admin", Role.DESIGNER: "Designer", Role.VIEWER: "Viewer"}


def roles_for(actor: Membership) -> list[tuple[str, str]]:
    """Roles `actor` may hand out: owners also manage admins."""
    roles = [Role.ADMIN, Role.DESIGNER, Role.VIEWER] if actor.role == Role.OWNER else [Role.DESIGNER, Role.VIEWER]
    return [(r.value, ROLE_LABELS[r]) for r in roles]


def new_request_key() -> str:
    return uuid.uuid4().hex


class RequestKeyField(forms.CharField):
    """A hidden one-time key: a double-submitted form is carried out once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            required=False, max_length=64, min_length=16, widget=forms.HiddenInput, strip=True, **kwargs
        )

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and not all(c.isalnum() or c in "-_" for c in value):
            raise forms.ValidationError("This form was tampered with; reload the page.")


class InviteForm(forms.Form):
    role = forms.ChoiceField(label="Role")
    email = forms.EmailField(
        label="Email (optional)", required=False, help_text="Leave empty to get a link you can share yourself."
    )

    def __init__(self, *args: Any, actor: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles_for(actor)
        self.fields["role"].initial = Role.DESIGNER


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, actor: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles_for(actor)


class CreditForm(forms.Form):
    """Grant or revoke: which member, how much, why."""

    member = forms.ModelChoiceField(
        label="Member",
        queryset=Membership.objects.none(),
        empty_label="Choose a member",
        error_messages={"invalid_choice": "Choose a member of this team.", "required": "Choose a member."},
    )
    amount = forms.IntegerField(label="Credits", min_value=1, max_value=10**12, error_messages=AMOUNT_ERRORS)
    memo = forms.CharField(label="Memo", required=False, max_length=MEMO_MAX)
    request_key = RequestKeyField()

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        member = self.fields["member"]
        assert isinstance(member, forms.ModelChoiceField)
        member.queryset = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
        member.label_from_instance = lambda m: f"{m.user.get_username()} ({m.get_role_display()})"
        if not self.is_bound:
            self.initial.setdefault("request_key", new_request_key())


class LimitsForm(forms.Form):
    monthly_cap = forms.IntegerField(
        label="Monthly cap", required=False, min_value=0, max_value=10**9, error_messages=LIMIT_ERRORS,
        help_text="Most credits this member may spend per calendar month. Empty: no cap.",
    )
    monthly_refill = forms.IntegerField(
        label="Monthly refill to", required=False, min_value=1, max_value=10**9, error_messages=LIMIT_ERRORS,
        help_text="Each month the balance is brought up to this from the pool. Empty: no refill.",
    )


class TierAccessForm(forms.Form):
    tier = forms.ChoiceField(choices=Tier.choices)
    access = forms.ChoiceField(choices=[("allow", "Allowed"), ("block", "Blocked")])


class ModelAccessForm(forms.Form):
    model = forms.CharField(max_length=100)
    access = forms.ChoiceField(
        choices=[("inherit", "Follow the tier"), ("allow", "Always allowed"), ("block", "Blocked")]
    )


class ConcurrencyCapForm(forms.Form):
    # The range is the service's rule; the form only turns the text into a number.
    max_running_per_member = forms.IntegerField(required=False, label="Running jobs per member")


class LedgerFilterForm(forms.Form):
    member = forms.TypedChoiceField(label="Member", required=False, coerce=int, empty_value=None)
    kind = forms.ChoiceField(label="Kind", required=False)
    model = forms.ChoiceField(label="Model", required=False)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Everyone who ever held credits in the team, removed members included.
        people = (
            Account.objects.filter(team=team, kind=AccountKind.MEMBER)
            .select_related("user")
            .order_by("user__username")
        )
        self.fields["member"].choices = [("", "Everyone")] + [(a.user_id, a.user.get_username()) for a in people]
        self.fields["kind"].choices = [("", "Every kind"), *TransferKind.choices]
        slugs = Job.objects.filter(team=team).order_by("model_slug").values_list("model_slug", flat=True).distinct()
        self.fields["model"].choices = [("", "Every model")] + [(s, s) for s in slugs]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class ReportForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=[(d, f"Last {d} days") for d in REPORT_PERIODS], coerce=int, required=False, empty_value=30
    )


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(choices=[("", "Every action"), *AuditAction.choices], required=False)


class DeleteTeamForm(forms.Form):
    confirm = forms.CharField(label="Type the team's name to confirm", max_length=100)


class TeamSettingsForm(forms.Form):
    require_two_factor = forms.BooleanField(
        label="Require two-factor sign-in for the owner and admins",
        required=False,
        help_text="They must sign in with a code from an authenticator app to open the team pages. "
        "Designers, viewers and API keys are not affected.",
    )
