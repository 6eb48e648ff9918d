"""Resolve a catalogue model to the adapter that serves it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from providers.backends.base import ProviderAdapter

if TYPE_CHECKING:
    from providers.models import CatalogModel

# family -> adapter class path. Families sharing a protocol share its base class (openai_compat).
ADAPTERS: dict[str, str] = {
    "openai": "providers.backends.openai.OpenAIAdapter",
    "xai": "providers.backends.xai.XAIAdapter",
    "recraft": "providers.backends.recraft.RecraftAdapter",
    "ark": "providers.backends.ark.ArkAdapter",
    "gemini": "providers.backends.gemini.GeminiAdapter",
    "imagen": "providers.backends.gemini.ImagenAdapter",
    "bfl": "providers.backends.bfl.BFLAdapter",
    "ideogram": "providers.backends.ideogram.IdeogramAdapter",
    "luma": "providers.backends.luma.LumaAdapter",
    "leonardo": "providers.backends.leonardo.LeonardoAdapter",
    "stability": "providers.backends.stability.StabilityAdapter",
    "replicate": "providers.backends.replicate.ReplicateAdapter",
    "fal": "providers.backends.fal.FalAdapter",
    "dashscope": "providers.backends.dashscope.DashScopeAdapter",
    "aggregator": "providers.backends.aggregator.AggregatorAdapter",
    "aggregator_openai": "providers.backends.aggregator.AggregatorOpenAIAdapter",
    "local": "providers.backends.local.LocalRenderer",
}

# Imagen is reached with the Gemini API key.
SETTINGS_NAME: dict[str, str] = {
    "openai": "OPENAI",
    "xai": "XAI",
    "recraft": "RECRAFT",
    "ark": "ARK",
    "gemini": "GEMINI",
    "imagen": "GEMINI",
    "bfl": "BFL",
    "ideogram": "IDEOGRAM",
    "luma": "LUMA",
    "leonardo": "LEONARDO",
    "stability": "STABILITY",
    "replicate": "REPLICATE",
    "fal": "FAL",
    "dashscope": "DASHSCOPE",
    "aggregator": "AGGREGATOR",
    "aggregator_openai": "AGGREGATOR",
}
# Families with no public default address: the base URL is part of being configured.
NEEDS_BASE_URL = frozenset({"aggregator", "aggregator_openai"})


@dataclass(frozen=True)
class Route:
    """How one job reaches a provider: the adapter family, and whether it is a demo render."""

    family: str
    is_demo: bool
    unavailable_reason: str = ""

    @property
    def available(self) -> bool:
        return not self.unavailable_reason


@cache
def adapter_class(family: str) -> type[ProviderAdapter]:
    try:
        return import_string(ADAPTERS[family])
    except KeyError:
        raise LookupError(f"no adapter for provider family {family!r}") from None


def api_key_for(family: str) -> str:
    name = SETTINGS_NAME.get(family)
    return getattr(settings, f"{name}_API_KEY", "") if name else ""


def base_url_for(family: str) -> str:
    name = SETTINGS_NAME.get(family)
    return getattr(settings, f"{name}_BASE_URL", "") if name else ""


def is_configured(family: str) -> bool:
    return bool(api_key_for(family)) and (family not in NEEDS_BASE_URL or bool(base_url_for(family)))


def missing_setting(family: str) -> str:
    name = SETTINGS_NAME.get(family, family.upper())
    if not api_key_for(family):
        return f"{name}_API_KEY is not set"
    return f"{name}_BASE_URL is not set"


def route_for(family: str) -> Route:
    """Decide who renders a model of `family` under STUDIO_DEMO_RENDER (auto | off | all)."""
    mode = settings.STUDIO_DEMO_RENDER
    if mode == "all":
        return Route("local", is_demo=True)
    if is_configured(family):
        return Route(family, is_demo=False)
    if mode == "auto":
        return Route("local", is_demo=True)
    return Route(family, is_demo=False, unavailable_reason=missing_setting(family))


def route_for_model(model: CatalogModel) -> Route:
    """Who renders `model` today: its served route's family (a retired upstream's successor,
    or the aggregator where it serves the model) under STUDIO_DEMO_RENDER."""
    return route_for(model.served_route().family)


@cache
def shared_http_client() -> httpx.Client:
    """One connection pool per process for every adapter (httpx clients are thread-safe).

    A client per call cost ~26 ms of CPU each and leaked its sockets; the per-call
    timeouts are still set on each request by ProviderAdapter.request.
    """
    return httpx.Client(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
    )


def get_adapter(family: str) -> ProviderAdapter:
    """Build the adapter for a family with its key and base URL from settings."""
    cls = adapter_class(family)
    return cls(api_key=api_key_for(family), base_url=base_url_for(family), client=shared_http_client())
