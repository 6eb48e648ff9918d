"""Guessing protection: sign-in lockout per username and per address, API key throttling,
and the security events in the team's audit trail."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.sites import site
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from studio.api.auth import create_api_key
from studio.models import AuditAction, AuditEvent, Role, User
from studio.services import team as team_services
from studio.services import teams

pytestmark = pytest.mark.django_db
PASSWORD = "pw-owner-123"  # tests/conftest.py's owner


def sign_in(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_wrong_passwords_lock_the_username_out_even_with_the_right_one_then(team, settings):
    client = Client()
    statuses = [sign_in(client, "owner", f"wrong-{n}", ip=f"10.0.0.{n}").status_code for n in range(1, 7)]
    # Each guess from its own address: the username lock alone stops them.
    assert statuses[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert statuses[settings.AXES_FAILURE_LIMIT - 1 :] == [429] * (7 - settings.AXES_FAILURE_LIMIT)
    locked = sign_in(client, "owner", PASSWORD, ip="10.0.0.99")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-ins" in page and "15 minutes" in page
    assert "_auth_user_id" not in client.session
    trail = AuditEvent.objects.filter(team=team)
    # Every refused attempt is in the trail, those made while locked out included.
    assert trail.filter(action=AuditAction.SIGN_IN_FAILED).count() == 7
    assert trail.filter(action=AuditAction.LOCKED_OUT).exists()
    # Staff unlock: deleting the attempts in the admin (AccessAttempt is registered there).
    assert AccessAttempt in site._registry
    AccessAttempt.objects.filter(username="owner").delete()
    assert sign_in(client, "owner", PASSWORD, ip="10.0.0.99").status_code == 302
    assert trail.filter(action=AuditAction.SIGNED_IN, after__ip="10.0.0.99").count() == 1


def test_one_address_guessing_many_usernames_is_locked_out(team, settings):
    statuses = [sign_in(Client(), f"nobody-{n}", "guess", ip="10.9.9.9").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    # The attempt that reaches the limit is answered with the lockout page already.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    assert sign_in(Client(), "owner", PASSWORD, ip="10.9.9.9").status_code == 429
    # Another address is not affected.
    assert sign_in(Client(), "owner", PASSWORD, ip="10.9.9.10").status_code == 302


def test_a_success_resets_the_count(team, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "owner", "wrong")
    assert sign_in(client, "owner", PASSWORD).status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(Client(), "owner", "wrong").status_code == 200


def test_password_change_and_api_keys_and_roles_are_in_the_trail(team):
    owner = team.memberships.get(role=Role.OWNER)
    client = Client()
    client.force_login(owner.user)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "a-new-long-phrase-9", "new_password2": "a-new-long-phrase-9"},
    )
    assert response.status_code == 302
    key, _ = create_api_key(membership=owner, name="ci")
    assert client.post(reverse("api_ui:revoke", args=[key.pk])).status_code in (200, 302)
    user = User.objects.create_user(username="dee", email="dee@example.com", password="pw-dee-123")
    member = teams.add_member(team=team, user=user, role=Role.VIEWER)
    team_services.change_role(actor=owner, target=member, role=Role.DESIGNER)
    actions = set(AuditEvent.objects.filter(team=team).values_list("action", flat=True))
    assert {
        AuditAction.PASSWORD_CHANGED,
        AuditAction.API_KEY_CREATED,
        AuditAction.API_KEY_REVOKED,
        AuditAction.ROLE_CHANGED,
    } <= actions


def test_wrong_api_keys_are_throttled_per_client_address(team, settings):
    cache.clear()
    settings.STUDIO_API_KEY_FAILURE_LIMIT = 5
    owner = team.memberships.get(role=Role.OWNER)
    _, secret = create_api_key(membership=owner, name="good")
    bad = Client(HTTP_AUTHORIZATION="Bearer stu_000000000000_wrong", REMOTE_ADDR="10.1.1.1")
    statuses = [bad.get("/v1/models").status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    throttled = bad.get("/v1/models")
    assert throttled.json()["error"]["code"] == "rate_limited" and int(throttled["Retry-After"]) > 0
    # The right key from that address waits too (no more guesses get checked)...
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="10.1.1.1").get("/v1/models").status_code == 429
    # ...while other addresses carry on.
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="10.1.1.2").get("/v1/models").status_code == 200
    cache.clear()
