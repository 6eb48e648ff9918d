"""Job webhooks: register, sign (Standard Webhooks), deliver safely, retry on a schedule.

SSRF: a target is resolved first and refused unless every address is global; the
connection then goes to the address that was checked (the URL carries the IP, the Host
header and TLS SNI carry the name), so a DNS answer that changes between check and
connect cannot redirect us. Redirects are never followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
from django.db import IntegrityError, transaction
from django.utils import timezone

from studio.api.models import (
    ApiKey,
    DeliveryStatus,
    JobWebhook,
    WebhookDelivery,
    WebhookEvent,
)
from studio.models import Job, JobStatus

logger = logging.getLogger(__name__)

# Standard Webhooks: 15-30 s per request; we connect within 5 s and give up at 15 s.
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
MAX_RESPONSE_BYTES = 64 * 1024
# Seconds to wait after failed attempt 1, 2, ... (Svix-like: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h);
# 7 attempts over about 17.6 hours. Each wait is chained in countdowns of at most 900 s.
RETRY_DELAYS: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
MAX_COUNTDOWN = 900.0
# A claimed attempt holds the delivery this long; past it, the sweeper may retry.
ATTEMPT_LEASE = timedelta(seconds=60)
PROGRESS_STEP = 25
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

Resolver = Callable[[str, int], Sequence[str]]


class UnsafeTarget(Exception):
    """A webhook URL we refuse to call; the message says why."""


# -- targets ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-case name or IP literal, without brackets
    port: int
    path: str  # path and query, as sent

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def parse_target(url: str) -> Target:
    """Accept only absolute http(s) URLs with a host and no credentials."""
    if not isinstance(url, str) or len(url) > 2000:
        raise UnsafeTarget("The webhook URL must be a string of at most 2000 characters.")
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"The webhook URL is malformed: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("The webhook URL must use http or https.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("The webhook URL must not carry credentials.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("The webhook URL has no host.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=parts.scheme,
        host=host.lower(),
        port=port or (443 if parts.scheme == "https" else 80),
        path=path,
    )


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses (no private, loopback, link-local,
    CGNAT, reserved, multicast or cloud-metadata address, also when wrapped in IPv6)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    return bool(
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
        and not ip.is_unspecified
        and ip not in METADATA_ADDRESSES
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every A and AAAA address of `host`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"The webhook host {host!r} could not be resolved.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_public(target: Target, resolver: Resolver) -> str:
    """Return the address to connect to; refuse if any address of the host is not public."""
    try:
        ipaddress.ip_address(target.host)
        addresses: Sequence[str] = [target.host]
    except ValueError:
        addresses = resolver(target.host, target.port)
    if not addresses:
        raise UnsafeTarget(f"The webhook host {target.host!r} has no address.")
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeTarget(f"The webhook host {target.host!r} resolves to a non-public address ({address}).")
    return addresses[0]


def check_webhook_url(url: str, *, resolver: Resolver | None = None) -> Target:
    """Validate a URL at registration time (it is checked again at every attempt)."""
    target = parse_target(url)
    resolve_public(target, resolver or get_sender().resolver)
    return target


# -- signing -----------------------------------------------------------------------------
def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks, symmetric)."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, webhook_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret=secret, webhook_id=webhook_id, timestamp=stamp, body=body),
        "content-type": "application/json",
        "user-agent": "Studio-Webhooks/1",
    }


# -- sending -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str = ""
    retry_after: float | None = None
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class WebhookSender:
    """Resolve, check, connect to the checked address, POST; `resolver` and `transport`
    are the seams tests inject (a stub DNS, a transport that pins to a local server)."""

    resolver: Resolver = system_resolver
    transport: httpx.BaseTransport | None = None

    def send(self, *, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        try:
            target = parse_target(url)
            address = resolve_public(target, self.resolver)
        except UnsafeTarget as exc:
            return Outcome(error=f"refused: {exc}", refused=True)
        literal = f"[{address}]" if ":" in address else address
        pinned = f"{target.scheme}://{literal}:{target.port}{target.path}"
        extensions: dict[str, Any] = {}
        if target.scheme == "https" and target.host != address:
            extensions["sni_hostname"] = target.host  # TLS is checked against the name
        timeout = httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
        started = time.monotonic()
        try:
            with httpx.Client(
                transport=self.transport, timeout=timeout, follow_redirects=False, trust_env=False
            ) as client:
                request = client.build_request(
                    "POST", pinned, content=body, headers={**headers, "host": target.host_header}, extensions=extensions
                )
                response = client.send(request, stream=True)
                try:
                    received = 0
                    chunks = () if response.is_stream_consumed else response.iter_raw()
                    for chunk in chunks:
                        received += len(chunk)
                        if received > MAX_RESPONSE_BYTES or time.monotonic() - started > TOTAL_TIMEOUT:
                            break  # the answer's body is not ours to read in full
                finally:
                    response.close()
        except httpx.TimeoutException:
            return Outcome(error="timed out")
        except httpx.HTTPError as exc:
            return Outcome(error=f"connection failed: {type(exc).__name__}")
        retry_after = _retry_after(response.headers.get("retry-after"))
        error = ""
        if 300 <= response.status_code < 400:
            error = "redirects are not followed"
        elif not 200 <= response.status_code < 300:
            error = f"answered HTTP {response.status_code}"
        return Outcome(status_code=response.status_code, error=error, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def get_sender() -> WebhookSender:
    """The sender deliveries use; tests monkeypatch this."""
    return WebhookSender()


# -- events ------------------------------------------------------------------------------
def parse_events(value: Any) -> list[str]:
    """`webhookEvents`: a subset of progress/completed/failed; default completed + failed."""
    if value is None:
        return [WebhookEvent.COMPLETED, WebhookEvent.FAILED]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("webhookEvents must be a list of event names.")
    allowed = set(WebhookEvent.values)
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ValueError(f"Unknown webhook event {unknown[0]!r}; use progress, completed or failed.")
    if not value:
        raise ValueError("webhookEvents must name at least one event.")
    return list(dict.fromkeys(value))


def register_job_webhook(*, job: Job, api_key: ApiKey, url: str, events: Iterable[str], base_url: str) -> JobWebhook:
    return JobWebhook.objects.create(job=job, api_key=api_key, url=url, events=list(events), base_url=base_url)


def notify_job_event(*, job_id: int, event: str) -> None:
    """Queue a webhook for a job event if the job's client asked for it.

    Called by the job layer after commit for progress, succeeded, failed and canceled;
    it must never break the job pipeline, so it logs instead of raising.
    """
    try:
        _notify(job_id=job_id, event=event)
    except Exception:
        logger.exception("job %s: could not queue the %s webhook", job_id, event)


def _notify(*, job_id: int, event: str) -> None:
    subscription = JobWebhook.objects.filter(job_id=job_id).select_related("api_key").first()
    if subscription is None:
        return
    kind = {"succeeded": WebhookEvent.COMPLETED, "completed": WebhookEvent.COMPLETED,
            "failed": WebhookEvent.FAILED, "canceled": WebhookEvent.FAILED}.get(event, WebhookEvent.PROGRESS)
    if kind not in subscription.events:
        return
    job = Job.objects.select_related("catalog_model").get(pk=job_id)
    if kind == WebhookEvent.PROGRESS:
        if job.is_terminal:
            return
        bucket = job.progress - job.progress % PROGRESS_STEP
        # Claim the bucket with a conditional update so concurrent reports send it once.
        if not JobWebhook.objects.filter(pk=subscription.pk, last_progress__lt=bucket).update(last_progress=bucket):
            return
    event_type = "job.canceled" if job.status == JobStatus.CANCELED else f"job.{kind}"
    payload = build_payload(job=job, event_type=event_type, base_url=subscription.base_url)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                job=job,
                api_key=subscription.api_key,
                url=subscription.url,
                event=kind,
                event_type=event_type,
                webhook_id=f"msg_{uuid.uuid4().hex}",
                payload=payload.decode(),
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return  # this job's end was already reported
    transaction.on_commit(lambda: enqueue_delivery(delivery_id=delivery.pk))


def build_payload(*, job: Job, event_type: str, base_url: str) -> bytes:
    """A thin payload: ids, status, progress, signed image links, never image bytes."""
    from studio.api.resources import job_resource

    data = job_resource(job, base_url=base_url, include_images=event_type == "job.completed")
    body = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


# -- delivery ----------------------------------------------------------------------------
def enqueue_delivery(*, delivery_id: int, countdown: float = 0) -> None:
    from studio.api.tasks import deliver_webhook_task
    from studio.celery import app

    if countdown > 0 and app.conf.task_always_eager:
        return  # an eager run cannot wait; the sweeper retries it when it is due
    deliver_webhook_task.apply_async((delivery_id,), countdown=min(max(countdown, 0), MAX_COUNTDOWN))


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """The wait after failed attempt number `attempts`, with ±10% jitter; Retry-After is a floor."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    delay = base * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, min(retry_after, 24 * 3600))
    return delay


