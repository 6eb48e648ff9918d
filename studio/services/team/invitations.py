"""Invitations: single-use links (optionally bound to an email) that join a team with a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from studio.models import AuditAction, Invitation, Membership, Role, Team, User
from studio.services import teams
from studio.services.errors import PermissionDenied, StudioError, ValidationFailed
from studio.services.team.access import require_manager
from studio.services.team.audit import log_event
from studio.services.team.lifecycle import is_closed
from studio.services.team.members import ASSIGNABLE_ROLES

INVITATION_DAYS = 7


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvitation:
    """The invitation and its token: the token is shown once and never stored."""

    invitation: Invitation
    token: str


def _open_for_email(*, team: Team, email: str) -> QuerySet[Invitation]:
    return Invitation.objects.filter(team=team, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True)


def _close_others(*, team: Team, email: str, keep: Invitation, actor: User | None, reason: str) -> int:
    """Withdraw every other open invitation to `email` in `team`, each with its audit event."""
    closed = 0
    for other in _open_for_email(team=team, email=email).exclude(pk=keep.pk).select_for_update():
        other.revoked_at = timezone.now()
        other.save(update_fields=["revoked_at"])
        log_event(
            team=team,
            actor=actor,
            action=AuditAction.INVITATION_REVOKED,
            target_label=other.email,
            before={"role": other.role, "invitation": other.pk},
            memo=reason,
        )
        closed += 1
    return closed


def invite_member(*, actor: Membership, role: str, email: str = "") -> IssuedInvitation:
    """Create a single-use invitation link, valid for a week.

    An email has one open invitation per team: a new one replaces the old, so a role
    offered earlier cannot be picked up later alongside the new one.
    """
    require_manager(actor)
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed({"role": "Invite as admin, designer or viewer."})
    if role == Role.ADMIN and actor.role != Role.OWNER:
        raise PermissionDenied("Only the team owner can invite admins.")
    email = (email or "").strip().lower()
    if email and Membership.objects.filter(team=actor.team, user__email__iexact=email).exists():
        raise ValidationFailed({"email": f"{email} is already a member of {actor.team.name}."})
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        # Serialises invitations of one team, so two at once cannot both stay open.
        Team.objects.select_for_update().filter(pk=actor.team_id).first()
        invitation = Invitation.objects.create(
            team=actor.team,
            role=role,
            email=email,
            token_hash=_hash_token(token),
            created_by=actor.user,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        log_event(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.INVITED,
            target_label=email or "invitation link",
            after={"role": role, "email": email, "invitation": invitation.pk},
        )
        if email:
            _close_others(team=actor.team, email=email, keep=invitation, actor=actor.user, reason="replaced by a new invitation")
    return IssuedInvitation(invitation=invitation, token=token)


def send_invitation_email(*, invitation: Invitation, url: str) -> None:
    """Mail the link through Django's email backend (outside any transaction: it is I/O)."""
    if not invitation.email:
        return
    expires = timezone.localtime(invitation.expires_at)
    send_mail(
        subject=f"You are invited to {invitation.team.name} on Studio",
        message=(
            f"You have been invited to join {invitation.team.name} on Studio as {invitation.role}.\n\n"
            f"Open this link to accept (it works once, until {expires:%Y-%m-%d %H:%M %Z}):\n{url}\n\n"
            "If you did not expect this, ignore this email."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )


def find_invitation(*, token: str) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    return Invitation.objects.select_related("team").filter(token_hash=_hash_token(token)).first()


def invitation_problem(*, invitation: Invitation, user: User, now: datetime | None = None) -> str:
    """Say why `user` cannot accept `invitation`, or return "" when they can."""
    now = now or timezone.now()
    if invitation.revoked_at is not None:
        return "This invitation was withdrawn."
    if invitation.accepted_at is not None:
        return "This invitation has already been used."
    if invitation.expires_at <= now:
        return "This invitation has expired; ask for a new one."
    if is_closed(invitation.team):
        return "This team no longer exists."
    if invitation.email and (user.email or "").lower() != invitation.email.lower():
        return "This invitation was sent to a different email address; sign in with that account."
    if Membership.objects.filter(team=invitation.team, user=user).exists():
        return f"You are already a member of {invitation.team.name}."
    return ""


def accept_invitation(*, token: str, user: User) -> Membership:
    """Join the team with the invited role, once; the team becomes the user's current one."""
    with transaction.atomic():
        found = find_invitation(token=token)
        if found is None:
            raise StudioError("This invitation link is not valid.")
        invitation = Invitation.objects.select_for_update().select_related("team").get(pk=found.pk)
        problem = invitation_problem(invitation=invitation, user=user)
        if problem:
            raise StudioError(problem)
        membership = teams.add_member(team=invitation.team, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        user.current_team = invitation.team
        user.save(update_fields=["current_team"])
        log_event(
            team=invitation.team,
            actor=user,
            action=AuditAction.JOINED,
            target=user,
            after={"role": invitation.role, "invitation": invitation.pk},
        )
        for address in {a for a in (invitation.email, (user.email or "").lower()) if a}:
            _close_others(team=invitation.team, email=address, keep=invitation, actor=user, reason="another invitation was accepted")
        return membership


def register_invited_user(*, token: str, username: str, email: str, password: str) -> Membership:
    """Sign up through an invitation: the account joins that team only, with no team of its own.

    All or nothing: when the invitation cannot be accepted, no account is left behind.
    """
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email or None, password=password)
        return accept_invitation(token=token, user=user)


def revoke_invitation(*, actor: Membership, invitation: Invitation) -> Invitation:
    require_manager(actor)
    if invitation.team_id != actor.team_id:
        raise PermissionDenied("That invitation belongs to another team.")
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None or locked.revoked_at is not None:
            raise StudioError("This invitation is no longer open.")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        log_event(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.INVITATION_REVOKED,
            target_label=locked.email or "invitation link",
            before={"role": locked.role, "invitation": locked.pk},
        )
        return locked
