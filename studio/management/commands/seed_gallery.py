"""`manage.py seed_gallery --images 100000 --users 20`: synthetic images for benchmarks."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from studio.services.seeding import seed_gallery


class Command(BaseCommand):
    help = (
        "Create N synthetic gallery images across U members of one team (bulk inserts; the "
        "rows share a handful of real stored files). For benchmarks, not for production data."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--images", type=int, default=100_000)
        parser.add_argument("--users", type=int, default=20)
        parser.add_argument("--team", default="Benchmark team", help="Team name (created if missing).")
        parser.add_argument("--files", type=int, default=8, help="Distinct real files the rows share.")
        parser.add_argument("--days", type=int, default=365, help="Spread creation times over this many days.")
        parser.add_argument("--batch-size", type=int, default=5_000)
        parser.add_argument("--seed", type=int, default=1, help="Random seed, for repeatable data.")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("images", "users", "files", "days", "batch_size"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        report = seed_gallery(
            images=options["images"],
            users=options["users"],
            team_name=options["team"],
            files_count=options["files"],
            days=options["days"],
            batch_size=options["batch_size"],
            seed=options["seed"],
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {report.images} images for {len(report.user_ids)} members of team "
                f"{report.team_id} in {report.seconds:.1f} s."
            )
        )
