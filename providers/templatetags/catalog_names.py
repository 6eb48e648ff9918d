"""Names people read where the data holds identifiers: models, tiers and providers.

Model strings (`recraft-v4-pro`) are the contract in the database, the API and the
ledger; pages show the catalogue's display names instead. One query per template
render, however many rows ask.
"""

from __future__ import annotations

import re
from typing import Any

from django import template

from providers.models import CatalogModel, Family, Tier

register = template.Library()

# How job transfers write their memo ("4 × recraft-v4-pro"): only the model string is replaced.
_MEMO_MODEL = re.compile(r"(\d+ × )([\w.\-]+)")


def _names(context: Any) -> dict[str, str]:
    cache = context.render_context
    if "catalog_names" not in cache:
        cache["catalog_names"] = dict(CatalogModel.objects.values_list("slug", "display_name"))
    return cache["catalog_names"]


@register.simple_tag(takes_context=True)
def model_name(context: Any, slug: str) -> str:
    """The model's display name, or the string itself for a model no longer in the catalogue."""
    return _names(context).get(slug or "", slug or "—")


@register.simple_tag(takes_context=True)
def memo_text(context: Any, memo: str) -> str:
    names = _names(context)
    return _MEMO_MODEL.sub(lambda m: m.group(1) + names.get(m.group(2), m.group(2)), memo or "")


@register.filter
def tier_name(tier: str) -> str:
    return Tier(tier).label if tier in Tier.values else (tier or "—")


@register.filter
def provider_name(family: str) -> str:
    return Family(family).label if family in Family.values else (family or "—")
