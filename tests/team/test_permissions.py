"""The role matrix: every URL under /team/, every role, exact codes (another team's objects
answer 404, a role that may not act answers 403).

The URL list comes from the resolver, so a new team URL without a row here fails the
suite. Roles: anonymous, the owner, an admin, a designer and a viewer of team A, and an
admin of team B (the outsider). Any object of team A in a URL is a 404 for the outsider;
whatever the outsider does acts on team B only, and team A is checked unchanged after
every request that must not change it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from studio.models import (
    Account,
    AuditEvent,
    Invitation,
    Membership,
    ModelAccessRule,
    Team,
    TeamClosure,
    Transfer,
)
from studio.services import team as team_services
from tests.team.conftest import client_for

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "owner", "admin", "designer", "viewer", "outsider")
MEMBERS = ("owner", "admin", "designer", "viewer")


@dataclass
class World:
    team: Team
    other: Team
    people: dict[str, Membership]
    target: Membership
    token: str
    invitation: Invitation
    model_slug: str


@dataclass(frozen=True)
class Row:
    """Expected status per role, per method; `changes` lists roles allowed to change team A."""

    get: dict[str, int]
    post: dict[str, int]
    kwargs: Callable[[World], dict[str, Any]] = lambda w: {}
    data: Callable[[World], dict[str, Any]] = lambda w: {}
    changes: frozenset[str] = field(default_factory=frozenset)


def codes(anonymous: int, owner: int, admin: int, designer: int, viewer: int, outsider: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, owner, admin, designer, viewer, outsider), strict=True))


ANY_MEMBER_PAGE = codes(302, 200, 200, 200, 200, 200)
MANAGER_PAGE = codes(302, 200, 200, 403, 403, 200)  # the outsider sees their own team's page
NOT_ALLOWED = codes(302, 405, 405, 405, 405, 405)
MANAGER_ACTION_HOME = codes(302, 302, 302, 403, 403, 302)  # outsider acts on team B
MANAGER_ACTION_ON_A = codes(302, 302, 302, 403, 403, 404)  # an object of team A in the URL
MANAGERS = frozenset({"owner", "admin"})

MATRIX: dict[str, Row] = {
    "overview": Row(get=ANY_MEMBER_PAGE, post=NOT_ALLOWED),
    "switch": Row(
        get=codes(405, 405, 405, 405, 405, 405),
        post=codes(302, 302, 302, 302, 302, 404),
        data=lambda w: {"team": w.team.pk},
    ),
    "members": Row(get=MANAGER_PAGE, post=NOT_ALLOWED),
    "member_invite": Row(
        get=NOT_ALLOWED, post=MANAGER_ACTION_HOME, data=lambda w: {"role": "designer", "email": ""}, changes=MANAGERS
    ),
    "member_role": Row(
        get=NOT_ALLOWED,
        post=MANAGER_ACTION_ON_A,
        kwargs=lambda w: {"member_id": w.target.pk},
        data=lambda w: {"role": "viewer"},
        changes=MANAGERS,
    ),
    "member_remove": Row(
        get=NOT_ALLOWED, post=MANAGER_ACTION_ON_A, kwargs=lambda w: {"member_id": w.target.pk}, changes=MANAGERS
    ),
    "member_limits": Row(
        get=NOT_ALLOWED,
        post=MANAGER_ACTION_ON_A,
        kwargs=lambda w: {"member_id": w.target.pk},
        data=lambda w: {"monthly_cap": "100", "monthly_refill": ""},
        changes=MANAGERS,
    ),
    "member_concurrency": Row(
        get=NOT_ALLOWED, post=MANAGER_ACTION_HOME, data=lambda w: {"max_running_per_member": "3"}, changes=MANAGERS
    ),
    "invitation_revoke": Row(
        get=NOT_ALLOWED,
        post=MANAGER_ACTION_ON_A,
        kwargs=lambda w: {"invitation_id": w.invitation.pk},
        changes=MANAGERS,
    ),
    # The link itself is the credential: anyone may read it; members of A are told they
    # already belong; the outsider may accept it (that is what an invitation is for).
    "invitation": Row(
        get=codes(200, 200, 200, 200, 200, 200),
        post=codes(302, 400, 400, 400, 400, 302),
        kwargs=lambda w: {"token": w.token},
        changes=frozenset({"outsider"}),
    ),
    "credits": Row(get=MANAGER_PAGE, post=NOT_ALLOWED),
    # The outsider's form only offers team B's members: team A's member is a field error.
    "credits_grant": Row(
        get=NOT_ALLOWED,
        post=codes(302, 302, 302, 403, 403, 400),
        data=lambda w: {"member": w.target.pk, "amount": "10", "memo": "matrix"},
        changes=MANAGERS,
    ),
    "credits_revoke": Row(
        get=NOT_ALLOWED,
        post=codes(302, 302, 302, 403, 403, 400),
        data=lambda w: {"member": w.target.pk, "amount": "10", "memo": "matrix"},
        changes=MANAGERS,
    ),
    # One table, one Save (issue 15): the whole page posts back to itself.
    "access": Row(get=MANAGER_PAGE, post=MANAGER_ACTION_HOME, data=lambda w: {"tier_ultra": "block"}, changes=MANAGERS),
    "access_tier": Row(
        get=NOT_ALLOWED, post=MANAGER_ACTION_HOME, data=lambda w: {"tier": "ultra", "access": "block"}, changes=MANAGERS
    ),
    "access_model": Row(
        get=NOT_ALLOWED,
        post=MANAGER_ACTION_HOME,
        data=lambda w: {"model": w.model_slug, "access": "block"},
        changes=MANAGERS,
    ),
    "ledger": Row(get=ANY_MEMBER_PAGE, post=NOT_ALLOWED),
    "ledger_csv": Row(get=ANY_MEMBER_PAGE, post=NOT_ALLOWED),
    "reports": Row(get=MANAGER_PAGE, post=NOT_ALLOWED),
    "audit": Row(get=MANAGER_PAGE, post=NOT_ALLOWED),
    # Saving the setting as it is (two-factor off) changes nothing; tests/team/test_team_settings.py
    # covers turning it on, which needs the owner's own authenticator app.
    "settings": Row(get=codes(302, 200, 403, 403, 403, 403), post=codes(302, 302, 403, 403, 403, 403)),
    "delete": Row(
        get=codes(302, 200, 403, 403, 403, 403),
        post=codes(302, 302, 403, 403, 403, 403),
        data=lambda w: {"confirm": "Acme"},
        changes=frozenset({"owner"}),
    ),
}


def team_url_patterns() -> dict[str, Any]:
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver) and pattern.namespace == "team":
            return {p.name: p for p in pattern.url_patterns}
    raise AssertionError("the team URLs are not mounted")


def test_the_matrix_covers_every_team_url():
    routes = team_url_patterns()
    assert set(routes) == set(MATRIX), "add a MATRIX row for every URL under /team/"
    for name, row in MATRIX.items():
        assert set(row.get) == set(ROLES) and set(row.post) == set(ROLES), name


@pytest.fixture
def world(team, owner, admin_member, designer, viewer, make_member, outsider, other_team, make_model) -> World:
    target = make_member("tina", balance=300)
    issued = team_services.invite_member(actor=owner, role="designer")
    model = make_model("matrix-model", tier="premium")
    return World(
        team=team,
        other=other_team,
        people={"owner": owner, "admin": admin_member, "designer": designer, "viewer": viewer, "outsider": outsider},
        target=target,
        token=issued.token,
        invitation=issued.invitation,
        model_slug=model.slug,
    )


def fingerprint(team: Team) -> tuple[Any, ...]:
    """Everything an admin action could change in a team."""
    accounts = Account.objects.filter(team=team)
    return (
        sorted(accounts.values_list("pk", "balance")),
        Transfer.objects.filter(debit__in=accounts).count() + Transfer.objects.filter(credit__in=accounts).count(),
        sorted(Membership.objects.filter(team=team).values_list("user_id", "role", "monthly_cap", "monthly_refill")),
        sorted(ModelAccessRule.objects.filter(team=team).values_list("tier", "catalog_model_id", "effect")),
        sorted(Invitation.objects.filter(team=team).values_list("pk", "revoked_at", "accepted_at")),
        AuditEvent.objects.filter(team=team).count(),
        TeamClosure.objects.filter(team=team).exists(),
        Team.objects.filter(pk=team.pk).values_list("max_running_per_member", flat=True).get(),
    )


CELLS = [(name, method, role) for name in sorted(MATRIX) for method in ("GET", "POST") for role in ROLES]


@pytest.mark.parametrize(("name", "method", "role"), CELLS)
def test_matrix_cell(world: World, name: str, method: str, role: str):
    row = MATRIX[name]
    url = reverse(f"team:{name}", kwargs=row.kwargs(world))
    client = Client() if role == "anonymous" else client_for(world.people[role])
    before_a, before_b = fingerprint(world.team), fingerprint(world.other)
    if method == "GET":
        response = client.get(url)
        expected = row.get[role]
    else:
        response = client.post(url, row.data(world))
        expected = row.post[role]
    assert response.status_code == expected, f"{method} {url} as {role}: {response.status_code}, expected {expected}"
    if role == "anonymous" and expected == 302:
        assert response["Location"].startswith(reverse("login"))
    if method == "POST" and role in row.changes and expected == 302:
        assert fingerprint(world.team) != before_a, f"{method} {url} as {role} reported success but changed nothing"
    elif role == "outsider" and method == "POST" and name in ("member_invite", "member_concurrency", "access", "access_tier", "access_model"):
        assert fingerprint(world.team) == before_a
        assert fingerprint(world.other) != before_b, "the outsider's action should land on their own team"
    else:
        assert fingerprint(world.team) == before_a, f"{method} {url} as {role} changed team A"
    if role == "outsider" and response.status_code == 200 and name != "invitation":
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"Acme" not in body and b"tina" not in body, f"{url} leaked team A to the outsider"


def test_outsider_ledger_filter_for_a_member_of_team_a_is_refused(world: World):
    client = client_for(world.people["outsider"])
    response = client.get(reverse("team:ledger"), {"member": world.target.user_id})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content and b"tina" not in response.content
    csv_response = client.get(reverse("team:ledger_csv"), {"member": world.target.user_id})
    assert csv_response.status_code == 400


def test_designers_ledger_shows_only_their_own_entries_whatever_the_filter(world: World):
    client = client_for(world.people["designer"])
    response = client.get(reverse("team:ledger_csv"), {"member": world.target.user_id})
    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert "tina" not in body and "designer" in body


def test_htmx_posts_follow_the_same_rules(world: World):
    url = reverse("team:member_remove", kwargs={"member_id": world.target.pk})
    hx = {"HTTP_HX_REQUEST": "true"}
    assert client_for(world.people["designer"]).post(url, **hx).status_code == 403
    assert client_for(world.people["outsider"]).post(url, **hx).status_code == 404
    response = client_for(world.people["admin"]).post(url, **hx)
    assert response.status_code == 200 and b'id="members-panel"' in response.content and b"<html" not in response.content
    assert not Membership.objects.filter(pk=world.target.pk).exists()


def test_viewer_sees_no_create_link_and_no_composer(world: World):
    client = client_for(world.people["viewer"])
    home = client.get(reverse("studio:home"))
    assert home.status_code == 200
    html = home.content.decode()
    assert ">Create</a>" not in html and 'id="composer"' not in html and "viewer" in html
    refused = client.post(reverse("studio:home"), {"model": world.model_slug, "prompt": "x"})
    assert refused.status_code == 403
    designer_html = client_for(world.people["designer"]).get(reverse("team:overview")).content.decode()
    assert ">Create</a>" in designer_html and ">Team</a>" not in designer_html
    admin_html = client_for(world.people["admin"]).get(reverse("team:overview")).content.decode()
    assert ">Team</a>" in admin_html


def test_object_routes_refuse_htmx_requests_from_other_teams_and_roles_too(world: World):
    """D3: the same codes whether a request comes as a page or as an htmx fragment request."""
    hx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "members-panel"}
    object_routes = [name for name, p in team_url_patterns().items() if p.pattern.converters and name != "invitation"]
    assert set(object_routes) == {"member_role", "member_remove", "member_limits", "invitation_revoke"}
    for name in object_routes:
        row = MATRIX[name]
        url = reverse(f"team:{name}", kwargs=row.kwargs(world))
        before = fingerprint(world.team)
        for role, expected in (("outsider", 404), ("designer", 403), ("viewer", 403)):
            response = client_for(world.people[role]).post(url, row.data(world), **hx)
            assert response.status_code == expected, f"htmx POST {url} as {role}: {response.status_code}"
        assert fingerprint(world.team) == before
