"""The per-process copy of keys and catalogue: edits here are seen at once, edits made by
another process (a bumped shared version) within VERSION_TTL, and never later."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.db.models import F

from studio.api.models import ApiKey
from studio.services import config_cache
from tests.api.helpers import error_of

pytestmark = pytest.mark.django_db


def another_process_bumps() -> None:
    cache.set(config_cache.VERSION_KEY, uuid.uuid4().hex, timeout=None)


def test_a_key_revoked_by_another_process_is_refused_within_the_version_ttl(api, key_pair, monkeypatch):
    key, _ = key_pair
    clock = [1000.0]
    monkeypatch.setattr(config_cache.time, "monotonic", lambda: clock[0])
    assert api.get("/v1/models").status_code == 200
    # Another process revokes it: a queryset update there, then its bump of the shared version.
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=F("created_at"))
    another_process_bumps()

    clock[0] += config_cache.VERSION_TTL / 2
    assert api.get("/v1/models").status_code == 200  # this process has not asked yet

    clock[0] += config_cache.VERSION_TTL
    assert error_of(api.get("/v1/models"), 401)["code"] == "unauthorized"


def test_the_version_is_asked_once_per_ttl_not_once_per_read(monkeypatch):
    asked: list[str] = []
    real_get = cache.get
    monkeypatch.setattr(config_cache.cache, "get", lambda key, *a, **k: asked.append(key) or real_get(key, *a, **k))
    clock = [50.0]
    monkeypatch.setattr(config_cache.time, "monotonic", lambda: clock[0])

    for n in range(5):
        assert config_cache.cached("test", "k", lambda n=n: n) == 0
    assert asked.count(config_cache.VERSION_KEY) == 1

    clock[0] += config_cache.VERSION_TTL
    another_process_bumps()
    assert config_cache.cached("test", "k", lambda: 7) == 7  # the new version dropped the copy
    assert asked.count(config_cache.VERSION_KEY) == 2


def test_an_edit_in_this_process_is_seen_at_once(monkeypatch):
    monkeypatch.setattr(config_cache.time, "monotonic", lambda: 10.0)  # the clock stands still
    assert config_cache.cached("test", "k", lambda: "old") == "old"
    config_cache.bump()
    assert config_cache.cached("test", "k", lambda: "new") == "new"
