"""Teams and memberships."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from studio.models import AccountKind, Membership, Role, Team, User
from studio.services import credits


def create_team(*, name: str, owner: User) -> Team:
    """Create a team with its pool, holds and spent accounts, owned by `owner`."""
    with transaction.atomic():
        base = slugify(name)[:80] or "team"
        slug, n = base, 1
        while Team.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        team = Team.objects.create(name=name, slug=slug)
        for kind in (AccountKind.POOL, AccountKind.HOLDS, AccountKind.SPENT):
            credits.team_account(team=team, kind=kind)
        add_member(team=team, user=owner, role=Role.OWNER)
        return team


def add_member(*, team: Team, user: User, role: Role | str = Role.DESIGNER) -> Membership:
    """Put `user` in `team` with `role` and an empty credit account; make it their current team."""
    with transaction.atomic():
        membership, _ = Membership.objects.get_or_create(user=user, team=team, defaults={"role": role})
        credits.member_account(team=team, user=user)
        if user.current_team_id is None:
            user.current_team = team
            user.save(update_fields=["current_team"])
        return membership


def register_user(*, username: str, email: str, password: str, team_name: str = "") -> User:
    """Sign up: a new user and a team of their own, which they own."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email or None, password=password)
        create_team(name=team_name or f"{username}'s team", owner=user)
        user.refresh_from_db()
        return user
