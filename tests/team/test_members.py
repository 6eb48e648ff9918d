"""Members: invitations (link and email), roles, removal, switching teams, deleting the team."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gallery.models import Image
from studio.models import (
    AccountKind,
    AuditAction,
    AuditEvent,
    Invitation,
    Job,
    JobStatus,
    Membership,
    Role,
    TeamClosure,
    Transfer,
    User,
)
from studio.services import credits, jobs
from studio.services import team as team_services
from studio.services.errors import PermissionDenied, StudioError, ValidationFailed
from tests.team.conftest import client_for

pytestmark = pytest.mark.django_db


def pool_balance(team) -> int:
    return credits.team_account(team=team, kind=AccountKind.POOL).balance


def invitation_link(response) -> str:
    text = " ".join(str(m) for m in response.context["messages"]) if response.context else response.content.decode()
    found = re.search(r"http://testserver(/team/invite/[^/\s]+/)", text)
    assert found, text
    return found.group(1)


# -- invitations ----------------------------------------------------------------------
def test_invite_by_email_sends_a_single_use_link_that_joins_the_team(owner_client, team):
    response = owner_client.post(
        reverse("team:member_invite"), {"role": "designer", "email": "New.Person@Example.com"}, follow=True
    )
    assert response.status_code == 200
    link = invitation_link(response)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.com"] and link in message.body and team.name in message.subject
    invitation = Invitation.objects.get()
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert invitation.token_hash != token and token not in invitation.token_hash  # only a hash is stored

    newcomer = User.objects.create_user(username="newbie", email="new.person@example.com", password="pw-new-123")
    client = client_for(newcomer)
    page = client.get(link)
    assert page.status_code == 200 and b"Accept and join" in page.content
    joined = client.post(link)
    assert joined.status_code == 302
    membership = Membership.objects.get(user=newcomer, team=team)
    assert membership.role == Role.DESIGNER
    newcomer.refresh_from_db()
    assert newcomer.current_team_id == team.pk
    assert AuditEvent.objects.filter(team=team, action=AuditAction.JOINED, target_user=newcomer).exists()
    # Single use: a second person cannot reuse it.
    again = client_for(User.objects.create_user(username="late", email="late@example.com", password="pw-late-123"))
    refused = again.post(link)
    assert refused.status_code == 400 and b"already been used" in refused.content


def test_an_emailed_invitation_only_works_for_that_address(owner, team):
    issued = team_services.invite_member(actor=owner, role="viewer", email="right@example.com")
    wrong = User.objects.create_user(username="wrong", email="wrong@example.com", password="pw-wrong-123")
    with pytest.raises(StudioError, match="different email"):
        team_services.accept_invitation(token=issued.token, user=wrong)
    assert not Membership.objects.filter(user=wrong, team=team).exists()


def test_expired_revoked_and_unknown_invitations_are_refused(owner, team, owner_client):
    user = User.objects.create_user(username="late", email="late@example.com", password="pw-late-123")
    expired = team_services.invite_member(actor=owner, role="designer")
    Invitation.objects.filter(pk=expired.invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(StudioError, match="expired"):
        team_services.accept_invitation(token=expired.token, user=user)
    withdrawn = team_services.invite_member(actor=owner, role="designer")
    assert owner_client.post(reverse("team:invitation_revoke", args=[withdrawn.invitation.pk])).status_code == 302
    with pytest.raises(StudioError, match="withdrawn"):
        team_services.accept_invitation(token=withdrawn.token, user=user)
    assert Client().get(reverse("team:invitation", args=["not-a-real-token"])).status_code == 404
    assert not Membership.objects.filter(user=user).exists()


def test_anonymous_visitor_is_sent_to_sign_in_and_back(owner):
    issued = team_services.invite_member(actor=owner, role="designer")
    url = reverse("team:invitation", args=[issued.token])
    page = Client().get(url)
    assert page.status_code == 200 and b"Sign in to accept" in page.content
    response = Client().post(url)
    assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next={url}"


def test_only_the_owner_may_invite_admins(admin_member, owner):
    with pytest.raises(PermissionDenied):
        team_services.invite_member(actor=admin_member, role="admin")
    with pytest.raises(ValidationFailed):
        team_services.invite_member(actor=owner, role="owner")
    assert team_services.invite_member(actor=owner, role="admin").invitation.role == "admin"


def test_admin_page_offers_admins_only_designer_and_viewer(admin_client_):
    html = admin_client_.get(reverse("team:members")).content.decode()
    invite_form = html.split('id="id_role"', 1)[1].split("</select>", 1)[0]
    assert 'value="designer"' in invite_form and 'value="admin"' not in invite_form


def test_invite_form_errors_show_beside_the_field(admin_client_, designer):
    response = admin_client_.post(reverse("team:member_invite"), {"role": "admin", "email": "not-an-email"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice" in html and "Enter a valid email address" in html
    assert not Invitation.objects.exists()
    taken = admin_client_.post(reverse("team:member_invite"), {"role": "viewer", "email": designer.user.email})
    assert taken.status_code == 400 and b"already a member" in taken.content


# -- roles ---------------------------------------------------------------------------------
def test_admin_changes_a_designer_to_viewer_with_an_audit_entry(admin_client_, designer, admin_member):
    response = admin_client_.post(reverse("team:member_role", args=[designer.pk]), {"role": "viewer"})
    assert response.status_code == 302
    designer.refresh_from_db()
    assert designer.role == Role.VIEWER
    event = AuditEvent.objects.get(action=AuditAction.ROLE_CHANGED)
    assert event.actor == admin_member.user and event.target_user == designer.user
    assert event.before == {"role": "designer"} and event.after == {"role": "viewer"}


def test_admins_cannot_promote_demote_or_remove_admins_but_the_owner_can(make_member, admin_member, owner):
    other_admin = make_member("adam", role=Role.ADMIN)
    designer = make_member("dora")
    for attempt in (
        lambda: team_services.change_role(actor=admin_member, target=other_admin, role="designer"),
        lambda: team_services.change_role(actor=admin_member, target=designer, role="admin"),
        lambda: team_services.remove_member(actor=admin_member, target=other_admin),
        lambda: team_services.change_role(actor=admin_member, target=owner, role="viewer"),
        lambda: team_services.remove_member(actor=owner, target=owner),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    assert Membership.objects.get(pk=other_admin.pk).role == Role.ADMIN
    assert Membership.objects.get(pk=designer.pk).role == Role.DESIGNER
    team_services.change_role(actor=owner, target=designer, role="admin")
    team_services.change_role(actor=owner, target=other_admin, role="viewer")
    assert Membership.objects.get(pk=designer.pk).role == Role.ADMIN
    assert Membership.objects.get(pk=other_admin.pk).role == Role.VIEWER


def test_refused_role_change_says_why_beside_the_member(admin_client_, make_member):
    other_admin = make_member("adam", role=Role.ADMIN)
    response = admin_client_.post(reverse("team:member_role", args=[other_admin.pk]), {"role": "owner"})
    assert response.status_code == 400 and b"Choose one of the roles offered" in response.content
    response = admin_client_.post(reverse("team:member_role", args=[other_admin.pk]), {"role": "viewer"})
    assert response.status_code == 403 and b"Only the team owner can promote" in response.content
    assert Membership.objects.get(pk=other_admin.pk).role == Role.ADMIN


# -- removal -------------------------------------------------------------------------------
def test_removing_a_member_returns_their_balance_and_keeps_their_team_images(
    team, owner, designer, ai_model, make_member, django_capture_on_commit_callbacks
):
    colleague = make_member("colin")
    with django_capture_on_commit_callbacks(execute=True):
        spec = jobs.validate_job(membership=designer, model="test-model", prompt="a barn owl")
        job = jobs.submit_job(membership=designer, spec=spec)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    image = Image.objects.get(job=job)
    balance = credits.member_balance(membership=designer)
    pool_before = pool_balance(team)

    returned = team_services.remove_member(actor=owner, target=designer)

    assert returned == balance
    assert pool_balance(team) == pool_before + balance
    assert credits.member_balance(membership=designer) == 0
    assert not Membership.objects.filter(pk=designer.pk).exists()
    assert Image.objects.visible_to(colleague.user).filter(pk=image.pk).exists()
    designer.user.refresh_from_db()
    assert designer.user.current_team_id is None
    event = AuditEvent.objects.get(action=AuditAction.REMOVED)
    assert event.before["balance"] == balance and event.after["returned_to_pool"] == balance
    assert event.transfer is not None and event.transfer.amount == balance
    assert credits.ledger_is_balanced()


def test_removing_a_member_cancels_their_jobs_in_progress_first(
    team, owner, designer, ai_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        spec = jobs.validate_job(membership=designer, model="test-model", prompt="still queued", count=2)
        job = jobs.submit_job(membership=designer, spec=spec)
    pool_before = pool_balance(team)
    team_services.remove_member(actor=owner, target=designer)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED and job.credits_charged == 0
    assert pool_balance(team) == pool_before + 1000  # the whole grant, hold included
    assert credits.ledger_is_balanced()


def test_a_removed_member_cannot_spend_with_a_stale_session(team, owner, designer, ai_model):
    spec = jobs.validate_job(membership=designer, model="test-model", prompt="too late")
    team_services.remove_member(actor=owner, target=designer)
    with pytest.raises(PermissionDenied, match="no longer a member"):
        jobs.submit_job(membership=designer, spec=spec)
    assert not Job.objects.exists()


# -- switching and deleting --------------------------------------------------------------------
def test_switching_between_my_teams(owner, other_team, owner_client):
    from studio.services import teams

    teams.add_member(team=other_team, user=owner.user, role=Role.VIEWER)
    response = owner_client.post(reverse("team:switch"), {"team": other_team.pk})
    assert response.status_code == 302
    owner.user.refresh_from_db()
    assert owner.user.current_team_id == other_team.pk
    assert owner_client.post(reverse("team:switch"), {"team": "nope"}).status_code == 404


def test_owner_deletes_the_team_after_confirming(team, owner, designer, owner_client):
    transfers_before = Transfer.objects.count()
    page = owner_client.get(reverse("team:delete"))
    assert page.status_code == 200
    wrong = owner_client.post(reverse("team:delete"), {"confirm": "acme"})
    assert wrong.status_code == 400 and b"exactly to confirm" in wrong.content
    assert Transfer.objects.count() == transfers_before and not TeamClosure.objects.exists()

    response = owner_client.post(reverse("team:delete"), {"confirm": "Acme"})
    assert response.status_code == 302
    assert TeamClosure.objects.filter(team=team).exists()
    assert not Membership.objects.filter(team=team).exists()
    for kind in (AccountKind.POOL, AccountKind.HOLDS):
        assert credits.account_balance(account=credits.team_account(team=team, kind=kind)) == 0
    assert credits.member_balance(membership=designer) == 0
    assert credits.ledger_is_balanced()
    with pytest.raises(StudioError, match="deleted"):
        team_services.top_up_team(team=team, amount=10, memo="after the end")
    assert AuditEvent.objects.filter(team=team, action=AuditAction.TEAM_DELETED).exists()


def test_a_team_with_jobs_in_progress_is_not_deleted(team, owner, designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="busy"))
    with pytest.raises(StudioError, match="still in progress"):
        team_services.delete_team(actor=owner, confirm="Acme")
    assert Membership.objects.filter(team=team).count() == 2 and not TeamClosure.objects.exists()
