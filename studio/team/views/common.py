"""What the team pages share: the typed request, the access decorators and the two ways to answer.

A POST from htmx gets the page's panel back (errors included, status 200 so htmx
swaps it); a plain POST redirects on success and re-renders the page with a 4xx on error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from studio.http import HtmxHttpRequest
from studio.models import Membership
from studio.services.errors import PermissionDenied, StudioError


class TeamRequest(HtmxHttpRequest):
    membership: Membership


View = Callable[..., HttpResponse]


def member_required(view: View) -> View:
    """Any role; the page acts on the user's current team.

    When the team requires two-factor, its owner and admins reach no team page from a
    session that has not shown a code: first the security page to enrol, or a fresh
    sign-in if they enrolled elsewhere.
    """

    @wraps(view)
    def wrapper(request: TeamRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = request.user.membership()
        if membership is None:
            return render(request, "studio/no_team.html", status=403)
        if membership.can_manage and membership.team.require_two_factor and not request.user.is_verified():
            messages.warning(request, f"{membership.team.name} requires two-factor sign-in for its owner and admins.")
            return redirect("security")
        request.membership = membership
        return view(request, *args, **kwargs)

    return wrapper


def manager_required(view: View) -> View:
    """Owners and admins only: everyone else gets a 403 that says so."""

    @wraps(view)
    @member_required
    def wrapper(request: TeamRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.can_manage:
            return forbidden(request, "Only the team's owner and admins can open this page.")
        return view(request, *args, **kwargs)

    return wrapper


def forbidden(request: TeamRequest, message: str) -> HttpResponse:
    return render(request, "team/forbidden.html", {"message": message}, status=403)


def member_of_team(request: TeamRequest, member_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "team"), pk=member_id, team=request.membership.team
    )


def respond(
    request: TeamRequest, page: str, partial: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    if request.htmx:
        # htmx swaps only 2xx answers: errors come back as a 200 panel that shows them.
        return render(request, f"{page}#{partial}", context)
    return render(request, page, context, status=status)


def done(
    request: TeamRequest, page: str, partial: str, url_name: str, context: Callable[[], dict[str, Any]]
) -> HttpResponse:
    if request.htmx:
        return render(request, f"{page}#{partial}", context())
    return redirect(url_name)


def error_status(exc: StudioError) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400
