"""A per-process cache of what every API call reads and the admin rarely edits: the
catalogue (models by slug or alias), API keys with their memberships, and each team's
model access rules.

Every process keeps its own dict; one shared version (in the Django cache, Redis in
production) says whether it is still good. Any save or delete of the rows behind it bumps
the version (`studio.apps` connects the signals; bulk writes and queryset updates call
`bump()` themselves). The process that made the edit sees it at once; the others ask for the
version at most once every VERSION_TTL seconds (a request would otherwise ask once per
cached read), so an edit or a revoked key reaches every process within that second. If the
shared cache is down, nothing is cached: the database answers as before.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "studio:config-version"
MAX_ENTRIES = 2048
VERSION_TTL = 1.0

T = TypeVar("T")
_lock = threading.Lock()
_entries: dict[tuple[str, str], Any] = {}
_version: list[str | None] = [None]
_version_read_at: list[float] = [float("-inf")]


def current_version() -> str | None:
    if _version[0] is not None and time.monotonic() - _version_read_at[0] < VERSION_TTL:
        return _version[0]
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            version = uuid.uuid4().hex
            if not cache.add(VERSION_KEY, version, timeout=None):
                version = cache.get(VERSION_KEY)
        _version_read_at[0] = time.monotonic()
        return version
    except Exception:  # noqa: BLE001 - a cache outage must not take the API down
        return None


def cached(kind: str, key: str, load: Callable[[], T | None]) -> T | None:
    """`load()`'s answer for (kind, key), from this process's copy while the version holds.

    A None answer (unknown key, unknown model) is not kept: creating the row must not wait
    for a bump. The caller gets a copy, so nothing it sets leaks into other requests.
    """
    version = current_version()
    if version is None:
        return load()
    with _lock:
        if _version[0] != version:
            _entries.clear()
            _version[0] = version
        found = _entries.get((kind, key))
    if found is None:
        found = load()
        if found is None:
            return None
        with _lock:
            if _version[0] == version:
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[(kind, key)] = found
    return copy.copy(found)


def clear_local() -> None:
    with _lock:
        _entries.clear()
        _version[0] = None
        _version_read_at[0] = float("-inf")


def bump() -> None:
    """Invalidate every process's copy, once the current transaction (if any) commits."""

    def do_bump() -> None:
        clear_local()
        with contextlib.suppress(Exception):  # without the shared cache nothing was cached
            cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)

    clear_local()  # this process at once, so a rolled-back edit is not cached either
    transaction.on_commit(do_bump)


def on_change(sender: Any, **kwargs: Any) -> None:
    """post_save / post_delete receiver for the models behind the cache."""
    bump()
