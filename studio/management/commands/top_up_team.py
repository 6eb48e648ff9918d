"""Site staff: add credits to a team's pool, with a memo (`manage.py top_up_team demo 5000 --memo "…"`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.models import AccountKind, Team, User
from studio.services import credits
from studio.services import team as team_services
from studio.services.errors import StudioError, ValidationFailed


class Command(BaseCommand):
    help = "Top up a team's credit pool from the mint; every top-up is a ledger transfer with a memo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="The team's slug.")
        parser.add_argument("amount", help="Whole credits to add (above zero).")
        parser.add_argument("--memo", required=True, help="Why: an invoice number, a purchase, a promotion…")
        parser.add_argument("--actor", default="", help="Username of the staff member doing this (recorded as actor).")

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team with the slug “{options['team']}”.")
        try:
            amount = int(str(options["amount"]).strip())
        except ValueError:
            raise CommandError("The amount must be a whole number of credits above zero.") from None
        actor = None
        if options["actor"]:
            actor = User.objects.filter(username=options["actor"], is_staff=True).first()
            if actor is None:
                raise CommandError(f"No staff user “{options['actor']}”.")
        try:
            team_services.top_up_team(team=team, amount=amount, memo=options["memo"], actor=actor)
        except ValidationFailed as exc:
            raise CommandError("; ".join(exc.errors.values())) from None
        except StudioError as exc:
            raise CommandError(exc.message) from None
        pool = credits.team_account(team=team, kind=AccountKind.POOL)
        self.stdout.write(self.style.SUCCESS(f"Added {amount:,} credits to {team.name}; the pool now holds {pool.balance:,}."))
