"""Who may use which model."""

from __future__ import annotations

from dataclasses import dataclass, field

from providers.models import CatalogModel
from providers.registry import route_for_model
from studio.models import AccessEffect, Membership, ModelAccessRule


@dataclass(frozen=True)
class TeamAccess:
    """A team's model access rules, read once: blocked tiers and per-model overrides."""

    blocked_tiers: frozenset[str] = frozenset()
    models: dict[int, str] = field(default_factory=dict)  # catalog model id -> effect

    def block_reason(self, model: CatalogModel) -> str:
        # A rule on the model itself beats the rule on its tier.
        effect = self.models.get(model.pk)
        if effect == AccessEffect.BLOCK:
            return "Blocked by your team: this model is not allowed."
        if effect is None and model.tier in self.blocked_tiers:
            return f"Blocked by your team: the {model.tier} tier is not allowed."
        return ""


def team_access(*, membership: Membership) -> TeamAccess:
    """The member's team rules, cached on the membership like Django's permission cache.

    A membership object lives for one request; re-fetch it to see rules changed since.
    """
    cached = getattr(membership, "_team_access_cache", None)
    if cached is not None:
        return cached
    tiers: set[str] = set()
    models: dict[int, str] = {}
    for tier, model_id, effect in ModelAccessRule.objects.filter(team_id=membership.team_id).values_list(
        "tier", "catalog_model_id", "effect"
    ):
        if model_id is not None:
            models[model_id] = effect
        elif effect == AccessEffect.BLOCK:
            tiers.add(tier)
    access = TeamAccess(blocked_tiers=frozenset(tiers), models=models)
    membership._team_access_cache = access  # type: ignore[attr-defined]
    return access


def model_block_reason(*, membership: Membership, model: CatalogModel) -> str:
    """Say why `membership` cannot use `model` now, or return "" when it can."""
    if not model.enabled:
        return "This model is disabled."
    route = route_for_model(model)
    if not route.available:
        return f"Not configured: {route.unavailable_reason}."
    team_reason = team_access(membership=membership).block_reason(model)
    if team_reason:
        return team_reason
    if not membership.can_generate:
        return "Your role in this team does not allow generating images."
    return ""
