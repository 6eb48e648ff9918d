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
        try:
            count = cache.incr(cache_key)  # the common case: the window has a counter
        except ValueError:
            # The window's first request; add() loses a race to a concurrent first, so count again.
            count = 1 if cache.add(cache_key, 1, timeout=window + 5) else cache.incr(cache_key)
    except Exception:
        # A cache outage must not take the API down with it: let the request through.
        logger.warning("rate limit cache unavailable; not limiting", exc_info=True)
        return None
    if count > limit:
        return max(1, math.ceil((slot + 1) * window - now))
    return None
