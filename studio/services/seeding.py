"""Synthetic gallery data for benchmarks: many Image rows over a handful of real files.

Only `manage.py seed_gallery` and the benchmark call this. It lives on the studio side
because it makes teams, members and jobs as well as images, and the gallery depends on
nothing of studio's. The rows are real rows (with jobs, owners, a team, favourites and
boards) so every gallery query runs as in production; their files are a few real PNGs,
content-addressed like any other, which is exactly how identical outputs share a file.
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageDraw

from gallery import files, imaging
from gallery.models import Board, BoardItem, Favourite, Image, Visibility
from gallery.services import save_image_file
from providers.catalog import sync_catalog
from providers.models import CatalogModel
from studio.models import Job, Team
from studio.services import teams

SUBJECTS = (
    "whale", "fox", "lighthouse", "robot", "teapot", "castle", "astronaut", "owl", "bicycle",
    "cathedral", "koi fish", "mountain", "violin", "dragon", "sneaker", "perfume bottle",
    "city skyline", "cactus", "sailboat", "tiger", "coffee cup", "library", "jellyfish",
    "motorbike", "greenhouse", "samurai", "hummingbird", "desert", "waterfall", "chess board",
)
MOODS = (
    "at sunset", "in the snow", "under neon lights", "in morning fog", "on a rainy street",
    "in a glass dome", "floating in space", "by candlelight", "at the bottom of the sea",
    "in a spring meadow",
)
STYLES = (
    "watercolour", "studio photograph", "isometric 3D render", "oil painting", "flat vector",
    "cinematic still", "pencil sketch", "ukiyo-e print", "product shot", "pixel art",
)
ADJECTIVES = ("tiny", "giant", "golden", "ancient", "futuristic", "cosy", "minimal", "surreal")
RATIOS = ("1:1", "1:1", "16:9", "9:16", "4:3", "3:4", "3:2")
JOB_SIZE = 100


@dataclass(frozen=True)
class SeedReport:
    team_id: int
    user_ids: list[int]
    images: int
    seconds: float


def random_prompt(rng: random.Random) -> str:
    return (
        f"a {rng.choice(ADJECTIVES)} {rng.choice(SUBJECTS)} {rng.choice(MOODS)}, "
        f"{rng.choice(STYLES)}"
    )


def _sample_png(index: int, size: int = 512) -> bytes:
    rng = random.Random(index)  # noqa: S311 - synthetic pictures, not secrets
    base = tuple(rng.randrange(40, 220) for _ in range(3))
    picture = PILImage.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        box = sorted(rng.randrange(size) for _ in range(2)), sorted(rng.randrange(size) for _ in range(2))
        draw.ellipse((box[0][0], box[1][0], box[0][1], box[1][1]), fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def _stored_samples(count: int) -> list[dict[str, object]]:
    samples = []
    for index in range(count):
        stored = save_image_file(data=_sample_png(index), mime_type="image/png")
        thumb = imaging.make_thumbnail(files.read_bytes(stored.name))
        thumb_name = files.thumbnail_name(stored.sha256)
        files.store_bytes(thumb_name, thumb.data)
        samples.append(
            {
                "file": stored.name,
                "sha256": stored.sha256,
                "byte_size": stored.byte_size,
                "width": stored.width,
                "height": stored.height,
                "placeholder_colour": stored.placeholder_colour,
                "thumbnail": thumb_name,
                "thumb_width": thumb.width,
                "thumb_height": thumb.height,
            }
        )
    return samples


def seed_gallery(
    *,
    images: int = 100_000,
    users: int = 20,
    team_name: str = "Benchmark team",
    files_count: int = 8,
    days: int = 365,
    batch_size: int = 5_000,
    seed: int = 1,
) -> SeedReport:
    """Create `images` synthetic Image rows across `users` members of one team."""
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - repeatable synthetic data
    User = get_user_model()  # noqa: N806 - a model class
    models = list(CatalogModel.objects.filter(enabled=True).order_by("slug"))
    if not models:
        sync_catalog()
        models = list(CatalogModel.objects.filter(enabled=True).order_by("slug"))
    samples = _stored_samples(files_count)

    with transaction.atomic():
        members = []
        for number in range(1, users + 1):
            user, created = User.objects.get_or_create(username=f"bench-{number:02d}")
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            members.append(user)
        team = Team.objects.filter(name=team_name).first()
        if team is None:
            team = teams.create_team(name=team_name, owner=members[0])
        existing = set(team.memberships.values_list("user_id", flat=True))
        for user in members:
            if user.pk not in existing:
                teams.add_member(team=team, user=user)
        User.objects.filter(pk__in=[u.pk for u in members], current_team__isnull=True).update(current_team=team)

    now = timezone.now()
    span = days * 86_400
    job_count = -(-images // JOB_SIZE)
    jobs: list[Job] = []
    for start in range(0, job_count, batch_size):
        chunk = []
        for number in range(start, min(start + batch_size, job_count)):
            model = rng.choice(models)
            owner = members[number % len(members)]
            chunk.append(
                Job(
                    team=team,
                    user=owner,
                    catalog_model=model,
                    model_slug=model.slug,
                    prompt=random_prompt(rng),
                    params={"aspect_ratio": rng.choice(RATIOS), "seed": rng.randrange(2**31)},
                    count=JOB_SIZE,
                    source="bench",
                    status="succeeded",
                    progress=100,
                    credits_per_image=0,
                    credits_held=0,
                    hold_state="settled",
                    provider_family=model.family,
                    is_demo=True,
                    finished_at=now,
                )
            )
        jobs.extend(Job.objects.bulk_create(chunk, batch_size=batch_size))

    created = 0
    for start in range(0, images, batch_size):
        rows = []
        for number in range(start, min(start + batch_size, images)):
            job = jobs[number // JOB_SIZE]
            sample = samples[rng.randrange(len(samples))]
            model = job.catalog_model
            roll = rng.random()
            rows.append(
                Image(
                    job=job,
                    index=number % JOB_SIZE,
                    owner_id=job.user_id,
                    team=team,
                    visibility=Visibility.PRIVATE if roll < 0.15 else Visibility.TEAM,
                    mime_type="image/png",
                    prompt=random_prompt(rng),
                    model_slug=model.slug,
                    tier=model.tier,
                    provider=model.family,
                    aspect_ratio=job.params["aspect_ratio"],
                    params=job.params,
                    is_demo=True,
                    created_at=now - timedelta(seconds=rng.randrange(span)),
                    deleted_at=now - timedelta(days=rng.randrange(40)) if roll > 0.99 else None,
                    **sample,  # type: ignore[arg-type]
                )
            )
        Image.objects.bulk_create(rows, batch_size=batch_size)
        created += len(rows)

    _seed_favourites_and_boards(rng=rng, team=team, members=members)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE gallery_image")
    return SeedReport(team.pk, [u.pk for u in members], created, time.monotonic() - started)


def _seed_favourites_and_boards(*, rng: random.Random, team: object, members: list[object]) -> None:
    """A few favourites and one board per member, so those filters have something to find."""
    recent = list(
        Image.objects.filter(team=team, visibility=Visibility.TEAM, deleted_at__isnull=True)
        .order_by("-id")
        .values_list("pk", flat=True)[:5_000]
    )
    if not recent:
        return
    favourites, items = [], []
    for user in members:
        for pk in rng.sample(recent, min(50, len(recent))):
            favourites.append(Favourite(user=user, image_id=pk))
        board, _ = Board.objects.get_or_create(team=team, owner=user, name="Picks")  # type: ignore[misc]
        for pk in rng.sample(recent, min(40, len(recent))):
            items.append(BoardItem(board=board, image_id=pk))
    Favourite.objects.bulk_create(favourites, ignore_conflicts=True)
    BoardItem.objects.bulk_create(items, ignore_conflicts=True)
