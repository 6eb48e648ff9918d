"""The one error taxonomy every adapter speaks (DESIGN.md)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    CONTENT_POLICY = "content_policy"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    UPSTREAM_ERROR = "upstream_error"
    # The provider account is out of credit or quota (HTTP 402, OpenAI `insufficient_quota`):
    # never retried, since only someone topping up the account can fix it.
    PROVIDER_BILLING = "provider_billing"


RETRYABLE = frozenset(
    {ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.UPSTREAM_ERROR}
)


class ProviderError(Exception):
    """A provider failure, sorted into the taxonomy.

    `message` is safe to show to the user; `retry_after` is seconds (from Retry-After
    or the provider's own hint) when the provider gave one.
    """

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        provider: str = "",
    ) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.retry_after = retry_after
        self.status = status
        self.provider = provider

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    def __repr__(self) -> str:
        return f"ProviderError({self.code.value!r}, {self.message!r}, status={self.status})"
