"""Sign-up, plain or through an invitation (sign-in, sign-out and password reset are Django's own views)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from studio.models import AuditAction, Invitation, User
from studio.services import team as team_services
from studio.services.errors import StudioError
from studio.services.team.audit import security_event
from studio.services.teams import register_user
from studio.signals import client_ip


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True)
    team_name = forms.CharField(max_length=100, required=False, help_text="Leave empty for “<you>'s team”.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class InvitedSignUpForm(SignUpForm):
    """Sign-up through an invitation: no team of one's own, and the invited address only."""

    def __init__(self, *args: Any, invitation: Invitation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        del self.fields["team_name"]
        if invitation.email:
            self.fields["email"].initial = invitation.email
            self.fields["email"].help_text = "The invitation was sent to this address."

    def clean_email(self) -> str:
        email = super().clean_email()
        if self.invitation.email and email != self.invitation.email.lower():
            raise forms.ValidationError(f"This invitation is for {self.invitation.email}; sign up with that address.")
        return email


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("invitation") or request.GET.get("invitation") or ""
    if token:
        return _invited_signup(request, token)
    form = SignUpForm(request.POST or None)
    # Back to where the visitor came from, never to another site.
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    if request.method == "POST" and form.is_valid():
        user = register_user(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            team_name=form.cleaned_data["team_name"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "studio:home")
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": next_url},
        status=400 if form.errors else 200,
    )


def _invited_signup(request: HttpRequest, token: str) -> HttpResponse:
    invitation = team_services.find_invitation(token=token)
    problem = "" if invitation is not None else "This invitation link is not valid."
    if invitation is not None and not invitation.is_open(timezone.now()):
        problem = team_services.invitation_problem(invitation=invitation, user=User(email=invitation.email))
    if problem:
        return render(request, "team/forbidden.html", {"message": problem}, status=400)
    assert invitation is not None
    form = InvitedSignUpForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        try:
            joined = team_services.register_invited_user(
                token=token,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except StudioError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, joined.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to {joined.team.name}: you joined as {joined.get_role_display().lower()}.")
            return redirect("studio:home")
    return render(
        request,
        "registration/signup.html",
        {"form": form, "invitation": invitation, "token": token},
        status=400 if form.errors else 200,
    )


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None) -> HttpResponse:
    """django-axes' lockout answer: say what happened, for how long, and who can help."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "minutes": minutes,
    }
    return render(request, "registration/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)


class SignInView(auth_views.LoginView):
    """Django's sign-in, recording each success in the user's team trails.

    Recorded here, not on `user_logged_in`: that signal also fires for sessions made
    without a password (sign-up, tests), which are not sign-ins to audit.
    """

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        security_event(user=form.get_user(), action=AuditAction.SIGNED_IN, ip=client_ip(self.request))
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        security_event(user=form.user, action=AuditAction.PASSWORD_CHANGED, ip=client_ip(self.request))
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        security_event(
            user=form.user, action=AuditAction.PASSWORD_CHANGED, ip=client_ip(self.request), detail="through a reset link"
        )
        return response
