"""Stored images. The gallery knows jobs only by foreign key."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Visibility(models.TextChoices):
    PRIVATE = "private", "Only me"
    TEAM = "team", "My team"


class ImageQuerySet(models.QuerySet["Image"]):
    def live(self) -> ImageQuerySet:
        return self.filter(deleted_at__isnull=True)

    def visible_to(self, user: models.Model) -> ImageQuerySet:
        """Images `user` may see: their own, and team-visible ones of their teams."""
        team_ids = user.memberships.values("team_id")  # type: ignore[attr-defined]
        return self.live().filter(
            models.Q(owner=user) | models.Q(team_id__in=team_ids, visibility=Visibility.TEAM)
        )

    def newest_first(self) -> ImageQuerySet:
        return self.order_by("-created_at", "-id")


class Image(models.Model):
    """One generated image: the original byte-exact, plus a WebP thumbnail.

    Files are content-addressed by sha256, so identical bytes are stored once.
    """

    job = models.ForeignKey("studio.Job", on_delete=models.PROTECT, related_name="images")
    index = models.PositiveSmallIntegerField(default=0)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="images")
    team = models.ForeignKey("studio.Team", on_delete=models.PROTECT, related_name="images")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.TEAM)

    file = models.FileField(max_length=200)
    thumbnail = models.FileField(max_length=200, blank=True)
    thumb_width = models.PositiveIntegerField(default=0)
    thumb_height = models.PositiveIntegerField(default=0)
    placeholder_colour = models.CharField(max_length=7, default="#888888")
    mime_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)

    # Copied from the job so browsing and search never join through it.
    prompt = models.TextField()
    model_slug = models.CharField(max_length=100)
    tier = models.CharField(max_length=10)
    params = models.JSONField(default=dict)
    revised_prompt = models.TextField(blank=True)
    is_demo = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="image_owner_recent"),
            models.Index(fields=["team", "-created_at", "-id"], name="image_team_recent"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="image_unique_job_index")
        ]

    def __str__(self) -> str:
        return f"image {self.pk} of job {self.job_id}"

    @property
    def aspect_label(self) -> str:
        return str(self.params.get("aspect_ratio", "")) if self.params else ""

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/svg+xml": "svg"}.get(
            self.mime_type, "bin"
        )
