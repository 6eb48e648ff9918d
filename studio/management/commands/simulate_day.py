"""Play a scripted day of team use, then print the spend report.

`manage.py simulate_day --team demo`: members submit jobs that the local renderer draws
(no provider is ever called), some fail on purpose (`[[fail:…]]` prompts), an admin grants
and revokes credits, a monthly cap and a blocked tier refuse work. Jobs run in this
process, synchronously: Celery runs eagerly for the command's duration, so no worker is
needed and nothing is left queued.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.celery import app as celery_app
from studio.models import Job, JobStatus, Membership, Role, Team, User
from studio.services import credits, jobs, reports, teams
from studio.services import team as team_services
from studio.services.errors import StudioError


@dataclass(frozen=True)
class Step:
    who: str
    model: str
    prompt: str
    count: int = 1


# Extra people the day needs besides the demo owner ("admin") and "designer".
CAST = (("ana", Role.DESIGNER), ("ben", Role.DESIGNER), ("cleo", Role.VIEWER))
MORNING = (
    Step("designer", "gpt-image-1-mini-low", "moodboard: brutalist café interiors, morning light", 4),
    Step("ana", "gemini-2.5-flash-image", "product shot of a speckled ceramic mug on linen", 2),
    Step("ana", "gemini-2.5-flash-image", "[[fail:content_policy]] the same mug, but with a celebrity", 1),
    Step("ben", "flux-2-pro", "gig poster, risograph style, two colours", 3),
    Step("admin", "gpt-image-1-high", "hero image for the spring campaign", 1),
    Step("designer", "imagen-4-pro", "isometric city block at dusk", 2),
    Step("ben", "ideogram-v3", "hand-lettered logo: “Kiln & Co.”", 2),
    Step("ben", "gemini-3-pro-image", "packaging mock-up, three views", 2),  # passes Ben's cap: refused
    Step("designer", "flux-kontext-pro", "[[fail:invalid_request]] edit without a reference", 1),
)
AFTERNOON = (
    Step("designer", "gpt-image-2-hd", "billboard at 4K", 1),  # ultra tier blocked by then: refused
    Step("ana", "seedream-4", "four colourways of the mug", 4),
    Step("ana", "qwen-image", "menu board with legible prices", 2),
    Step("cleo", "imagen-4-fast", "a viewer tries to generate", 1),  # viewers browse only: refused
    Step("admin", "recraft-v4", "icon set: cup, saucer, kettle", 1),
)


class Command(BaseCommand):
    help = "Simulate a day of use for a team (local renderer only) and print its spend report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", default="demo", help="The team's slug (default: demo; run setup_demo first).")

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(slug=options["team"]).first()
        if team is None:
            raise CommandError(f"No team “{options['team']}”: run `manage.py setup_demo` first.")
        owner = Membership.objects.select_related("team", "user").filter(team=team, role=Role.OWNER).first()
        if owner is None:
            raise CommandError(f"{team.name} has no owner.")
        # Never reach a real provider from a simulation, and do not wait on the demo delay.
        saved = (settings.STUDIO_DEMO_RENDER, settings.STUDIO_DEMO_DELAY, celery_app.conf.task_always_eager)
        settings.STUDIO_DEMO_RENDER = "all"
        settings.STUDIO_DEMO_DELAY = 0.0
        celery_app.conf.task_always_eager = True
        try:
            outcomes = self._play(team, owner)
        finally:
            settings.STUDIO_DEMO_RENDER, settings.STUDIO_DEMO_DELAY, celery_app.conf.task_always_eager = saved
        self._print_report(team, outcomes)

    # -- the day ------------------------------------------------------------------------
    def _member(self, team: Team, username: str, role: str) -> Membership:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username, email=f"{username}@demo.local", password=secrets.token_urlsafe(12)
            )
        membership = Membership.objects.filter(team=team, user=user).first()
        return membership or teams.add_member(team=team, user=user, role=role)

    def _play(self, team: Team, owner: Membership) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        cast = {m.user.get_username(): m for m in Membership.objects.select_related("user", "team").filter(team=team)}
        for username, role in CAST:
            cast.setdefault(username, self._member(team, username, role))
        cast.setdefault("admin", owner)
        if "designer" not in cast:
            cast["designer"] = self._member(team, "designer", Role.DESIGNER)
        if team_services.pool_balance(team=team) < 2_000:
            team_services.top_up_team(team=team, amount=5_000, memo="simulated day: pool top-up")
            self.stdout.write("Staff topped the pool up with 5,000 credits.")

        self._say(team_services.grant(actor=owner, target=cast["ana"], amount=400, memo="sprint budget"), "Granted")
        self._say(team_services.grant(actor=owner, target=cast["ben"], amount=300, memo="poster series"), "Granted")
        team_services.set_limits(actor=owner, target=cast["ben"], monthly_cap=150, monthly_refill=None)
        self.stdout.write("Ben's monthly cap set to 150 credits.")
        self.stdout.write("")
        for step in MORNING:
            outcomes[self._run(cast[step.who], step)] += 1

        team_services.set_tier_access(actor=owner, tier="ultra", blocked=True)
        self.stdout.write("\nMidday: the owner blocks the ultra tier.")
        self._say(team_services.revoke(actor=owner, target=cast["ben"], amount=100, memo="unused poster budget"), "Revoked")
        self.stdout.write("")
        for step in AFTERNOON:
            outcomes[self._run(cast[step.who], step)] += 1
        return outcomes

    def _say(self, move: team_services.CreditMove, verb: str) -> None:
        e = move.event
        self.stdout.write(f"{e.actor_label} {verb.lower()} {move.amount:,} credits ({e.target_label}, “{e.memo}”).")

    def _run(self, membership: Membership, step: Step) -> str:
        # A fresh membership each time: roles and team rules are read per request.
        membership = Membership.objects.select_related("team", "user").get(pk=membership.pk)
        name = membership.user.get_username()
        try:
            spec = jobs.validate_job(membership=membership, model=step.model, prompt=step.prompt, count=step.count)
            job = jobs.submit_job(membership=membership, spec=spec, source="simulation")
        except StudioError as exc:
            self.stdout.write(f"  ✗ {name:<9} {step.model:<24} refused: {exc.message}")
            return "refused"
        job = Job.objects.get(pk=job.pk)
        if job.status == JobStatus.QUEUED:  # a broker that ignored eager mode: run it here
            jobs.run_job(job_id=job.pk)
            job.refresh_from_db()
        if job.status == JobStatus.SUCCEEDED:
            self.stdout.write(f"  ✓ {name:<9} {step.model:<24} {job.count} image(s), charged {job.credits_charged}")
            return "succeeded"
        self.stdout.write(
            f"  ✗ {name:<9} {step.model:<24} {job.status}: {job.error_code}; {job.credits_held} credits returned"
        )
        return job.status

    # -- the report -------------------------------------------------------------------------
    def _print_report(self, team: Team, outcomes: Counter[str]) -> None:
        report = reports.spend_report(team=team, days=30)
        w = self.stdout.write
        w("")
        w(f"Jobs today: {outcomes['succeeded']} succeeded, {outcomes['failed']} failed (refunded), "
          f"{outcomes['refused']} refused at submit")
        w(f"Spend report for {team.name}, last 30 days ({report.since:%Y-%m-%d} – {report.until:%Y-%m-%d}):")
        w(f"  total spent: {report.total:,} credits over {report.jobs_charged} jobs; "
          f"{report.returned:,} returned to members; {report.jobs_failed} failed jobs")
        for title, rows in (("member", report.by_member), ("model", report.by_model), ("tier", report.by_tier)):
            w(f"  by {title}:")
            for row in rows:
                w(f"    {row.label:<26} {row.credits:>7,}  ({row.jobs} job{'s' if row.jobs != 1 else ''}, {row.share:.1f}%)")
        days = [d for d in report.by_day if d.credits]
        w("  per day: " + (", ".join(f"{d.day:%Y-%m-%d} {d.credits:,}" for d in days) or "nothing"))
        w(f"  spent account received {report.spent_account_total:,} in the period; "
          f"reconciles with every breakdown: {'yes' if report.reconciles else 'NO'}")
        w(f"  ledger balanced (sum of balances 0, every balance = its transfers): "
          f"{'yes' if credits.ledger_is_balanced() else 'NO'}")
        w(f"  pool now {team_services.pool_balance(team=team):,} credits")
