"""Per-request context and timing: the request id (from X-Request-ID or made), the user
and team on every log line, and the request's latency by route for /metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from studio.ops import logs, metrics

logger = logging.getLogger("studio.requests")

HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain; anything else is replaced.
# Probes and scrapes every few seconds would drown the access lines.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def request_id_from(request: HttpRequest) -> str:
    given = request.headers.get(HEADER, "")
    return given if _VALID_ID.match(given) else uuid.uuid4().hex


def route_of(request: HttpRequest) -> str:
    """The URL pattern, not the path: ids in paths would make a series per job."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + match.route


class RequestContextMiddleware:
    """Outermost: bind the request id before anything logs, time the whole answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.perf_counter()
        token = logs.bind(request_id=request_id)
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            route = route_of(request)
            metrics.HTTP_REQUESTS.labels(method=request.method, route=route, status=str(response.status_code)).inc()
            metrics.HTTP_REQUEST_SECONDS.labels(method=request.method, route=route).observe(elapsed)
            response[HEADER] = request_id
            if route not in QUIET_ROUTES:
                logger.info("%s %s %s %.0f ms", request.method, route, response.status_code, elapsed * 1000)
            return response
        finally:
            logs.reset(token)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        # Runs after authentication: a signed-in user and their current team join the context.
        # Views that need no sign-in (the job card's watch) are not made to read the session.
        if getattr(view, "login_required", True) is False:
            return
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            logs.bind(user=user.pk, team=getattr(user, "current_team_id", None))
