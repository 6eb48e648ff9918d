"""The team's model access as one table: every tier and model setting saved in one go.

Each change goes through the team-admin services (which audit it); this checks the whole
table first and applies it in one transaction, so a bad value stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from providers.models import CatalogModel, Tier
from studio.models import Membership, ModelAccessRule
from studio.services.errors import ValidationFailed
from studio.services.team.access import MODEL_SETTINGS, require_manager, set_model_access, set_tier_access

TIER_SETTINGS = ("allow", "block")


def save_access_table(*, actor: Membership, tiers: Mapping[str, str], models: Mapping[str, str]) -> int:
    """Apply `tiers` (tier → allow/block) and `models` (slug → inherit/allow/block); return how many changed.

    Settings left out of the mappings stay as they are.
    """
    require_manager(actor)
    errors: dict[str, str] = {}
    for tier, value in tiers.items():
        if tier not in Tier.values or value not in TIER_SETTINGS:
            errors[f"tier_{tier}"] = f"Choose allowed or blocked for the {tier} tier."
    found = {m.slug: m for m in CatalogModel.objects.filter(slug__in=list(models))}
    for slug, value in models.items():
        if slug not in found:
            errors[f"model_{slug}"] = f"There is no model “{slug}”."
        elif value not in MODEL_SETTINGS:
            errors[f"model_{slug}"] = f"Choose follow the tier, always allowed or blocked for {found[slug].display_name}."
    if errors:
        raise ValidationFailed(errors)
    before = _snapshot(actor)
    with transaction.atomic():
        for tier, value in tiers.items():
            set_tier_access(actor=actor, tier=tier, blocked=value == "block")
        for slug, value in models.items():
            set_model_access(actor=actor, model=found[slug], setting=value)
    after = _snapshot(actor)
    return sum(1 for key in set(before) | set(after) if before.get(key) != after.get(key))


def _snapshot(actor: Membership) -> dict[tuple[str, str], str]:
    rows = ModelAccessRule.objects.filter(team=actor.team).values_list("tier", "catalog_model_id", "effect")
    return {(tier or "", str(model_id or "")): effect for tier, model_id, effect in rows}
