"""Seed the load suite's database: one team, its members, their API keys, two models.

Run by the load suite with the production virtualenv's python (never imported by pytest):
    python tests/load/prepare.py   # prints the credentials as JSON
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django

django.setup()

from providers.models import CatalogModel  # noqa: E402
from studio.api.auth import create_api_key  # noqa: E402
from studio.models import User  # noqa: E402
from studio.services import credits, teams  # noqa: E402

PASSWORD = "load-suite-password-1"
SIZES = {"default": {"1:1": [1024, 1024], "16:9": [1344, 768]}}


def model(slug: str, price: int) -> None:
    CatalogModel.objects.update_or_create(
        slug=slug,
        defaults={
            "display_name": slug.replace("-", " ").title(),
            "family": "openai",
            "remote_model": "gpt-image-1",
            "tier": "standard",
            "credits_per_image": price,
            "capabilities": {
                "text_to_image": True, "edit": True, "max_references": 2, "mask": False, "max_count": 4,
                "qualities": [], "aspect_ratios": ["1:1", "16:9"], "output_formats": ["png"], "seed": False,
                "negative_prompt": False, "styles": [],
            },
            "sizes": SIZES,
            "default_aspect_ratio": "1:1",
            "default_resolution": "default",
            "timeout_seconds": 60,
            "enabled": True,
        },
    )


def member(team, name: str, balance: int) -> dict[str, str]:
    user = User.objects.create_user(username=name, email=f"{name}@load.test", password=PASSWORD)
    membership = teams.add_member(team=team, user=user)
    credits.grant_credits(membership=membership, amount=balance, memo="load suite")
    _, key = create_api_key(membership=membership, name="load")
    return {"username": name, "password": PASSWORD, "key": key}


def main() -> None:
    owner = User.objects.create_user(username="load-owner", email="owner@load.test", password=PASSWORD)
    team = teams.create_team(name="Load team", owner=owner)
    credits.top_up_pool(team=team, amount=10_000_000, memo="load suite")
    model("load-2", 2)
    model("load-20", 20)
    print(json.dumps({
        "designers": [member(team, f"designer{i}", 1_000_000) for i in range(8)],
        "exact": member(team, "exact100", 100),
    }))


if __name__ == "__main__":
    main()
