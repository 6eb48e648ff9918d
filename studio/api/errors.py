"""The API's one error shape, `{"error": {"code", "message", "param"}}`, and its statuses."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import JsonResponse

from providers.errors import ErrorCode
from studio.services.errors import (
    InsufficientCredits,
    ModelNotAllowed,
    PermissionDenied,
    ServiceUnavailable,
    StudioError,
    ValidationFailed,
)


class ApiError(Exception):
    """An answer other than success; raised anywhere in a handler, rendered once."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = dict(headers or {})

    def response(self) -> JsonResponse:
        return error_response(self.status, self.code, self.message, param=self.param, headers=self.headers)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "param": param}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def from_domain(exc: StudioError, *, params: Mapping[str, str] | None = None) -> ApiError:
    """Translate a service's refusal; `params` renames service fields to the API's names."""
    param = (params or {}).get(exc.field or "", exc.field) if exc.field else None
    if isinstance(exc, ValidationFailed):
        return ApiError(400, "validation_error", exc.message, param=param)
    if isinstance(exc, InsufficientCredits):
        return ApiError(402, "insufficient_credits", exc.message)
    if isinstance(exc, ModelNotAllowed):
        return ApiError(403, "model_not_allowed", exc.message, param=param)
    if isinstance(exc, PermissionDenied):
        return ApiError(403, "permission_denied", exc.message)
    if isinstance(exc, ServiceUnavailable):
        return ApiError(503, "unavailable", exc.message, headers={"Retry-After": str(exc.retry_after)})
    return ApiError(400, exc.code or "validation_error", exc.message, param=param)


# A failed job's error code -> the HTTP status the synchronous endpoints answer with.
# The job layer has already retried what could pass, so clients should not retry blindly.
JOB_ERROR_STATUS: dict[str, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.CONTENT_POLICY: 400,
    ErrorCode.AUTH: 502,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.UPSTREAM_ERROR: 502,
    "canceled": 409,
}


def job_error(code: str, message: str) -> ApiError:
    return ApiError(
        JOB_ERROR_STATUS.get(code, 502),
        code or ErrorCode.UPSTREAM_ERROR,
        message or "The generation failed.",
        # The openai SDK retries 5xx on its own; the job was retried already.
        headers={"x-should-retry": "false"},
    )


def database_unavailable() -> ApiError:
    """A database error that outlived the services' retries: nothing was changed."""
    return ApiError(
        503,
        "unavailable",
        "The database is busy or unreachable; nothing was changed. Try again shortly.",
        headers={"Retry-After": "2"},
    )
