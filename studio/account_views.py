"""Sign-up, sign-in with its optional code step, and the security page (sign-out and password reset are Django's own)."""

from __future__ import annotations

import time
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
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from studio.http import add_form_errors
from studio.models import AuditAction, Invitation, User
from studio.services import team as team_services
from studio.services import two_factor
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
    without a password (sign-up, tests), which are not sign-ins to audit. A user with a
    confirmed authenticator app is not signed in yet: the password only opens the code step.
    """

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if two_factor.confirmed_device(user=user) is not None:
            # axes has seen a correct password, but the session stays anonymous until the code.
            self.request.session.cycle_key()
            self.request.session[PENDING_USER] = user.pk
            self.request.session[PENDING_BACKEND] = user.backend
            self.request.session[PENDING_SINCE] = int(time.time())
            self.request.session[PENDING_NEXT] = self.get_success_url()
            return redirect("two_factor_sign_in")
        response = super().form_valid(form)
        security_event(user=user, action=AuditAction.SIGNED_IN, ip=client_ip(self.request))
        if two_factor.must_enrol(user=user):
            messages.warning(self.request, "Your team requires two-factor sign-in: set up an authenticator app to continue.")
            return redirect("security")
        return response


# The password step hands the code step the user in the session, for this long.
PENDING_USER = "studio_2fa_user"
PENDING_BACKEND = "studio_2fa_backend"
PENDING_SINCE = "studio_2fa_since"
PENDING_NEXT = "studio_2fa_next"
PENDING_SECONDS = 300


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        min_length=6,
        max_length=6,
        strip=True,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]{6}"}),
        error_messages={"required": "Enter the 6-digit code.", "min_length": "Enter all 6 digits.", "max_length": "The code has 6 digits."},
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if not code.isascii() or not code.isdigit():
            raise forms.ValidationError("The code is 6 digits, nothing else.")
        return code


def _pending_user(request: HttpRequest) -> User | None:
    since = request.session.get(PENDING_SINCE)
    if not isinstance(since, int) or time.time() - since > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=request.session.get(PENDING_USER), is_active=True).first()


def _clear_pending(request: HttpRequest) -> None:
    for key in (PENDING_USER, PENDING_BACKEND, PENDING_SINCE, PENDING_NEXT):
        request.session.pop(key, None)


@login_not_required
@require_http_methods(["GET", "POST"])
def two_factor_sign_in(request: HttpRequest) -> HttpResponse:
    """The second sign-in step: the password was right, now the app's code."""
    user = _pending_user(request)
    if user is None:
        _clear_pending(request)
        messages.error(request, "Sign in with your password first (the code step lasts 5 minutes).")
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ip = client_ip(request)
        try:
            device = two_factor.verify_sign_in(user=user, code=form.cleaned_data["code"], ip=ip)
        except StudioError as exc:
            add_form_errors(form, exc)
        else:
            backend = request.session.get(PENDING_BACKEND) or "django.contrib.auth.backends.ModelBackend"
            next_url = request.session.get(PENDING_NEXT) or settings.LOGIN_REDIRECT_URL
            _clear_pending(request)
            login(request, user, backend=backend)
            otp_login(request, device)
            security_event(user=user, action=AuditAction.SIGNED_IN, ip=ip, detail="with a two-factor code")
            return redirect(next_url)
    return render(request, "registration/two_factor.html", {"form": form}, status=400 if form.errors else 200)


# -- the signed-in user's security page: enrol and remove an authenticator app ---------
def _security_page(request: HttpRequest, *, form: CodeForm | None = None, status: int = 200) -> HttpResponse:
    user = request.user
    device = two_factor.confirmed_device(user=user)
    pending = None if device is not None else two_factor.pending_device(user=user)
    context = {
        "device": device,
        "pending": pending,
        "qr_svg": two_factor.qr_svg(pending) if pending is not None else "",
        "secret": two_factor.secret_text(pending) if pending is not None else "",
        "form": form or CodeForm(),
        "required": two_factor.must_enrol(user=user),
    }
    return render(request, "registration/security.html", context, status=status)


@require_GET
def security(request: HttpRequest) -> HttpResponse:
    return _security_page(request)


@require_POST
def security_enrol(request: HttpRequest) -> HttpResponse:
    try:
        two_factor.start_enrolment(user=request.user)
    except StudioError as exc:
        messages.error(request, exc.message)
    return redirect("security")


@require_POST
def security_confirm(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            device = two_factor.confirm_enrolment(user=request.user, code=form.cleaned_data["code"], ip=client_ip(request))
        except StudioError as exc:
            add_form_errors(form, exc)
        else:
            # This session has just shown a code: it counts as verified.
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is on: each sign-in will ask for a code from your app.")
            return redirect("security")
    return _security_page(request, form=form, status=400)


@require_POST
def security_remove(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            two_factor.remove_device(user=request.user, code=form.cleaned_data["code"], ip=client_ip(request))
        except StudioError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Two-factor sign-in is off.")
            return redirect("security")
    return _security_page(request, form=form, status=400)


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
