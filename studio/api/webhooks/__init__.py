"""Job webhooks (Standard Webhooks): `ssrf` is the guarded, pinned transport, `signing`
signs, `delivery` subscribes, builds payloads and retries. The names are re-exported here
so `studio.api.webhooks.<name>` keeps working; patch a name where it is defined."""

from __future__ import annotations

from studio.api.webhooks.delivery import (
    ATTEMPT_LEASE,
    MAX_ATTEMPTS,
    MAX_COUNTDOWN,
    PROGRESS_STEP,
    RETRY_DELAYS,
    build_payload,
    deliver_webhook,
    enqueue_delivery,
    notify_job_event,
    parse_events,
    record_outcome,
    register_job_webhook,
    retry_delay,
    retry_stalled_deliveries,
)
from studio.api.webhooks.signing import secret_bytes, sign, signed_headers
from studio.api.webhooks.ssrf import (
    CONNECT_TIMEOUT,
    MAX_RESPONSE_BYTES,
    TOTAL_TIMEOUT,
    Outcome,
    Target,
    UnsafeTarget,
    WebhookSender,
    check_webhook_url,
    get_sender,
    is_public_address,
    parse_target,
    resolve_public,
    system_resolver,
)

__all__ = [
    "ATTEMPT_LEASE", "CONNECT_TIMEOUT", "MAX_ATTEMPTS", "MAX_COUNTDOWN", "MAX_RESPONSE_BYTES",
    "PROGRESS_STEP", "RETRY_DELAYS", "TOTAL_TIMEOUT", "Outcome", "Target", "UnsafeTarget",
    "WebhookSender", "build_payload", "check_webhook_url", "deliver_webhook", "enqueue_delivery",
    "get_sender", "is_public_address", "notify_job_event", "parse_events", "parse_target",
    "record_outcome", "register_job_webhook", "resolve_public", "retry_delay",
    "retry_stalled_deliveries", "secret_bytes", "sign", "signed_headers", "system_resolver",
]
