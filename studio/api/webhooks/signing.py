"""Standard Webhooks signatures (symmetric `v1`, HMAC-SHA256 over "id.timestamp.body")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks, symmetric)."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    *, secret: str, webhook_id: str, body: bytes, timestamp: int | None = None, also: Sequence[str] = ()
) -> dict[str, str]:
    """The delivery headers; with `also` (a rotated-out secret still in its overlap window)
    `webhook-signature` carries one space-separated signature per secret, current first."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signatures = [
        sign(secret=each, webhook_id=webhook_id, timestamp=stamp, body=body)
        for each in dict.fromkeys([secret, *also])
    ]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "Studio-Webhooks/1",
    }


