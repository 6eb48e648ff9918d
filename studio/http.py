"""What every HTML view shares: the typed htmx request, and service errors as form errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from studio.services.errors import InsufficientCredits, StudioError, ValidationFailed

if TYPE_CHECKING:
    from studio.models.accounts import User


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware, from a signed-in user."""

    htmx: HtmxDetails
    user: User  # type: ignore[assignment]


# -- service errors as form errors ----------------------------------------------------
class TooLarge(Exception):
    """An upload refused before it was read: the view's own error, shown on `field`."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def service_errors(exc: Exception, *, default_field: str = "__all__", credits_field: str = "") -> dict[str, str]:
    """Field name → message for an error a service (or an upload check) raised.

    Several fields at once for `ValidationFailed`; with `credits_field`, a credit refusal
    goes there (the composer shows it beside the price); anything else under its own
    field or `default_field`.
    """
    if isinstance(exc, ValidationFailed):
        return dict(exc.errors)
    if isinstance(exc, TooLarge):
        return {exc.field: str(exc)}
    if credits_field and isinstance(exc, InsufficientCredits):
        return {credits_field: exc.message}
    if isinstance(exc, StudioError):
        return {exc.field or default_field: exc.message}
    raise TypeError(f"not a service error: {exc!r}")


def add_form_errors(form: Any, exc: StudioError) -> None:
    """Put a service's refusal on a Django form: on its field when the form has one, else on top."""
    for name, message in service_errors(exc).items():
        form.add_error(name if name in form.fields else None, message)
