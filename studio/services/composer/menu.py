"""The model menu: every enabled model grouped by tier, with its badges and why it is blocked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from providers.models import TIER_ORDER, CatalogModel
from providers.registry import route_for_model
from studio.models import Membership
from studio.services.team.access import model_block_reason


@dataclass(frozen=True)
class MenuEntry:
    model: CatalogModel
    blocked_reason: str
    is_demo: bool
    badges: tuple[str, ...] = ()


def model_badges(model: CatalogModel) -> tuple[str, ...]:
    """What a model can do, in the few words the picker shows."""
    badges: list[str] = []
    if model.max_references:
        badges += ["edit", f"references ≤ {model.max_references}"]
    if model.cap("mask", False):
        badges.append("mask")
    if "4K" in model.resolutions:
        badges.append("4K")
    if model.cap("text_in_image", False):
        badges.append("text in image")
    if model.cap("svg", False) or "svg" in (model.cap("output_formats") or []):
        badges.append("SVG")
    return tuple(badges)


def _matches(model: CatalogModel, badges: Iterable[str], words: list[str]) -> bool:
    haystack = " ".join(
        [model.slug, model.display_name, model.description, model.tier, model.get_family_display(), *badges]
    ).lower()
    return all(word in haystack for word in words)


def build_menu(*, membership: Membership, query: str = "", keep: str = "") -> list[tuple[str, list[MenuEntry]]]:
    """The model menu grouped by tier (standard → ultra), each entry saying why it is blocked, if it is.

    `query` keeps models whose name, description, provider or badges hold every word;
    `keep` (a slug) stays listed whatever the query, so the chosen model is never hidden.
    """
    words = query.lower().split()
    groups: dict[str, list[MenuEntry]] = {tier: [] for tier in TIER_ORDER}
    for model in CatalogModel.objects.menu_order():
        if not model.enabled:
            continue
        badges = model_badges(model)
        if words and model.slug != keep and not _matches(model, badges, words):
            continue
        groups[model.tier].append(
            MenuEntry(
                model=model,
                blocked_reason=model_block_reason(membership=membership, model=model),
                is_demo=route_for_model(model).is_demo,
                badges=badges,
            )
        )
    return [(tier, entries) for tier, entries in groups.items() if entries]


def usable_models(menu: list[tuple[str, list[MenuEntry]]]) -> list[CatalogModel]:
    return [e.model for _, entries in menu for e in entries if not e.blocked_reason]
