"""`manage.py sync_catalog [--reset]`: load providers/catalog.json into the database."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from providers.catalog import CatalogError, sync_catalog


class Command(BaseCommand):
    help = (
        "Load the model catalogue into the database. Every field an admin has not edited follows "
        "the file; the fields an admin edited are kept unless --reset is given. A retired model's "
        "row takes its successor's route from its retirement date."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Also take the admin-edited fields back from the file (and forget the edits).",
        )
        parser.add_argument("--path", type=Path, default=None, help="Catalogue file (default: the bundled one).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = sync_catalog(reset=options["reset"], path=options["path"])
        except CatalogError as exc:
            raise CommandError(f"catalogue not loaded: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Catalogue synced: {report}"))
