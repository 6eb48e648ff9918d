"""Standard Webhooks signatures (symmetric `v1`, HMAC-SHA256 over "id.timestamp.body")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


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


