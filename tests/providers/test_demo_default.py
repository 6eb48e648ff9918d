"""Users of a real install never pay for a placeholder: demo renders are off in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from providers.models import CatalogModel

ROOT = Path(__file__).resolve().parents[2]


def setting_with(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("STUDIO_DEMO_RENDER", "DEBUG")}
    code = "from django.conf import settings; print(settings.STUDIO_DEMO_RENDER)"
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "studio.settings", "SECRET_KEY": "x", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize(("debug", "expected"), [("false", "off"), ("true", "auto")])
def test_demo_renders_default_to_off_without_debug(debug: str, expected: str) -> None:
    assert setting_with(DEBUG=debug) == expected


def test_an_explicit_setting_still_wins() -> None:
    assert setting_with(DEBUG="false", STUDIO_DEMO_RENDER="auto") == "auto"


def test_a_demo_render_costs_nothing() -> None:
    model = CatalogModel(slug="seedream-4", credits_per_image=8)
    assert model.effective_price(is_demo=True) == 0
    assert model.effective_price(is_demo=False) == 8
