"""The README's model table is the catalogue_table command's output, so it cannot go stale."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from providers.catalog import load_catalog_data
from providers.management.commands.catalog_table import END, START
from providers.registry import ADAPTERS, adapter_class

README = Path(__file__).resolve().parents[2] / "README.md"


def command_output(*args: str) -> str:
    out = io.StringIO()
    call_command("catalog_table", *args, stdout=out)
    return out.getvalue()


def test_readme_model_table_is_the_commands_output() -> None:
    text = README.read_text(encoding="utf-8")
    between = text[text.index(START) + len(START) : text.index(END)]

    assert between == "\n" + command_output(), (
        "README.md's model table is stale: run `python manage.py catalog_table --readme README.md`"
    )


def test_every_catalogue_model_has_a_row_routed_to_a_real_adapter() -> None:
    table = command_output()
    entries = load_catalog_data()

    assert len(table.splitlines()) == 2 + len(entries)
    for entry in entries:
        assert f"| `{entry['slug']}` | {entry['display_name']} |" in table
        assert entry["family"] in ADAPTERS and entry["family"] != "local"
        assert adapter_class(entry["family"]).family == entry["family"]
    row = next(line for line in table.splitlines() if line.startswith("| `gemini-2.5-flash-image` |"))
    assert row.endswith("| Google Gemini (`gemini`) | `gemini-2.5-flash-image` | "
                        "`nano-banana`, `gemini-2-5-flash-image`, `gemini-2.5-flash-image-preview`, "
                        "`google/gemini-2.5-flash-image` |")
    assert "| `gpt-image-1-mini` (quality=low) |" in table  # fixed options tell the entries apart


def test_readme_option_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{START}\nold table\n{END}\nafter\n", encoding="utf-8")

    command_output("--readme", str(readme))

    assert readme.read_text(encoding="utf-8") == f"# Title\n\nbefore\n{START}\n{command_output()}{END}\nafter\n"


def test_a_readme_without_markers_is_refused(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers here\n", encoding="utf-8")

    with pytest.raises(CommandError, match="markers"):
        command_output("--readme", str(readme))
    assert readme.read_text(encoding="utf-8") == "# no markers here\n"
