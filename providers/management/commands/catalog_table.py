"""`manage.py catalog_table [--readme README.md]`: the catalogue as a Markdown table.

One row per model: identifier, display name, tier, credits per image, provider family and
the remote model id it is routed to (with the fixed provider options that define the entry),
and its aliases. The README's model table is this command's output, between the markers
`<!-- models:start -->` and `<!-- models:end -->`; a test keeps the two equal.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from providers.catalog import CatalogError, load_catalog_data
from providers.models import Family

START = "<!-- models:start -->"
END = "<!-- models:end -->"
HEADER = ("Model", "Name", "Tier", "Credits", "Provider", "Remote id", "Aliases")


def cell(text: str) -> str:
    # A pipe would end the cell early.
    return text.replace("|", "\\|")


def code(text: str) -> str:
    return f"`{text}`"


def remote_id(entry: Mapping[str, Any]) -> str:
    options = entry.get("options") or {}
    fixed = ", ".join(f"{key}={value}" for key, value in sorted(options.items()))
    return code(entry["remote_model"]) + (f" ({fixed})" if fixed else "")


def catalogue_table(entries: Iterable[Mapping[str, Any]]) -> str:
    """The Markdown table (ending with a newline) for catalogue entries, in file order."""
    families = dict(Family.choices)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for entry in entries:
        family = entry["family"]
        row = (
            code(entry["slug"]),
            entry["display_name"],
            entry["tier"],
            str(entry["credits_per_image"]),
            f"{families.get(family, family)} ({code(family)})",
            remote_id(entry),
            ", ".join(code(alias) for alias in entry["aliases"]),
        )
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, table: str) -> str:
    """`text` with everything between the model markers replaced by `table`."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the markers {START} … {END} are missing or out of order")
    return text[: start + len(START)] + "\n" + table + text[end:]


class Command(BaseCommand):
    help = "Print the model catalogue as a Markdown table (or write it into the README)."
    # It reads a file and prints text: no database, nothing the system checks protect.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--path", type=Path, default=None, help="Catalogue file (default: the bundled one).")
        parser.add_argument(
            "--readme",
            type=Path,
            default=None,
            help="Write the table into this file between the models markers instead of printing it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            table = catalogue_table(load_catalog_data(options["path"]))
        except CatalogError as exc:
            raise CommandError(f"catalogue not readable: {exc}") from exc
        readme: Path | None = options["readme"]
        if readme is None:
            self.stdout.write(table, ending="")
            return
        try:
            readme.write_text(replace_between_markers(readme.read_text(encoding="utf-8"), table), encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise CommandError(f"{readme}: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Model table written to {readme}."))
