"""HTTP handlers: the API endpoints (Bearer key, JSON errors) and the API keys pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.api import v1, v2
from studio.api.auth import (
    ApiContext,
    authenticate,
    create_api_key,
    keys_visible_to,
    revoke_api_key,
    rotate_webhook_secret,
)
from studio.api.errors import ApiError, database_unavailable, error_response, from_domain
from studio.api.models import ApiKey, WebhookDelivery
from studio.api.openapi import build_document, describe_operations
from studio.api.ratelimit import check_rate_limit
from studio.models import User
from studio.ops import logs
from studio.services.errors import StudioError, ValidationFailed

logger = logging.getLogger(__name__)

ApiHandler = Callable[..., HttpResponse]


class AuthedRequest(HttpRequest):
    user: User


def api_endpoint(*methods: str, auth: bool = True) -> Callable[[ApiHandler], Callable[..., HttpResponse]]:
    """Wrap a handler: method check, Bearer key, rate limit, and JSON for every error.

    API calls authenticate with their key, so they skip the session login and CSRF.
    """

    def decorate(handler: ApiHandler) -> Callable[..., HttpResponse]:
        @wraps(handler)
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        f"{request.method} is not allowed here; use {' or '.join(methods)}.",
                        headers={"Allow": ", ".join(methods)},
                    )
                if not auth:
                    return handler(request, *args, **kwargs)
                ctx = authenticate(request)
                # The key's user and team join this request's log lines (see studio.ops.logs).
                logs.bind(user=ctx.membership.user_id, team=ctx.membership.team_id)
                wait = check_rate_limit(bucket=ctx.key.prefix)
                if wait is not None:
                    raise ApiError(
                        429,
                        "rate_limited",
                        f"Too many requests for this key; retry in {wait} s.",
                        headers={"Retry-After": str(wait)},
                    )
                return handler(request, ctx, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except StudioError as exc:
                return from_domain(exc).response()
            except DatabaseError:
                logger.warning("API database error on %s %s", request.method, request.path, exc_info=True)
                return database_unavailable().response()
            except Exception:
                logger.exception("API error on %s %s", request.method, request.path)
                return error_response(500, "server_error", "Something went wrong on our side; it has been logged.")

        return csrf_exempt(login_not_required(view))

    return decorate


# -- /v1 -------------------------------------------------------------------------------------
@api_endpoint("GET")
def models_list(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return v1.list_models(request, ctx)


@api_endpoint("GET")
def model_detail(request: HttpRequest, ctx: ApiContext, model_id: str) -> HttpResponse:
    return v1.get_model(request, ctx, model_id)


@api_endpoint("POST")
def image_generations(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return v1.create_images(request, ctx, edit_endpoint=False)


@api_endpoint("POST")
def image_edits(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return v1.create_images(request, ctx, edit_endpoint=True)


@api_endpoint("GET", auth=False)
def openapi_document(request: HttpRequest) -> HttpResponse:
    return JsonResponse(build_document(), json_dumps_params={"indent": 1})


@api_endpoint("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", auth=False)
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    raise ApiError(404, "not_found", f"There is no API endpoint at {request.path}.")


# -- /v2 -------------------------------------------------------------------------------------
@api_endpoint("POST")
def generate(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return v2.generate(request, ctx)


@api_endpoint("GET")
def jobs_list(request: HttpRequest, ctx: ApiContext) -> HttpResponse:
    return v2.list_jobs(request, ctx)


@api_endpoint("GET")
def job_detail(request: HttpRequest, ctx: ApiContext, job_id: str) -> HttpResponse:
    return v2.get_job(request, ctx, job_id)


@api_endpoint("POST")
def job_cancel(request: HttpRequest, ctx: ApiContext, job_id: str) -> HttpResponse:
    return v2.cancel(request, ctx, job_id)


@api_endpoint("GET", auth=False)
def signed_image(request: HttpRequest, token: str) -> HttpResponse:
    return v2.signed_image(request, token)


# -- pages -----------------------------------------------------------------------------------
@require_GET
@login_not_required
def api_docs(request: HttpRequest) -> HttpResponse:
    document = build_document()
    return render(
        request, "api/api_docs.html", {"doc": document, "operations": describe_operations(document)}
    )


@require_http_methods(["GET", "POST"])
def api_keys(request: AuthedRequest) -> HttpResponse:
    membership = request.user.membership()
    if membership is None:
        return render(request, "studio/no_team.html")
    context: dict[str, Any] = {"errors": {}, "name": ""}
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            key, plaintext = create_api_key(membership=membership, name=name)
        except ValidationFailed as exc:
            context |= {"errors": exc.errors, "name": name}
        else:
            # Shown in this answer only: the key is stored hashed and cannot be shown again.
            context |= {"new_key": key, "plaintext": plaintext}
    context |= {"keys": keys_visible_to(membership=membership), "membership": membership}
    template = "api/apikey_list.html#key-list" if getattr(request, "htmx", False) else "api/apikey_list.html"
    status = 400 if context["errors"] else 200
    return render(request, template, context, status=status)


@require_POST
def api_key_revoke(request: AuthedRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    try:
        revoke_api_key(key=key, actor=request.user)
    except StudioError as exc:
        messages.error(request, exc.message)
        return redirect("api_ui:keys")
    messages.success(request, f"Revoked “{key.name}”. Requests with it now get 401.")
    return redirect("api_ui:keys")


@require_POST
def api_key_rotate_secret(request: AuthedRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    try:
        rotate_webhook_secret(key=key, actor=request.user)
    except StudioError as exc:
        messages.error(request, exc.message)
        return redirect("api_ui:keys")
    messages.success(
        request,
        f"“{key.name}” has a new webhook secret. The old one also signs for 24 hours: switch your receiver to the new one.",
    )
    return redirect("api_ui:keys")


@require_GET
def webhook_deliveries(request: AuthedRequest) -> HttpResponse:
    membership = request.user.membership()
    if membership is None:
        return render(request, "studio/no_team.html")
    keys = keys_visible_to(membership=membership)
    deliveries = (
        WebhookDelivery.objects.filter(api_key__in=keys)
        .select_related("api_key", "job")
        .order_by("-created_at", "-id")
    )
    page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
    return render(request, "api/webhookdelivery_list.html", {"page": page})
