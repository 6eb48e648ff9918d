"""Stored images, favourites, boards and share links. The gallery knows jobs only by foreign key."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone

# Soft-deleted images stay restorable this long, then the purge task removes them.
RESTORE_DAYS = 30


class Visibility(models.TextChoices):
    PRIVATE = "private", "Only me"
    TEAM = "team", "My team"


class ImageQuerySet(models.QuerySet["Image"]):
    def live(self) -> ImageQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> ImageQuerySet:
        return self.filter(deleted_at__isnull=False)

    def visible_to(self, user: models.Model) -> ImageQuerySet:
        """Live images `user` may see: their own, and team-visible ones of their teams."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        team_ids = user.memberships.values("team_id")  # type: ignore[attr-defined]
        return self.live().filter(
            models.Q(owner=user) | models.Q(team_id__in=team_ids, visibility=Visibility.TEAM)
        )

    def shared_with_team(self, team_id: int) -> ImageQuerySet:
        """The team gallery: what members made team-visible (served by `image_team_shared`)."""
        return self.live().filter(team_id=team_id, visibility=Visibility.TEAM)

    def owned_by(self, user: models.Model) -> ImageQuerySet:
        """"My images" (served by `image_owner_live`)."""
        return self.live().filter(owner=user)

    def newest_first(self) -> ImageQuerySet:
        return self.order_by("-created_at", "-id")


class Image(models.Model):
    """One generated image: the original byte-exact, plus a WebP thumbnail made by a task.

    Files are content-addressed by sha256 (`images/<aa>/<sha>.<ext>`), so identical bytes
    are stored once and several rows may name the same file: a file is deleted only when
    no row, live or soft-deleted, refers to its sha256 any more.
    """

    job = models.ForeignKey("studio.Job", on_delete=models.PROTECT, related_name="images")
    index = models.PositiveSmallIntegerField(default=0)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="images")
    team = models.ForeignKey("studio.Team", on_delete=models.PROTECT, related_name="images")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.TEAM)

    file = models.FileField(max_length=200)
    # Empty until the thumbnail task has run: the grid shows `placeholder_colour` meanwhile.
    thumbnail = models.FileField(max_length=200, blank=True)
    thumb_width = models.PositiveIntegerField(default=0)
    thumb_height = models.PositiveIntegerField(default=0)
    placeholder_colour = models.CharField(max_length=7, default="#888888")
    mime_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)

    # Copied from the job so browsing, filtering and search never join through it.
    prompt = models.TextField()
    model_slug = models.CharField(max_length=100)
    tier = models.CharField(max_length=10)
    provider = models.CharField(max_length=20, blank=True)
    aspect_ratio = models.CharField(max_length=10, blank=True)
    params = models.JSONField(default=dict)
    revised_prompt = models.TextField(blank=True)
    is_demo = models.BooleanField(default=False)
    # PostgreSQL only: kept from `prompt` by a trigger and GIN-indexed (migration 0003);
    # stays empty on SQLite, where search falls back to a case-insensitive match.
    search_vector = SearchVectorField(null=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="image_owner_live",
                condition=models.Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["team", "-created_at", "-id"],
                name="image_team_shared",
                condition=models.Q(visibility="team", deleted_at__isnull=True),
            ),
            models.Index(
                fields=["team", "model_slug", "-created_at", "-id"],
                name="image_team_model",
                condition=models.Q(visibility="team", deleted_at__isnull=True),
            ),
            models.Index(
                fields=["deleted_at"], name="image_deleted", condition=models.Q(deleted_at__isnull=False)
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="image_unique_job_index")
        ]

    def __str__(self) -> str:
        return f"image {self.pk} of job {self.job_id}"

    @property
    def aspect_label(self) -> str:
        if self.aspect_ratio:
            return self.aspect_ratio
        return str(self.params.get("aspect_ratio", "")) if self.params else ""

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.mime_type, "bin")

    @property
    def is_svg(self) -> bool:
        return self.mime_type == "image/svg+xml"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def purge_after(self) -> datetime | None:
        return self.deleted_at + timedelta(days=RESTORE_DAYS) if self.deleted_at else None

    @property
    def download_name(self) -> str:
        return f"studio-{self.pk}.{self.extension}"


EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/svg+xml": "svg",
}


class Favourite(models.Model):
    """A user's mark on an image; one per user and image."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "image"], name="favourite_unique_user_image")
        ]

    def __str__(self) -> str:
        return f"favourite of image {self.image_id} by user {self.user_id}"


class BoardQuerySet(models.QuerySet["Board"]):
    def visible_to(self, user: models.Model) -> BoardQuerySet:
        """Boards `user` may open: their own, and team-visible boards of their teams."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        team_ids = user.memberships.values("team_id")  # type: ignore[attr-defined]
        return self.filter(
            models.Q(owner=user) | models.Q(team_id__in=team_ids, visibility=Visibility.TEAM)
        )


class Board(models.Model):
    """A named collection of images, made by one member; team-visible boards are read by all members.

    Only the owner renames, deletes or changes what is on it. Members only ever see the
    images on it that they may see anyway.
    """

    team = models.ForeignKey("studio.Team", on_delete=models.CASCADE, related_name="boards")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="boards")
    name = models.CharField(max_length=100)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.TEAM)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BoardQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "team", "name"], name="board_unique_owner_name")
        ]

    def __str__(self) -> str:
        return self.name


class BoardItem(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="board_items")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["board", "image"], name="boarditem_unique_board_image")
        ]
        indexes = [models.Index(fields=["image"], name="boarditem_image")]

    def __str__(self) -> str:
        return f"image {self.image_id} on board {self.board_id}"


def new_share_token() -> str:
    return secrets.token_urlsafe(24)


class ShareLinkQuerySet(models.QuerySet["ShareLink"]):
    def active(self, now: datetime | None = None) -> ShareLinkQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, image__deleted_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ShareLink(models.Model):
    """A public, revocable link to one image. The token is the only secret: 192 random bits."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True, default=new_share_token)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"share link {self.pk} of image {self.image_id}"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
