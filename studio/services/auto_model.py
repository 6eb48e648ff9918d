"""The "Auto" model (seed 000): when a request names no model, pick one for it.

The pick is the cheapest enabled model the member may use that does everything the request
asks (references, a mask, the count, the aspect ratio, the resolution), preferring a real
provider to a demo render; ties go to the lower tier, then the slug, so the same request
always gets the same model. The reason it was picked is said with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.models import TIER_ORDER, CatalogModel
from providers.registry import route_for_model
from studio.models import Membership
from studio.services.errors import ValidationFailed
from studio.services.team.access import model_block_reason

AUTO = "auto"


@dataclass(frozen=True)
class AutoChoice:
    model: CatalogModel
    reason: str


def is_auto(identifier: str | None) -> bool:
    return not (identifier or "").strip() or identifier.strip().lower() == AUTO


def _needs(*, references: int, mask: bool, count: int, aspect_ratio: str | None, resolution: str | None) -> list[str]:
    needs = [f"{references} reference image{'s' if references != 1 else ''}"] if references else []
    if mask:
        needs.append("a mask")
    if count > 1:
        needs.append(f"{count} images")
    if aspect_ratio:
        needs.append(aspect_ratio)
    if resolution and resolution != "default":
        needs.append(resolution)
    return needs


def can_serve(
    model: CatalogModel, *, references: int, mask: bool, count: int, aspect_ratio: str | None, resolution: str | None
) -> bool:
    if not references and not model.cap("text_to_image", True):
        return False
    if references > model.max_references or (mask and not model.cap("mask", False)):
        return False
    if count > model.max_count:
        return False
    if aspect_ratio and aspect_ratio not in model.aspect_ratios:
        return False
    return not (resolution and resolution != "default" and resolution not in model.resolutions)


def choose_auto_model(
    *,
    membership: Membership,
    references: int = 0,
    mask: bool = False,
    count: int = 1,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
) -> AutoChoice:
    """The model an "Auto" request runs on, or ValidationFailed naming what no model offers."""
    candidates = [
        model
        for model in CatalogModel.objects.enabled()
        if can_serve(
            model, references=references, mask=mask, count=count, aspect_ratio=aspect_ratio, resolution=resolution
        )
        and not model_block_reason(membership=membership, model=model)
    ]
    needs = _needs(references=references, mask=mask, count=count, aspect_ratio=aspect_ratio, resolution=resolution)
    if not candidates:
        wanted = ", ".join(needs) or "a text prompt"
        raise ValidationFailed({"model": f"No model you may use offers {wanted}; choose a model instead of Auto."})
    best = min(
        candidates,
        key=lambda m: (route_for_model(m).is_demo, m.credits_per_image, TIER_ORDER.get(m.tier, 9), m.slug),
    )
    takes = f" that takes {', '.join(needs)}" if needs else ""
    reason = f"Auto: {best.display_name}, the cheapest model you may use{takes} ({best.credits_per_image} credits per image)."
    return AutoChoice(model=best, reason=reason)
