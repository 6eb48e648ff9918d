"""Gallery fixtures: images made straight through the gallery services (no provider run),
and the people of the access matrix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from django.test import Client

from gallery import services
from gallery.models import Image, Visibility
from providers.models import CatalogModel
from studio.models import Job, Membership, Team, User
from studio.services import teams
from studio.services.jobs.settle import image_origin
from tests.images import make_png

MakeImage = Callable[..., Image]


@pytest.fixture
def make_image(ai_model: CatalogModel) -> MakeImage:
    """Store an image for `membership` as a finished job would, thumbnail included."""
    counter = {"n": 0}

    def make(
        membership: Membership,
        *,
        prompt: str = "a blue whale",
        visibility: str = Visibility.TEAM,
        data: bytes | None = None,
        mime_type: str = "image/png",
        model: CatalogModel | None = None,
        aspect_ratio: str = "1:1",
        parent: Job | None = None,
        created_at: datetime | None = None,
        thumbnail: bool = True,
    ) -> Image:
        counter["n"] += 1
        model = model or ai_model
        job = Job.objects.create(
            team=membership.team,
            user=membership.user,
            catalog_model=model,
            model_slug=model.slug,
            prompt=prompt,
            params={"aspect_ratio": aspect_ratio, "seed": 7, "resolution": "default"},
            credits_per_image=model.credits_per_image,
            credits_held=0,
            hold_state="settled",
            provider_family=model.family,
            status="succeeded",
            parent=parent,
        )
        if data is None:
            data = make_png(48, 32, (counter["n"] * 37 % 256, 90, 160))
        stored = services.save_image_file(data=data, mime_type=mime_type)
        image = services.create_image(origin=image_origin(job), index=0, stored=stored)
        image.visibility = visibility
        update = ["visibility"]
        if created_at is not None:
            image.created_at = created_at
            update.append("created_at")
        image.save(update_fields=update)
        if thumbnail:
            services.make_thumbnail(image_id=image.pk)
        image.refresh_from_db()
        return image

    return make


@dataclass
class Cast:
    """The people of the access matrix."""

    owner: Membership
    teammate: Membership
    outsider: User
    team: Team

    def client(self, who: str) -> Client:
        client = Client()
        user = {"owner": self.owner.user, "teammate": self.teammate.user, "outsider": self.outsider}.get(who)
        if user is not None:
            client.force_login(user)
        return client


@pytest.fixture
def cast(make_member: Callable[..., Membership], team: Team) -> Cast:
    owner = make_member("alice")
    teammate = make_member("bob")
    outsider = User.objects.create_user(username="mallory", password="pw-mallory-1")
    teams.create_team(name="Other team", owner=outsider)
    outsider.refresh_from_db()
    return Cast(owner=owner, teammate=teammate, outsider=outsider, team=team)


def body_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content
