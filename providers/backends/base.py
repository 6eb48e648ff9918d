"""The adapter interface and the HTTP plumbing every adapter shares.

Adapters are pure: a `GenerationRequest` in, a `GenerationResult` (or a `Submission`
to poll) out. They never touch the ORM or storage; they may log.
"""

from __future__ import annotations

import base64
import email.utils
import io
import logging
import time
from abc import ABC
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import httpx
from PIL import Image

from providers.errors import ErrorCode, ProviderError
from providers.types import (
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    PollResult,
    ProgressCallback,
    Submission,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
DOWNLOAD_TIMEOUT = 60.0
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


class ProviderAdapter(ABC):
    """One provider protocol family.

    Synchronous families implement `generate`; asynchronous ones implement `submit`
    and `poll` (the job layer re-schedules polls, no adapter ever sleeps in a loop).
    """

    family: ClassVar[str]
    settings_name: ClassVar[str]  # OPENAI, GEMINI, ... (for <NAME>_API_KEY / _BASE_URL)
    default_base_url: ClassVar[str] = ""
    is_async: ClassVar[bool] = False
    supports_streaming: ClassVar[bool] = False

    def __init__(
        self,
        *,
        api_key: str = "",
        base_url: str = "",
        client: httpx.Client | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self._client = client

    # -- the interface ------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        raise NotImplementedError(f"{self.family} is asynchronous: use submit/poll")

    def submit(self, request: GenerationRequest) -> Submission:
        raise NotImplementedError(f"{self.family} is synchronous: use generate")

    def poll(self, submission: Submission) -> PollResult:
        raise NotImplementedError(f"{self.family} is synchronous: use generate")

    # -- shared plumbing ----------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def client(self) -> httpx.Client:
        # Redirects are not followed: a provider never needs them and they are an
        # easy way to leak the key header to another host.
        if self._client is None:
            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one HTTP call with connect/read timeouts; map failures to the taxonomy."""
        all_headers = {**self.auth_headers(), **(headers or {})}
        with self.transport_errors():
            response = self.client().request(
                method,
                url,
                headers=all_headers,
                timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
                **kwargs,
            )
        if 300 <= response.status_code < 400:
            # Redirects are never followed (the key header must not travel on).
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                f"{self.family} answered with an unexpected redirect",
                status=response.status_code,
                provider=self.family,
            )
        if response.status_code >= 400:
            raise self.error_from_response(response)
        return response

    @contextmanager
    def transport_errors(self, what: str = "") -> Iterator[None]:
        """Turn httpx's timeouts and connection failures into the taxonomy."""
        subject = f"{self.family}{': ' + what if what else ''}"
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ProviderError(
                ErrorCode.TIMEOUT, f"{subject} did not answer in time", provider=self.family
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                ErrorCode.UNAVAILABLE, f"{subject} could not be reached", provider=self.family
            ) from exc

    def error_from_response(self, response: httpx.Response) -> ProviderError:
        """Sort an HTTP error answer into the taxonomy. Adapters refine with `error_details`."""
        status = response.status_code
        message = self.error_message(response) or f"HTTP {status}"
        code = status_to_code(status)
        if is_billing_error(status, response.text):
            code = ErrorCode.PROVIDER_BILLING
        elif code is ErrorCode.INVALID_REQUEST and looks_like_moderation(message):
            code = ErrorCode.CONTENT_POLICY
        return ProviderError(
            code,
            f"{self.family}: {message}",
            retry_after=retry_after_seconds(response),
            status=status,
            provider=self.family,
        )

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:500]
        return extract_error_message(body)

    def download(self, url: str, *, timeout: float = DOWNLOAD_TIMEOUT) -> GeneratedImage:
        """Fetch an ephemeral result URL at once (they expire in minutes)."""
        with self.transport_errors("result download"), self.client().stream(
            "GET", url, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise ProviderError(
                    status_to_code(response.status_code),
                    f"{self.family}: result download failed (HTTP {response.status_code})",
                    status=response.status_code,
                    provider=self.family,
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ProviderError(
                        ErrorCode.UPSTREAM_ERROR,
                        f"{self.family}: result image is too large",
                        provider=self.family,
                    )
                chunks.append(chunk)
        return measured_image(b"".join(chunks), provider=self.family)


# -- helpers (module level so adapters and tests can use them) --------------------
def status_to_code(status: int) -> ErrorCode:
    if status in (401, 403):
        return ErrorCode.AUTH
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status in (408, 504):
        return ErrorCode.TIMEOUT
    if status in (502, 503, 529):
        return ErrorCode.UNAVAILABLE
    if status >= 500:
        return ErrorCode.UPSTREAM_ERROR
    return ErrorCode.INVALID_REQUEST


MODERATION_WORDS = (
    "moderation",
    "content_policy",
    "content policy",
    "safety",
    "nsfw",
    "sensitive",
    "prohibited",
    "inappropriate",
    "datainspectionfailed",
    "flagged",
)


# How providers say their account has no money left: OpenAI `insufficient_quota` (a 429),
# fal/BFL/Replicate 402, DashScope `Arrearage`, Ark `AccountOverdueError`, aggregators'
# "insufficient balance"/"credits".
BILLING_MARKERS = (
    "insufficient_quota",
    "insufficient balance",
    "insufficient_balance",
    "insufficient credits",
    "insufficient_credits",
    "arrearage",
    "accountoverdue",
    "payment required",
)


def is_billing_error(status: int, body: str) -> bool:
    if status == 402:
        return True
    lowered = body[:2000].lower()
    return status in (400, 403, 429) and any(marker in lowered for marker in BILLING_MARKERS)


def looks_like_moderation(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in MODERATION_WORDS)


def extract_error_message(body: Any) -> str:
    """Find a human message in the many error shapes providers use."""
    if isinstance(body, str):
        return body[:500]
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        parts = [str(error.get(k)) for k in ("code", "message") if error.get(k)]
        if parts:
            return ": ".join(parts)[:500]
    if isinstance(error, str):
        return error[:500]
    for key in ("message", "detail", "failure_reason", "errors", "name"):
        value = body.get(key)
        if value:
            return str(value)[:500]
    return ""


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or HTTP date)."""
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


_FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


def measured_image(data: bytes, *, provider: str = "", revised_prompt: str | None = None) -> GeneratedImage:
    """Wrap returned bytes with their real type and size (never trust the provider's word)."""
    if data.lstrip()[:5] in (b"<?xml", b"<svg ") or data.lstrip()[:4] == b"<svg":
        width, height = svg_size(data)
        return GeneratedImage(data, "image/svg+xml", width, height, revised_prompt)
    try:
        with Image.open(io.BytesIO(data)) as img:
            mime = _FORMAT_MIME.get(img.format or "", "application/octet-stream")
            width, height = img.size
    except Exception as exc:
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR, f"{provider}: returned data is not an image", provider=provider
        ) from exc
    return GeneratedImage(data, mime, width, height, revised_prompt)


def decode_b64_image(value: str, *, provider: str = "", revised_prompt: str | None = None) -> GeneratedImage:
    if value.startswith("data:"):
        value = value.split(",", 1)[1]
    try:
        data = base64.b64decode(value, validate=False)
    except ValueError as exc:
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR, f"{provider}: invalid base64 image", provider=provider
        ) from exc
    return measured_image(data, provider=provider, revised_prompt=revised_prompt)


def svg_size(data: bytes) -> tuple[int, int]:
    import re

    head = data[:4096].decode("utf-8", "replace")
    w = re.search(r'\bwidth="([\d.]+)', head)
    h = re.search(r'\bheight="([\d.]+)', head)
    if w and h:
        return int(float(w.group(1))), int(float(h.group(1)))
    vb = re.search(r'viewBox="[\d.\-]+[ ,]+[\d.\-]+[ ,]+([\d.]+)[ ,]+([\d.]+)', head)
    if vb:
        return int(float(vb.group(1))), int(float(vb.group(2)))
    return 0, 0


def check_size(request: GenerationRequest, image: GeneratedImage, *, family: str) -> None:
    """Log a returned size that differs from the catalogue's, so the catalogue can be corrected."""
    if image.mime_type == "image/svg+xml" or not image.width:
        return
    if (image.width, image.height) != (request.width, request.height):
        logger.warning(
            "catalogue size mismatch: %s via %s returned %sx%s, catalogue says %sx%s for %s %s",
            request.model,
            family,
            image.width,
            image.height,
            request.width,
            request.height,
            request.aspect_ratio,
            request.resolution,
        )
