"""Operator endpoints: liveness, readiness, metrics, and the staff status page."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from studio.ops import health, metrics
from studio.ops.status import status_context


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers; nothing else is asked (a restart would not fix a database)."""
    return JsonResponse({"status": "ok"})


def _has_metrics_token(request: HttpRequest) -> bool:
    token = settings.STUDIO_METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Anyone may ask (load balancers do); error texts, which name hosts, go to staff or the
    metrics token only."""
    results = health.readiness()
    down = [r.name for r in results if not r.up]
    privileged = getattr(request.user, "is_staff", False) or _has_metrics_token(request)
    checks = {r.name: r.as_dict(with_errors=privileged) for r in results}
    return JsonResponse({"status": "down" if down else "ok", "down": down, "checks": checks},
                        status=503 if down else 200)


@login_not_required
@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.STUDIO_METRICS_TOKEN:
        return JsonResponse({"error": "Metrics are off: set STUDIO_METRICS_TOKEN."}, status=404)
    if not _has_metrics_token(request):
        return JsonResponse({"error": "Send Authorization: Bearer <STUDIO_METRICS_TOKEN>."}, status=401,
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")


@staff_member_required
@never_cache
@require_GET
def status_page(request: HttpRequest) -> HttpResponse:
    template = "ops/status.html#status-body" if getattr(request, "htmx", False) else "ops/status.html"
    return render(request, template, status_context())
