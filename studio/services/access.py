"""Who may use which model."""

from __future__ import annotations

from providers.models import CatalogModel
from providers.registry import route_for
from studio.models import Membership


def model_block_reason(*, membership: Membership, model: CatalogModel) -> str:
    """Say why `membership` cannot use `model` now, or return "" when it can."""
    if not model.enabled:
        return "This model is disabled."
    route = route_for(model.family)
    if not route.available:
        return f"Not configured: {route.unavailable_reason}."
    if not membership.can_generate:
        return "Your role in this team does not allow generating images."
    return ""
