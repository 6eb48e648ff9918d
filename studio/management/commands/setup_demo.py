"""Create the demo team and accounts (once) and print how to sign in."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from studio.models import Membership, Role, Team, User
from studio.services import credits, teams

DEMO_USERS = (
    ("admin", "admin@demo.local", Role.OWNER, 2000),
    ("designer", "designer@demo.local", Role.DESIGNER, 1000),
)
POOL_TOP_UP = 10_000


class Command(BaseCommand):
    help = "Create the demo team with an admin and a designer (idempotent) and print their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        path = settings.STUDIO_DATA_DIR / "demo-accounts.json"
        saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        with transaction.atomic():
            team = Team.objects.filter(slug="demo").first()
            for username, email, role, grant in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    password = saved.get(username) or secrets.token_urlsafe(9)
                    user = User.objects.create_user(
                        username=username, email=email, password=password, is_staff=role == Role.OWNER,
                        is_superuser=role == Role.OWNER,
                    )
                    saved[username] = password
                    if team is None:
                        team = teams.create_team(name="Demo Studio", owner=user)
                        Team.objects.filter(pk=team.pk).update(slug="demo")
                        team.refresh_from_db()
                        credits.top_up_pool(team=team, amount=POOL_TOP_UP, memo="demo set-up")
                    membership = teams.add_member(team=team, user=user, role=role)
                    credits.grant_credits(membership=membership, amount=grant, memo="demo set-up")
        path.write_text(json.dumps(saved, indent=2))
        path.chmod(0o600)
        self.stdout.write(self.style.SUCCESS("Demo accounts (team “Demo Studio”):"))
        for username, _, role, _ in DEMO_USERS:
            membership = Membership.objects.filter(user__username=username, team__slug="demo").first()
            balance = credits.member_balance(membership=membership) if membership else 0
            self.stdout.write(
                f"  {username:<9} password: {saved.get(username, '(set before; unchanged)')}"
                f"   role: {role}   credits: {balance}"
            )
