"""A per-key fixed-window request counter in the shared cache."""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def check_rate_limit(*, bucket: str) -> int | None:
    """Count one request for `bucket`; return seconds to wait if over the limit, else None."""
    limit = settings.STUDIO_API_RATE_LIMIT
    window = max(int(settings.STUDIO_API_RATE_WINDOW), 1)
    if limit <= 0:
        return None
    now = time.time()
    slot = int(now // window)
    cache_key = f"api-rate:{bucket}:{slot}"
    try:
        if cache.add(cache_key, 1, timeout=window + 5):
            count = 1
        else:
            try:
                count = cache.incr(cache_key)
            except ValueError:  # expired between add and incr: this is the window's first
                cache.set(cache_key, 1, timeout=window + 5)
                count = 1
    except Exception:
        # A cache outage must not take the API down with it: let the request through.
        logger.warning("rate limit cache unavailable; not limiting", exc_info=True)
        return None
    if count > limit:
        return max(1, math.ceil((slot + 1) * window - now))
    return None
