"""The team settings page (owner only) and its two-factor rule for owners and admins."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studio.api.auth import create_api_key
from studio.models import AuditAction, AuditEvent, Team
from tests.otp import enrolled, next_code
from tests.team.conftest import client_for

pytestmark = pytest.mark.django_db


def require(team: Team) -> None:
    Team.objects.filter(pk=team.pk).update(require_two_factor=True)


def sign_in(username: str, password: str) -> tuple[Client, str]:
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    assert response.status_code == 302
    return client, response["Location"]


def test_only_the_owner_opens_the_settings(owner_client, admin_client_, admin_member, designer_client):
    page = owner_client.get(reverse("team:settings"))
    assert page.status_code == 200 and "Require two-factor sign-in for the owner and admins" in page.content.decode()
    assert f'href="{reverse("team:settings")}"' in page.content.decode()
    for client in (admin_client_, designer_client):
        refused = client.post(reverse("team:settings"), {"require_two_factor": "on"})
        assert refused.status_code == 403 and "Only the team owner" in refused.content.decode()
    assert f'href="{reverse("team:settings")}"' not in admin_client_.get(reverse("team:members")).content.decode()
    assert Team.objects.get(pk=admin_member.team_id).require_two_factor is False


def test_the_owner_must_enrol_before_requiring_it(team, owner_client):
    response = owner_client.post(reverse("team:settings"), {"require_two_factor": "on"})
    assert response.status_code == 400
    assert "Turn on two-factor sign-in for your own account first" in response.content.decode()
    team.refresh_from_db()
    assert team.require_two_factor is False
    assert not AuditEvent.objects.filter(team=team, action=AuditAction.TWO_FACTOR_RULE).exists()


def test_turning_the_rule_on_and_off_is_audited(team, owner):
    enrolled(owner.user)
    client = Client()
    client.post(reverse("login"), {"username": "owner", "password": "pw-owner-123"})
    client.post(reverse("two_factor_sign_in"), {"code": next_code(owner.user.totpdevice_set.get())})
    assert client.post(reverse("team:settings"), {"require_two_factor": "on"}).status_code == 302
    team.refresh_from_db()
    assert team.require_two_factor is True
    # The owner's own verified session keeps working under the rule.
    assert client.get(reverse("team:settings")).status_code == 200
    assert client.post(reverse("team:settings"), {}).status_code == 302
    events = AuditEvent.objects.filter(team=team, action=AuditAction.TWO_FACTOR_RULE).order_by("pk")
    assert [(e.before, e.after, e.actor) for e in events] == [
        ({"require_two_factor": False}, {"require_two_factor": True}, owner.user),
        ({"require_two_factor": True}, {"require_two_factor": False}, owner.user),
    ]
    # Saving the same value again writes nothing.
    client.post(reverse("team:settings"), {})
    assert events.count() == 2


def test_an_admin_without_an_app_is_sent_to_enrol_and_kept_out_of_team_pages(team, admin_member, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    require(team)
    client, landing = sign_in("alice", "pw-123-secret")
    assert landing == reverse("security")
    assert "Your team requires two-factor sign-in" in client.get(landing).content.decode()
    for name in ("team:members", "team:credits", "team:audit", "team:overview"):
        refused = client.get(reverse(name))
        assert refused.status_code == 302 and refused["Location"] == reverse("security"), name
    # Enrolling in this session opens the pages at once.
    client.post(reverse("security_enrol"))
    device = admin_member.user.totpdevice_set.get()
    assert client.post(reverse("security_confirm"), {"code": next_code(device)}).status_code == 302
    assert client.get(reverse("team:members")).status_code == 200


def test_a_session_opened_without_a_code_is_kept_out_even_when_enrolled(team, owner):
    enrolled(owner.user)
    require(team)
    client = client_for(owner)  # a session that never showed a code
    refused = client.get(reverse("team:members"))
    assert refused.status_code == 302 and refused["Location"] == reverse("security")
    assert "sign out and sign in again" in client.get(reverse("security")).content.decode()


def test_designers_viewers_and_api_keys_are_not_affected(team, owner, designer, viewer):
    require(team)
    for username in ("designer", "victor"):
        client, landing = sign_in(username, "pw-123-secret")
        assert landing == reverse("studio:home")
        assert client.get(reverse("team:overview")).status_code == 200
    _, secret = create_api_key(membership=owner, name="ci")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/v1/models").status_code == 200


def test_the_rule_in_another_team_does_not_reach_this_one(team, outsider, other_team):
    require(other_team)
    client, landing = sign_in("owner", "pw-owner-123")
    assert landing == reverse("studio:home")
    assert client.get(reverse("team:members")).status_code == 200
