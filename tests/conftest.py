"""Shared fixtures: a small catalogue, a funded team, and media in a temp folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from providers.models import CatalogModel
from studio.models import Membership, Role, Team, User
from studio.services import credits, teams
from tests.fakes.server import FakeProvider

# Benchmarks run only under `make bench` (STUDIO_BENCH=1), never in `make test`.
collect_ignore_glob: list[str] = []
if os.environ.get("STUDIO_BENCH") != "1":
    collect_ignore_glob.append("bench")
# The load and chaos suite runs under `make loadtest` (PostgreSQL + Redis), not `make test`.
if os.environ.get("STUDIO_LOAD") != "1":
    collect_ignore_glob.append("load")

SQUARE_AND_WIDE = {"default": {"1:1": [1024, 1024], "16:9": [1344, 768], "9:16": [768, 1344]}}


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> None:
    """Each test's rows are rolled back: what this process remembered of the last test's
    catalogue, provider status, account and API key rows (config_cache, providers.status,
    the ledger's account ids, the keys' last use) must go with them."""
    from providers import status
    from studio.api import auth
    from studio.services import config_cache, credits

    config_cache.clear_local()
    credits.clear_account_ids()
    status._STATUS_ROWS.clear()
    status._success_written.clear()
    auth._last_used_written.clear()


@pytest.fixture(autouse=True)
def _media_storage(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": None},
        },
    }


@pytest.fixture
def make_model(db: None) -> Callable[..., CatalogModel]:
    def make(slug: str = "test-model", **overrides: Any) -> CatalogModel:
        fields: dict[str, Any] = {
            "display_name": slug.replace("-", " ").title(),
            "family": "openai",
            "remote_model": slug,
            "tier": "standard",
            "credits_per_image": 20,
            "capabilities": {
                "text_to_image": True,
                "edit": True,
                "max_references": 2,
                "mask": True,
                "max_count": 4,
                "qualities": ["low", "high"],
                "aspect_ratios": ["1:1", "16:9", "9:16"],
                "output_formats": ["png", "jpeg", "webp"],
                "seed": True,
                "negative_prompt": True,
                "styles": [],
            },
            "sizes": SQUARE_AND_WIDE,
            "default_aspect_ratio": "1:1",
            "default_resolution": "default",
            "timeout_seconds": 60,
        }
        fields.update(overrides)
        return CatalogModel.objects.create(slug=slug, **fields)

    return make


@pytest.fixture
def ai_model(make_model: Callable[..., CatalogModel]) -> CatalogModel:
    return make_model()


@pytest.fixture
def team(db: None) -> Team:
    owner = User.objects.create_user(username="owner", email="owner@example.com", password="pw-owner-123")
    team = teams.create_team(name="Acme", owner=owner)
    credits.top_up_pool(team=team, amount=100_000, memo="test")
    return team


@pytest.fixture
def make_member(team: Team) -> Callable[..., Membership]:
    def make(username: str = "designer", *, role: str = Role.DESIGNER, balance: int = 1000, team_: Team | None = None) -> Membership:
        target = team_ or team
        user = User.objects.create_user(username=username, email=f"{username}@example.com", password="pw-123-secret")
        membership = teams.add_member(team=target, user=user, role=role)
        if balance:
            credits.grant_credits(membership=membership, amount=balance, memo="test")
        return membership

    return make


@pytest.fixture
def designer(make_member: Callable[..., Membership]) -> Membership:
    return make_member()


@pytest.fixture
def designer_client(designer: Membership) -> Client:
    client = Client()
    client.force_login(designer.user)
    return client


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A fake OpenAI / Gemini / BFL server on 127.0.0.1 (tests/fakes/server.py)."""
    with FakeProvider() as fake:
        yield fake
