"""Who may do what: managers' rights and which models a team may use."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from providers.models import CatalogModel, Tier
from providers.registry import route_for_model
from studio.models import AccessEffect, AuditAction, Membership, ModelAccessRule, Team
from studio.services import config_cache
from studio.services.errors import PermissionDenied, ValidationFailed
from studio.services.team.audit import log_event

MODEL_SETTINGS = ("inherit", AccessEffect.ALLOW.value, AccessEffect.BLOCK.value)
# Above this a cap no longer shares anything: one worker process runs 64 jobs at once.
MAX_RUNNING_PER_MEMBER = 64


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
    team_id = membership.team_id
    access = config_cache.cached("team-access", str(team_id), lambda: _load_team_access(team_id))
    membership._team_access_cache = access  # type: ignore[attr-defined]
    return access


def _load_team_access(team_id: int) -> TeamAccess:
    # Kept per process by config_cache; saving or deleting a rule bumps its version.
    tiers: set[str] = set()
    models: dict[int, str] = {}
    for tier, model_id, effect in ModelAccessRule.objects.filter(team_id=team_id).values_list(
        "tier", "catalog_model_id", "effect"
    ):
        if model_id is not None:
            models[model_id] = effect
        elif effect == AccessEffect.BLOCK:
            tiers.add(tier)
    return TeamAccess(blocked_tiers=frozenset(tiers), models=models)


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


def require_manager(actor: Membership) -> None:
    """Refuse anyone but the team's owner and admins."""
    if not actor.can_manage:
        raise PermissionDenied("Only the team's owner and admins can do this.")


def require_same_team(actor: Membership, target: Membership) -> None:
    # Views look members up inside the actor's team already; this is the second lock.
    if target.team_id != actor.team_id:
        raise PermissionDenied("That member belongs to another team.")


def set_tier_access(*, actor: Membership, tier: str, blocked: bool) -> None:
    """Allow (the default) or block a whole tier for the team."""
    require_manager(actor)
    if tier not in Tier.values:
        raise ValidationFailed({"tier": "Choose standard, advanced, premium or ultra."})
    with transaction.atomic():
        rule = ModelAccessRule.objects.select_for_update().filter(team=actor.team, tier=tier).first()
        was_blocked = rule is not None and rule.effect == AccessEffect.BLOCK
        if was_blocked == blocked:
            return
        if blocked:
            ModelAccessRule.objects.update_or_create(
                team=actor.team, tier=tier, defaults={"effect": AccessEffect.BLOCK, "updated_by": actor.user}
            )
        else:
            ModelAccessRule.objects.filter(team=actor.team, tier=tier).delete()
        log_event(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.TIER_ACCESS,
            target_label=f"{tier} tier",
            before={"tier": tier, "access": "blocked" if was_blocked else "allowed"},
            after={"tier": tier, "access": "blocked" if blocked else "allowed"},
        )




def set_model_access(*, actor: Membership, model: CatalogModel, setting: str) -> None:
    """Set one model to follow its tier ("inherit"), always "allow" it, or "block" it."""
    require_manager(actor)
    if setting not in MODEL_SETTINGS:
        raise ValidationFailed({"access": "Choose: follow the tier, always allow, or block."})
    with transaction.atomic():
        rule = ModelAccessRule.objects.select_for_update().filter(team=actor.team, catalog_model=model).first()
        before = rule.effect if rule is not None else "inherit"
        if before == setting:
            return
        if setting == "inherit":
            ModelAccessRule.objects.filter(team=actor.team, catalog_model=model).delete()
        else:
            ModelAccessRule.objects.update_or_create(
                team=actor.team, catalog_model=model, defaults={"effect": setting, "updated_by": actor.user}
            )
        log_event(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.MODEL_ACCESS,
            target_label=model.slug,
            before={"model": model.slug, "access": before},
            after={"model": model.slug, "access": setting},
        )


def set_member_concurrency_cap(*, actor: Membership, cap: int | None) -> bool:
    """How many jobs one member may have running at once (None or 0: no cap). True if it changed.

    The dispatcher passes a member at the cap over, so their other jobs wait queued and a
    colleague's job takes the free slot; the cap is enforced under a lock at claim time.
    """
    require_manager(actor)
    cap = cap or 0
    if not 0 <= cap <= MAX_RUNNING_PER_MEMBER:
        raise ValidationFailed(
            {"max_running_per_member": f"Enter a number from 1 to {MAX_RUNNING_PER_MEMBER}, or leave it blank for no cap."}
        )
    with transaction.atomic():
        before = Team.objects.filter(pk=actor.team_id).values_list("max_running_per_member", flat=True).get()
        if before == cap:
            return False
        Team.objects.filter(pk=actor.team_id).update(max_running_per_member=cap)
        config_cache.bump()  # API calls resolve their key to a cached membership and team
        log_event(
            team=actor.team,
            actor=actor.user,
            action=AuditAction.CONCURRENCY_CAP,
            target_label="running jobs per member",
            before={"max_running_per_member": before or "no cap"},
            after={"max_running_per_member": cap or "no cap"},
        )
    actor.team.max_running_per_member = cap
    return True
