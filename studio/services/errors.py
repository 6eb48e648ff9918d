"""Domain errors services raise; views and the API turn them into messages and codes."""

from __future__ import annotations


class StudioError(Exception):
    """A rule said no. `code` is one of the contract's error codes."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InsufficientCredits(StudioError):
    code = "insufficient_credits"


class ModelNotAllowed(StudioError):
    code = "model_not_allowed"


class PermissionDenied(StudioError):
    code = "permission_denied"


class ValidationFailed(StudioError):
    """Several fields can be wrong at once: `errors` maps field name to message."""

    code = "validation_error"

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)


class ServiceUnavailable(StudioError):
    """Something we depend on (the database, the queue) is down or busy: try again later.

    Nothing was changed. Pages and the API answer 503 with `Retry-After`.
    """

    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
