"""`manage.py import_aggregator_models`: catalogue entries from the aggregator's model list."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from providers.aggregator_import import fetch_models, import_entries
from providers.catalog import CatalogError, load_catalog_data


class Command(BaseCommand):
    help = (
        "Read GET /v1/models?modality=image from AGGREGATOR_BASE_URL and write catalogue entries "
        "(family aggregator) for the models the catalogue lacks, to review and add to catalog.json."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="Write the entries here (default: stdout).")
        parser.add_argument("--price", type=int, default=20, help="Credits per image to start from (default 20).")

    def handle(self, *args: Any, **options: Any) -> None:
        base_url, api_key = settings.AGGREGATOR_BASE_URL, settings.AGGREGATOR_API_KEY
        if not base_url or not api_key:
            raise CommandError("Set AGGREGATOR_BASE_URL and AGGREGATOR_API_KEY first.")
        if options["price"] <= 0:
            raise CommandError("--price must be a positive number of credits.")
        try:
            models = fetch_models(base_url=base_url, api_key=api_key)
            known = [e["slug"] for e in load_catalog_data()] + [a for e in load_catalog_data() for a in e["aliases"]]
        except httpx.HTTPError as exc:
            raise CommandError(f"could not read the aggregator's model list: {exc}") from exc
        except CatalogError as exc:
            raise CommandError(f"the catalogue file is invalid: {exc}") from exc
        entries = import_entries(models, known=known, credits_per_image=options["price"])
        text = json.dumps({"version": 1, "models": entries}, indent=2) + "\n"
        if options["out"]:
            options["out"].write_text(text, encoding="utf-8")
            self.stdout.write(self.style.SUCCESS(f"{len(entries)} of {len(models)} models written to {options['out']}."))
        else:
            self.stdout.write(text)
