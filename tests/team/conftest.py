"""Team A with one member of each role, and team B with its own admin (the outsider)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from studio.models import Membership, Role, Team, User
from studio.services import credits, teams


@pytest.fixture
def owner(team: Team) -> Membership:
    return Membership.objects.select_related("user", "team").get(team=team, role=Role.OWNER)


@pytest.fixture
def admin_member(make_member: Callable[..., Membership]) -> Membership:
    return make_member("alice", role=Role.ADMIN, balance=500)


@pytest.fixture
def viewer(make_member: Callable[..., Membership]) -> Membership:
    return make_member("victor", role=Role.VIEWER, balance=0)


@pytest.fixture
def other_team(db: None) -> Team:
    boss = User.objects.create_user(username="boss-b", email="boss-b@example.com", password="pw-boss-123")
    other = teams.create_team(name="Beta", owner=boss)
    credits.top_up_pool(team=other, amount=50_000, memo="test")
    return other


@pytest.fixture
def outsider(other_team: Team) -> Membership:
    """An admin of team B: powerful at home, nobody in team A."""
    user = User.objects.create_user(username="oscar", email="oscar@example.com", password="pw-oscar-123")
    return teams.add_member(team=other_team, user=user, role=Role.ADMIN)


def client_for(who: Membership | User) -> Client:
    client = Client()
    client.force_login(who.user if isinstance(who, Membership) else who)
    return client


@pytest.fixture
def owner_client(owner: Membership) -> Client:
    return client_for(owner)


@pytest.fixture
def admin_client_(admin_member: Membership) -> Client:
    return client_for(admin_member)
