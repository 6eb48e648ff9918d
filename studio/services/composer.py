"""What the studio's composer offers for a chosen model (a read-only selector)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.models import TIER_ORDER, CatalogModel
from providers.registry import route_for
from studio.models import Membership
from studio.services.access import model_block_reason
from studio.services.jobs import Quote, quote_job


@dataclass(frozen=True)
class MenuEntry:
    model: CatalogModel
    blocked_reason: str
    is_demo: bool


@dataclass
class ComposerState:
    menu: list[tuple[str, list[MenuEntry]]]
    model: CatalogModel | None
    values: dict[str, Any]
    ratios: list[tuple[str, str]] = field(default_factory=list)  # (ratio, "1344×768")
    dropped: list[str] = field(default_factory=list)
    quote: Quote | None = None
    blocked_reason: str = ""
    is_demo: bool = False


def build_menu(*, membership: Membership) -> list[tuple[str, list[MenuEntry]]]:
    """The model menu, grouped by tier (standard → ultra), each with why it is blocked, if it is."""
    groups: dict[str, list[MenuEntry]] = {tier: [] for tier in TIER_ORDER}
    for model in CatalogModel.objects.menu_order():
        if not model.enabled:
            continue
        groups[model.tier].append(
            MenuEntry(
                model=model,
                blocked_reason=model_block_reason(membership=membership, model=model),
                is_demo=route_for(model.family).is_demo,
            )
        )
    return [(tier, entries) for tier, entries in groups.items() if entries]


def composer_state(*, membership: Membership, values: Mapping[str, Any]) -> ComposerState:
    """Resolve the chosen model and keep the options that still apply, saying what was dropped."""
    menu = build_menu(membership=membership)
    wanted = str(values.get("model") or "")
    model = CatalogModel.objects.resolve(wanted) if wanted else None
    if model is None or not model.enabled:
        usable = [e.model for _, entries in menu for e in entries if not e.blocked_reason]
        model = usable[0] if usable else None
    state = ComposerState(menu=menu, model=model, values={k: values.get(k) or "" for k in values})
    if model is None:
        return state
    state.blocked_reason = model_block_reason(membership=membership, model=model)
    state.is_demo = route_for(model.family).is_demo
    state.values["model"] = model.slug

    resolution = str(values.get("resolution") or "")
    if resolution not in model.resolutions:
        if resolution and resolution != "default":
            state.dropped.append(f"resolution {resolution}")
        resolution = model.default_resolution
    state.values["resolution"] = resolution

    ratio = str(values.get("aspect_ratio") or "")
    if ratio not in model.aspect_ratios:
        if ratio:
            state.dropped.append(f"aspect ratio {ratio}")
        ratio = model.default_aspect_ratio
    state.values["aspect_ratio"] = ratio
    for r in model.aspect_ratios:
        size = model.output_size(r, resolution)
        state.ratios.append((r, f"{size[0]}×{size[1]}" if size else ""))

    quality = str(values.get("quality") or "")
    if quality and quality not in model.qualities:
        state.dropped.append(f"quality {quality}")
        quality = ""
    state.values["quality"] = quality

    try:
        count = int(values.get("count") or 1)
    except (TypeError, ValueError):
        count = 1
    if count > model.max_count:
        state.dropped.append(f"{count} images (this model makes at most {model.max_count})")
        count = model.max_count
    state.values["count"] = max(count, 1)
    for name, capability in (("seed", "seed"), ("negative_prompt", "negative_prompt")):
        if values.get(name) and not model.cap(capability, False):
            state.dropped.append(name.replace("_", " "))
            state.values[name] = ""
    style = str(values.get("style") or "")
    if style and style not in (model.cap("styles") or []):
        state.dropped.append(f"style {style}")
        state.values["style"] = ""
    offered = model.cap("output_formats") or ["png"]
    fmt = str(values.get("output_format") or offered[0])
    if fmt not in offered:
        state.dropped.append(f"format {fmt}")
        fmt = offered[0]
    state.values["output_format"] = fmt
    state.quote = quote_job(membership=membership, model=model, count=state.values["count"])
    return state
