"""API fixtures: small fast models, a designer's key, a client that sends it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.test import Client

from providers.models import CatalogModel, ModelAlias
from studio.api.auth import create_api_key
from studio.api.models import ApiKey
from studio.models import Membership

SMALL_SIZES = {"default": {"1:1": [64, 64], "16:9": [96, 54], "9:16": [54, 96]}}
GEMINI_SIZES = {
    "1K": {"1:1": [64, 64], "16:9": [96, 54], "4:3": [80, 60]},
    "2K": {"1:1": [128, 128], "16:9": [192, 108], "4:3": [160, 120]},
}


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # Counters are keyed by the key's random prefix, but a clean cache keeps tests independent.
    cache.clear()


@pytest.fixture
def gpt_model(make_model: Callable[..., CatalogModel]) -> CatalogModel:
    model = make_model(
        "gpt-image-test",
        remote_model="gpt-image-test",
        sizes=SMALL_SIZES,
        fixed_options={"quality": "medium"},
        capabilities={
            "text_to_image": True, "edit": True, "max_references": 4, "mask": True, "max_count": 4,
            "qualities": [], "aspect_ratios": ["1:1", "16:9", "9:16"], "output_formats": ["png", "jpeg", "webp"],
            "seed": False, "negative_prompt": False, "styles": [], "streaming": True,
        },
    )
    ModelAlias.objects.create(alias="openai/gpt-image-test", model=model)
    return model


@pytest.fixture
def gpt_high(make_model: Callable[..., CatalogModel], gpt_model: CatalogModel) -> CatalogModel:
    return make_model(
        "gpt-image-test-high",
        remote_model="gpt-image-test",
        credits_per_image=60,
        sizes=SMALL_SIZES,
        fixed_options={"quality": "high"},
        capabilities=gpt_model.capabilities,
    )


@pytest.fixture
def gemini_model(make_model: Callable[..., CatalogModel]) -> CatalogModel:
    model = make_model(
        "gemini-test-image",
        family="gemini",
        remote_model="gemini-3-pro-image",
        credits_per_image=30,
        sizes=GEMINI_SIZES,
        default_resolution="1K",
        capabilities={
            "text_to_image": True, "edit": True, "max_references": 14, "mask": False, "max_count": 4,
            "qualities": [], "aspect_ratios": ["1:1", "16:9", "4:3"], "output_formats": ["png"],
            "thinking": True,
        },
    )
    ModelAlias.objects.create(alias="nano-test", model=model)
    return model


@pytest.fixture
def make_key() -> Callable[..., tuple[ApiKey, str]]:
    def make(membership: Membership, name: str = "test key") -> tuple[ApiKey, str]:
        return create_api_key(membership=membership, name=name)

    return make


@pytest.fixture
def key_pair(designer: Membership, make_key: Callable[..., tuple[ApiKey, str]]) -> tuple[ApiKey, str]:
    return make_key(designer)


@pytest.fixture
def api(key_pair: tuple[ApiKey, str]) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key_pair[1]}")

