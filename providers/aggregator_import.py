"""Catalogue entries from an aggregator's model list (seed 001: `GET /v1/models?modality=image`).

Each listed model becomes an entry of the `aggregator` family whose remote model is the
aggregator's id, sized from `allowedParams.supported_sizes`. The entries are written for an
admin to review and add to `catalog.json` (prices are the studio's decision, not the
upstream's), so nothing reaches the database without passing the catalogue's validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from providers.models import Tier
from providers.ratios import ratio_of

SIZE_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
CAPABILITY_DEFAULTS: dict[str, Any] = {
    "text_to_image": True,
    "edit": False,
    "max_references": 0,
    "mask": False,
    "max_count": 1,
    "qualities": [],
    "seed": False,
    "negative_prompt": False,
    "styles": [],
    "grounding": False,
    "svg": False,
    "text_in_image": False,
    "streaming": False,
    "thinking": False,
}


def fetch_models(*, base_url: str, api_key: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{base_url.rstrip('/')}/v1/models",
        params={"modality": "image"},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=SIZE_TIMEOUT,
        follow_redirects=False,
    )
    response.raise_for_status()
    data = response.json()
    return [m for m in data.get("data", []) if isinstance(m, dict) and m.get("id")]


def size_table(sizes: Iterable[str]) -> dict[str, list[int]]:
    """{"16:9": [1344, 768], ...} from "WxH" strings; the first size of each ratio wins."""
    table: dict[str, list[int]] = {}
    for size in sizes:
        width, _, height = str(size).lower().partition("x")
        if width.isdigit() and height.isdigit() and int(width) and int(height):
            table.setdefault(ratio_of(int(width), int(height)), [int(width), int(height)])
    return table


def entry_for(model: Mapping[str, Any], *, credits_per_image: int) -> dict[str, Any] | None:
    """One catalogue entry for a listed model, or None when it lists no usable size."""
    allowed = model.get("allowedParams") or {}
    table = size_table(allowed.get("supported_sizes") or [])
    if not table:
        return None
    listed = model.get("capabilities") if isinstance(model.get("capabilities"), dict) else {}
    caps = {**CAPABILITY_DEFAULTS, **{k: v for k, v in listed.items() if k in CAPABILITY_DEFAULTS}}
    caps["edit"] = bool(caps["edit"]) and int(caps["max_references"]) > 0
    caps["max_references"] = int(caps["max_references"]) if caps["edit"] else 0
    caps["mask"] = bool(caps["mask"]) and caps["edit"]
    caps.update(
        resolutions=["default"],
        aspect_ratios=list(table),
        output_formats=list(allowed.get("output_formats") or ["png"]),
    )
    tier = str(model.get("tier") or "standard")
    slug = str(model["id"]).lower().replace(" ", "-")[:100]
    return {
        "slug": slug,
        "display_name": str(model.get("name") or model["id"])[:120],
        "family": "aggregator",
        "remote_model": str(model["id"])[:200],
        "tier": tier if tier in Tier.values else "standard",
        "credits_per_image": credits_per_image,
        "price_note": "imported from the aggregator's model list; set the studio's price",
        "description": str(model.get("description") or ""),
        "aliases": [],
        "capabilities": caps,
        "sizes": {"default": table},
        "default_aspect_ratio": "1:1" if "1:1" in table else next(iter(table)),
        "default_resolution": "default",
        "timeout_seconds": 300,
    }


def import_entries(
    models: Iterable[Mapping[str, Any]], *, known: Iterable[str], credits_per_image: int
) -> list[dict[str, Any]]:
    """Entries for the listed models the catalogue does not have yet (by slug)."""
    seen = {k.lower() for k in known}
    entries = []
    for model in models:
        entry = entry_for(model, credits_per_image=credits_per_image)
        if entry is not None and entry["slug"] not in seen:
            seen.add(entry["slug"])
            entries.append(entry)
    return entries
