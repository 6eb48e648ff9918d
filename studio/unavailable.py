"""A database or queue that is down answers 503 with Retry-After, never a 500.

The services retry transient database errors themselves (`studio.services.db`); what
still escapes a view lands here. The page stands alone: base.html reads the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from studio.services.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

RETRY_AFTER = "5"
API_PREFIXES = ("/v1/", "/v2/")


class ServiceUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DatabaseError | ServiceUnavailable):
            return None
        logger.warning("503 on %s %s: %s", request.method, request.path, exception, exc_info=True)
        message = "The studio is busy for a moment; nothing was changed. Try again shortly."
        if request.path.startswith(API_PREFIXES):
            response: HttpResponse = JsonResponse(
                {"error": {"code": "unavailable", "message": message, "param": None}}, status=503
            )
        else:
            response = HttpResponse(render_to_string("503.html", {"message": message}), status=503)
        response["Retry-After"] = RETRY_AFTER
        response["Cache-Control"] = "no-store"
        return response
