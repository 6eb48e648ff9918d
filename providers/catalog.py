"""The model catalogue as data: validate `catalog.json` and sync it into the database.

The file is the source of truth for what a model is (route, capabilities, sizes); the
database row is what the studio sells. Admins may change any of it in the admin; the row
remembers which fields an admin edited (`admin_edited`), and a normal sync updates every
other field from the file. `reset=True` takes the edited fields back as well.

An entry may carry a `lifecycle`: the date its upstream model retires and the successor
route (family, remote model, fixed options) that serves the same model string from then
on, with the reason and a public source.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from providers.models import CatalogModel, Family, ModelAlias, Tier
from providers.signals import catalog_synced

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.json"
CATALOG_VERSION = 1

REQUIRED_KEYS = {
    "slug": str,
    "display_name": str,
    "family": str,
    "remote_model": str,
    "tier": str,
    "credits_per_image": int,
    "price_note": str,
    "description": str,
    "aliases": list,
    "capabilities": dict,
    "sizes": dict,
    "default_aspect_ratio": str,
    "default_resolution": str,
    "timeout_seconds": int,
}
# `sizing_note` says where a size table came from: for whoever maintains the file, never shown.
OPTIONAL_KEYS = {"options": dict, "enabled": bool, "lifecycle": dict, "sizing_note": str}
LIFECYCLE_KEYS = {"retires_on": str, "successor": dict, "reason": str, "source": str}
SUCCESSOR_KEYS = {"family": str, "remote_model": str, "options": dict}

CAPABILITY_TYPES: dict[str, type] = {
    "text_to_image": bool,
    "edit": bool,
    "max_references": int,
    "mask": bool,
    "max_count": int,
    "qualities": list,
    "resolutions": list,
    "aspect_ratios": list,
    "output_formats": list,
    "seed": bool,
    "negative_prompt": bool,
    "styles": list,
    "grounding": bool,
    "svg": bool,
    "text_in_image": bool,
    "streaming": bool,
    "thinking": bool,
}
# Optional capabilities: absent means "no restriction beyond the provider's defaults".
OPTIONAL_CAPABILITIES: dict[str, type] = {"backgrounds": list}

# Lengths of the model fields the values land in, so a bad file fails here, not mid-sync.
MAX_LENGTHS = {
    "slug": 100,
    "display_name": 120,
    "remote_model": 200,
    "price_note": 200,
    "default_aspect_ratio": 10,
    "default_resolution": 10,
}
IDENTIFIER_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]*$")
RATIO_RE = re.compile(r"^[1-9][0-9]*(\.[0-9]+)?:[1-9][0-9]*(\.[0-9]+)?$")


class CatalogError(ValueError):
    """The catalogue file is malformed; the message names the entry and the problem."""


@dataclass(frozen=True)
class SyncReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    disabled: int = 0  # rows no longer in the file that this sync switched off
    aliases: int = 0  # aliases in the file after the sync
    aliases_changed: int = 0  # alias rows created, moved or deleted

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.disabled} disabled; {self.aliases} aliases ({self.aliases_changed} changed)"
        )


def _is_int(value: Any) -> bool:
    # bool is an int subclass; `true` must not pass as a price.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_type(value: Any, expected: type) -> bool:
    return _is_int(value) if expected is int else isinstance(value, expected)


def _validate_sizes(where: str, entry: Mapping[str, Any]) -> None:
    sizes = entry["sizes"]
    caps = entry["capabilities"]
    if not sizes:
        raise CatalogError(f"{where}: sizes is empty")
    if list(sizes) != list(caps["resolutions"]):
        raise CatalogError(
            f"{where}: capabilities.resolutions {caps['resolutions']} must list the sizes keys "
            f"{list(sizes)} in the same order"
        )
    ratios = caps["aspect_ratios"]
    if not ratios or len(set(ratios)) != len(ratios):
        raise CatalogError(f"{where}: capabilities.aspect_ratios must be a non-empty list without repeats")
    for ratio in ratios:
        if not isinstance(ratio, str) or not RATIO_RE.match(ratio):
            raise CatalogError(f"{where}: aspect ratio {ratio!r} is not of the form W:H")
    for resolution, table in sizes.items():
        if not isinstance(table, dict) or set(table) != set(ratios):
            got = sorted(table) if isinstance(table, dict) else table
            raise CatalogError(
                f"{where}: sizes[{resolution!r}] must give exactly the aspect ratios {ratios}, got {got}"
            )
        for ratio, pixels in table.items():
            if (
                not isinstance(pixels, list)
                or len(pixels) != 2
                or not all(_is_int(p) and p > 0 for p in pixels)
            ):
                raise CatalogError(f"{where}: sizes[{resolution!r}][{ratio!r}] must be [width, height]")
    if entry["default_resolution"] not in sizes:
        raise CatalogError(f"{where}: default_resolution {entry['default_resolution']!r} is not in sizes")
    if entry["default_aspect_ratio"] not in ratios:
        raise CatalogError(
            f"{where}: default_aspect_ratio {entry['default_aspect_ratio']!r} is not in aspect_ratios"
        )


def _validate_capabilities(where: str, caps: Mapping[str, Any]) -> None:
    missing = sorted(set(CAPABILITY_TYPES) - set(caps))
    if missing:
        raise CatalogError(f"{where}: capabilities is missing {', '.join(missing)}")
    for name, expected in CAPABILITY_TYPES.items():
        if not _check_type(caps[name], expected):
            raise CatalogError(f"{where}: capabilities.{name} must be {expected.__name__}")
    unknown = sorted(set(caps) - set(CAPABILITY_TYPES) - set(OPTIONAL_CAPABILITIES))
    if unknown:
        raise CatalogError(f"{where}: unknown capabilities {', '.join(unknown)}")
    for name, expected in OPTIONAL_CAPABILITIES.items():
        if name in caps and not _check_type(caps[name], expected):
            raise CatalogError(f"{where}: capabilities.{name} must be {expected.__name__}")
    for name, expected in {**CAPABILITY_TYPES, **OPTIONAL_CAPABILITIES}.items():
        if expected is list and not all(isinstance(item, str) and item for item in caps.get(name, ())):
            raise CatalogError(f"{where}: capabilities.{name} must list non-empty strings")
    if caps["max_count"] < 1:
        raise CatalogError(f"{where}: capabilities.max_count must be at least 1")
    if caps["max_references"] < 0:
        raise CatalogError(f"{where}: capabilities.max_references must not be negative")
    if caps["edit"] != (caps["max_references"] > 0):
        raise CatalogError(f"{where}: edit models take references (max_references > 0), others take none")
    if caps["mask"] and not caps["edit"]:
        raise CatalogError(f"{where}: a mask needs an edit-capable model")
    if not caps["text_to_image"] and not caps["edit"]:
        raise CatalogError(f"{where}: the model can neither generate nor edit")
    if not caps["output_formats"]:
        raise CatalogError(f"{where}: capabilities.output_formats is empty")


def _validate_lifecycle(where: str, lifecycle: Mapping[str, Any]) -> None:
    missing = sorted(set(LIFECYCLE_KEYS) - set(lifecycle))
    if missing:
        raise CatalogError(f"{where}: lifecycle is missing {', '.join(missing)}")
    unknown = sorted(set(lifecycle) - set(LIFECYCLE_KEYS))
    if unknown:
        raise CatalogError(f"{where}: lifecycle has unknown key(s) {', '.join(unknown)}")
    for key, expected in LIFECYCLE_KEYS.items():
        if not _check_type(lifecycle[key], expected) or not lifecycle[key]:
            raise CatalogError(f"{where}: lifecycle.{key} must be a non-empty {expected.__name__}")
    try:
        datetime.date.fromisoformat(lifecycle["retires_on"])
    except ValueError:
        raise CatalogError(f"{where}: lifecycle.retires_on must be a date (YYYY-MM-DD)") from None
    if not lifecycle["source"].startswith("https://"):
        raise CatalogError(f"{where}: lifecycle.source must be a public https:// address")
    successor = lifecycle["successor"]
    missing = sorted({"family", "remote_model"} - set(successor))
    unknown = sorted(set(successor) - set(SUCCESSOR_KEYS))
    if missing or unknown:
        raise CatalogError(f"{where}: lifecycle.successor needs family and remote_model (and options only)")
    for key, expected in SUCCESSOR_KEYS.items():
        if key in successor and not _check_type(successor[key], expected):
            raise CatalogError(f"{where}: lifecycle.successor.{key} must be {expected.__name__}")
    if successor["family"] not in Family.values:
        raise CatalogError(f"{where}: lifecycle.successor.family {successor['family']!r} is not a family")


def _validate_entry(index: int, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise CatalogError(f"models[{index}]: an entry must be an object")
    slug = entry.get("slug")
    where = f"models[{index}] ({slug})" if isinstance(slug, str) else f"models[{index}]"
    missing = sorted(set(REQUIRED_KEYS) - set(entry))
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key, expected in {**REQUIRED_KEYS, **OPTIONAL_KEYS}.items():
        if key in entry and not _check_type(entry[key], expected):
            raise CatalogError(f"{where}: {key} must be {expected.__name__}")
    for key, limit in MAX_LENGTHS.items():
        if not entry[key] and key != "price_note":
            raise CatalogError(f"{where}: {key} is empty")
        if len(entry[key]) > limit:
            raise CatalogError(f"{where}: {key} is longer than {limit} characters")
    if not IDENTIFIER_RE.match(entry["slug"]):
        raise CatalogError(f"{where}: slug must be lower-case letters, digits and . _ / -")
    if entry["family"] not in Family.values:
        raise CatalogError(f"{where}: family {entry['family']!r} is not one of {', '.join(Family.values)}")
    if entry["tier"] not in Tier.values:
        raise CatalogError(f"{where}: tier {entry['tier']!r} is not one of {', '.join(Tier.values)}")
    if entry["credits_per_image"] <= 0:
        raise CatalogError(f"{where}: credits_per_image must be a positive integer")
    if entry["timeout_seconds"] <= 0:
        raise CatalogError(f"{where}: timeout_seconds must be positive")
    for alias in entry["aliases"]:
        if not isinstance(alias, str) or not IDENTIFIER_RE.match(alias.lower()) or len(alias) > 100:
            raise CatalogError(f"{where}: alias {alias!r} is not a valid identifier")
    _validate_capabilities(where, entry["capabilities"])
    _validate_sizes(where, entry)
    if "lifecycle" in entry:
        _validate_lifecycle(where, entry["lifecycle"])
    return {**entry, "options": dict(entry.get("options", {})), "enabled": entry.get("enabled", True)}


def load_catalog_data(path: Path | None = None) -> list[dict[str, Any]]:
    """Read and validate the catalogue file; return its entries with defaults filled in."""
    path = path or CATALOG_PATH
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such catalogue file") from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != CATALOG_VERSION:
        raise CatalogError(f"{path}: expected an object with \"version\": {CATALOG_VERSION}")
    raw = data.get("models")
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"{path}: \"models\" must be a non-empty list")
    entries = [_validate_entry(i, e) for i, e in enumerate(raw)]

    # Identifiers are matched case-insensitively everywhere (CatalogModel.objects.resolve).
    owner: dict[str, str] = {}
    for entry in entries:
        key = entry["slug"].lower()
        if key in owner:
            raise CatalogError(f"duplicate slug {entry['slug']!r}")
        owner[key] = entry["slug"]
    for entry in entries:
        for alias in entry["aliases"]:
            key = alias.lower()
            if key in owner:
                other = owner[key]
                kind = "slug" if other.lower() == key else f"an alias of {other!r}"
                raise CatalogError(f"alias {alias!r} of {entry['slug']!r} is already {kind}")
            owner[key] = entry["slug"]
    return entries


def _row_values(entry: Mapping[str, Any], today: datetime.date) -> dict[str, Any]:
    """The row as the file describes it on `today`: a retired upstream's successor is its route."""
    lifecycle = dict(entry.get("lifecycle", {}))
    route = {"family": entry["family"], "remote_model": entry["remote_model"], "fixed_options": entry["options"]}
    if lifecycle and datetime.date.fromisoformat(lifecycle["retires_on"]) <= today:
        successor = lifecycle["successor"]
        lifecycle["retired_route"] = {"family": entry["family"], "remote_model": entry["remote_model"]}
        route = {
            "family": successor["family"],
            "remote_model": successor["remote_model"],
            "fixed_options": {**entry["options"], **successor.get("options", {})},
        }
    return {
        "display_name": entry["display_name"],
        "family": route["family"],
        "remote_model": route["remote_model"],
        "tier": entry["tier"],
        "credits_per_image": entry["credits_per_image"],
        "price_note": entry["price_note"],
        "description": entry["description"],
        "capabilities": entry["capabilities"],
        "sizes": entry["sizes"],
        "default_aspect_ratio": entry["default_aspect_ratio"],
        "default_resolution": entry["default_resolution"],
        "timeout_seconds": entry["timeout_seconds"],
        "fixed_options": route["fixed_options"],
        "enabled": entry["enabled"],
        "lifecycle": lifecycle,
    }


