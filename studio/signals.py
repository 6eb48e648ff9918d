"""Security events from Django's and django-axes' signals, into the team audit trail.

Receivers only translate a signal into one service call; they are connected in
`StudioConfig.ready()`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from studio.models import AuditAction, User
from studio.services.team.audit import security_event


def client_ip(request: HttpRequest | None) -> str:
    return (request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def _user_named(username: str | None) -> User | None:
    if not username:
        return None
    return User.objects.filter(**{User.USERNAME_FIELD: username}).first()


def on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    # An unknown name has no team whose trail it belongs in; axes still counts it.
    user = _user_named(credentials.get("username"))
    if user is not None:
        security_event(user=user, action=AuditAction.SIGN_IN_FAILED, ip=client_ip(request), by_user=False)


def on_locked_out(sender: Any, request: HttpRequest | None, username: str | None, ip_address: str, **kwargs: Any) -> None:
    user = _user_named(username)
    if user is not None:
        security_event(
            user=user,
            action=AuditAction.LOCKED_OUT,
            ip=ip_address,
            by_user=False,
            detail="too many failed sign-ins; staff can unlock in the admin (Axes: access attempts)",
        )