def deliver_webhook(*, delivery_id: int, sender: WebhookSender | None = None, now: datetime | None = None) -> float | None:
    """Make one attempt if it is due; return seconds until the task should run again, or None.

    Claim (lease the row), send outside any transaction, record the outcome.
    """
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update().select_related("api_key").filter(pk=delivery_id).first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1):
            return (delivery.next_attempt_at - now).total_seconds()  # early: a chained wait
        if delivery.api_key.revoked_at is not None:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "the API key was revoked"
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + ATTEMPT_LEASE
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
    body = delivery.payload.encode()
    headers = signed_headers(secret=delivery.api_key.webhook_secret, webhook_id=delivery.webhook_id, body=body)
    outcome = (sender or get_sender()).send(url=delivery.url, headers=headers, body=body)
    return record_outcome(delivery=delivery, outcome=outcome, now=timezone.now())


def record_outcome(*, delivery: WebhookDelivery, outcome: Outcome, now: datetime) -> float | None:
    fields = {"last_status_code": outcome.status_code, "last_error": outcome.error[:300]}
    delay: float | None = None
    if outcome.ok:
        fields |= {"status": DeliveryStatus.SUCCEEDED, "delivered_at": now, "next_attempt_at": None}
    elif outcome.refused or outcome.status_code == 410 or delivery.attempts >= MAX_ATTEMPTS:
        # 410 Gone means "stop sending" (Standard Webhooks); a refused target stays refused.
        fields |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    else:
        delay = retry_delay(delivery.attempts, outcome.retry_after)
        fields |= {"next_attempt_at": now + timedelta(seconds=delay)}
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(**fields)
    return delay


def retry_stalled_deliveries(*, now: datetime | None = None) -> int:
    """Re-queue pending deliveries whose task was lost (worker or broker restart)."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lt=now - timedelta(minutes=2)
    ).values_list("pk", flat=True)[:500]
    count = 0
    for delivery_id in due:
        enqueue_delivery(delivery_id=delivery_id)
        count += 1
    return count