def _sync_aliases(entries: list[dict[str, Any]], rows: Mapping[str, CatalogModel]) -> int:
    """Make the alias table equal the file's aliases; return how many rows changed."""
    wanted = {alias.lower(): (alias, rows[e["slug"]]) for e in entries for alias in e["aliases"]}
    changed = 0
    for existing in ModelAlias.objects.select_for_update().all():
        target = wanted.pop(existing.alias.lower(), None)
        if target is None:
            existing.delete()
            changed += 1
            continue
        alias, model = target
        if existing.alias != alias or existing.model_id != model.pk:
            existing.alias, existing.model = alias, model
            existing.save(update_fields=["alias", "model"])
            changed += 1
    ModelAlias.objects.bulk_create(ModelAlias(alias=alias, model=model) for alias, model in wanted.values())
    return changed + len(wanted)


def sync_catalog(*, reset: bool = False, path: Path | None = None, today: datetime.date | None = None) -> SyncReport:
    """Load the catalogue file into the database; keep the fields admins edited unless `reset`.

    Run it again on a retirement date (or daily) and the retired model's row takes its
    successor's route; `CatalogModel.served_route()` switches on the day even without a sync.
    """
    entries = load_catalog_data(path)
    today = today or timezone.localdate()
    created = updated = unchanged = disabled = 0
    with transaction.atomic():
        existing = {m.slug.lower(): m for m in CatalogModel.objects.select_for_update()}
        rows: dict[str, CatalogModel] = {}
        for entry in entries:
            values = _row_values(entry, today)
            row = existing.pop(entry["slug"].lower(), None)
            if row is None:
                rows[entry["slug"]] = CatalogModel.objects.create(slug=entry["slug"], **values)
                created += 1
                continue
            if reset:
                values["admin_edited"] = []
            else:
                for field in row.admin_edited or ():
                    values.pop(field, None)
            if row.slug != entry["slug"]:
                values["slug"] = entry["slug"]
            changed = [name for name, value in values.items() if getattr(row, name) != value]
            if changed:
                for name in changed:
                    setattr(row, name, values[name])
                row.save(update_fields=[*changed, "updated_at"])
                updated += 1
            else:
                unchanged += 1
            rows[entry["slug"]] = row
        # Jobs reference catalogue rows (PROTECT), so models dropped from the file are
        # switched off rather than deleted.
        for row in existing.values():
            if row.enabled:
                row.enabled = False
                row.save(update_fields=["enabled", "updated_at"])
                disabled += 1
        aliases_changed = _sync_aliases(entries, rows)
        catalog_synced.send(sender=CatalogModel)
    return SyncReport(
        created=created,
        updated=updated,
        unchanged=unchanged,
        disabled=disabled,
        aliases=sum(len(e["aliases"]) for e in entries),
        aliases_changed=aliases_changed,
    )
