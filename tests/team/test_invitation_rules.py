"""Invitations cannot raise a role: one open per email and team, accepting closes the rest,
bound to the invited address, and signing up through one joins that team only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studio.models import AuditAction, AuditEvent, Invitation, Membership, Role, Team, User
from studio.services import team as team_services
from studio.services.errors import StudioError
from tests.team.conftest import client_for

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-pass-phrase-1"


def is_open(issued: team_services.IssuedInvitation) -> bool:
    invitation = Invitation.objects.get(pk=issued.invitation.pk)
    return invitation.accepted_at is None and invitation.revoked_at is None


def test_a_new_invitation_to_the_same_email_replaces_the_old_one(owner, team):
    viewer = team_services.invite_member(actor=owner, role="viewer", email="Vic@Example.com")
    designer = team_services.invite_member(actor=owner, role="designer", email="vic@example.com")
    assert not is_open(viewer) and is_open(designer)
    # Other addresses, other teams and plain links are untouched.
    other = team_services.invite_member(actor=owner, role="viewer", email="someone@example.com")
    link = team_services.invite_member(actor=owner, role="viewer")
    assert is_open(other) and is_open(link) and is_open(designer)
    assert AuditEvent.objects.filter(
        team=team, action=AuditAction.INVITATION_REVOKED, memo="replaced by a new invitation"
    ).count() == 1
    user = User.objects.create_user(username="vic", email="vic@example.com", password=PASSWORD)
    with pytest.raises(StudioError, match="withdrawn"):
        team_services.accept_invitation(token=viewer.token, user=user)


def test_accepting_one_invitation_closes_every_other_for_that_email(owner, team):
    # The reported path: a viewer invitation accepted, then a designer one still open.
    viewer = team_services.invite_member(actor=owner, role="viewer", email="vic@example.com")
    # A plain link (no email) held by the same person is a second route to the team.
    link = team_services.invite_member(actor=owner, role="designer")
    Invitation.objects.filter(pk=link.invitation.pk).update(email="")
    user = User.objects.create_user(username="vic", email="vic@example.com", password=PASSWORD)
    team_services.accept_invitation(token=viewer.token, user=user)
    assert Membership.objects.get(user=user, team=team).role == Role.VIEWER
    # The link is refused too: already a member, so the role cannot be raised through it.
    with pytest.raises(StudioError, match="already a member"):
        team_services.accept_invitation(token=link.token, user=user)
    assert Membership.objects.get(user=user, team=team).role == Role.VIEWER


def test_a_second_invitation_made_through_a_race_is_closed_on_acceptance(owner, team):
    first = team_services.invite_member(actor=owner, role="viewer", email="vic@example.com")
    second = team_services.invite_member(actor=owner, role="admin", email="other@example.com")
    # Simulate an open duplicate that slipped in (e.g. data from before this rule).
    Invitation.objects.filter(pk=second.invitation.pk).update(email="vic@example.com")
    user = User.objects.create_user(username="vic", email="vic@example.com", password=PASSWORD)
    team_services.accept_invitation(token=first.token, user=user)
    assert not is_open(second)
    with pytest.raises(StudioError):
        team_services.accept_invitation(token=second.token, user=user)
    assert Membership.objects.get(user=user, team=team).role == Role.VIEWER


def test_an_invitation_is_bound_to_its_email_when_signed_in_with_another_address(owner, team):
    issued = team_services.invite_member(actor=owner, role="designer", email="right@example.com")
    wrong = User.objects.create_user(username="wrong", email="wrong@example.com", password=PASSWORD)
    url = reverse("team:invitation", args=[issued.token])
    response = client_for(wrong).post(url)
    assert response.status_code == 400 and b"different email address" in response.content
    assert not Membership.objects.filter(user=wrong, team=team).exists() and is_open(issued)


def test_signing_up_through_an_invitation_joins_that_team_only(owner, team):
    issued = team_services.invite_member(actor=owner, role="designer", email="new@example.com")
    page = Client().get(reverse("team:invitation", args=[issued.token])).content.decode()
    signup_url = reverse("signup") + f"?invitation={issued.token}"
    assert signup_url in page
    form = Client().get(signup_url).content.decode()
    assert 'name="team_name"' not in form and "Leave empty for" not in form and team.name in form
    client = Client()
    response = client.post(
        reverse("signup"),
        {"invitation": issued.token, "username": "newbie", "email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert list(Membership.objects.filter(user=user).values_list("team__name", "role")) == [(team.name, "designer")]
    assert not Team.objects.filter(memberships__user=user, memberships__role=Role.OWNER).exists()
    user.refresh_from_db()
    assert user.current_team_id == team.pk and not is_open(issued)
    assert client.get(reverse("studio:home")).status_code == 200


def test_invited_sign_up_with_another_address_is_refused_and_leaves_no_account(owner, team):
    issued = team_services.invite_member(actor=owner, role="designer", email="new@example.com")
    response = Client().post(
        reverse("signup"),
        {"invitation": issued.token, "username": "sneaky", "email": "sneaky@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 400 and b"This invitation is for new@example.com" in response.content
    assert not User.objects.filter(username="sneaky").exists() and is_open(issued)


def test_invited_sign_up_with_a_used_or_unknown_invitation_is_refused(owner, team):
    issued = team_services.invite_member(actor=owner, role="designer")
    team_services.accept_invitation(
        token=issued.token, user=User.objects.create_user(username="first", email="f@example.com", password=PASSWORD)
    )
    for token in (issued.token, "not-a-token"):
        response = Client().post(
            reverse("signup"),
            {"invitation": token, "username": "second", "email": "s@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
        assert response.status_code == 400
    assert not User.objects.filter(username="second").exists()
