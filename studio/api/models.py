"""API keys, idempotency records and webhook deliveries."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A bearer key bound to one user in one team.

    The secret is shown once at creation; only its SHA-256 is stored (the key carries
    192 random bits, so a fast hash is enough). `prefix` is the public part used to
    find the row. `webhook_secret` signs this key's webhooks and must stay readable.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    team = models.ForeignKey("studio.Team", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=32, unique=True)
    key_hash = models.CharField(max_length=64)
    webhook_secret = models.CharField(max_length=100)
    # After a rotation the old secret also signs until `previous_webhook_secret_until`, so
    # receivers can switch without dropping a delivery (Standard Webhooks' overlap).
    previous_webhook_secret = models.CharField(max_length=100, blank=True)
    previous_webhook_secret_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        indexes = [models.Index(fields=["team", "user"], name="apikey_team_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def webhook_secrets(self, *, now: datetime | None = None) -> list[str]:
        """The secrets that sign now: the current one, then the previous one while it overlaps."""
        now = now or timezone.now()
        until = self.previous_webhook_secret_until
        if self.previous_webhook_secret and until is not None and until > now:
            return [self.webhook_secret, self.previous_webhook_secret]
        return [self.webhook_secret]

    @property
    def display_prefix(self) -> str:
        return f"stu_{self.prefix}_…"


class IdempotencyStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class IdempotencyRecord(models.Model):
    """The first response to a POST with an `Idempotency-Key`, replayed to its retries.

    UNIQUE(api_key, key) is the claim: a concurrent retry's INSERT fails instead of
    racing a SELECT. Records expire 24 hours after creation and are purged.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    status = models.CharField(
        max_length=12, choices=IdempotencyStatus.choices, default=IdempotencyStatus.IN_PROGRESS
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    job = models.ForeignKey("studio.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key_per_api_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class WebhookEvent(models.TextChoices):
    PROGRESS = "progress", "Progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class JobWebhook(models.Model):
    """Where and for which events one API job reports (from `webhookUrl`/`webhookEvents`)."""

    job = models.OneToOneField("studio.Job", on_delete=models.CASCADE, related_name="api_webhook")
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="job_webhooks")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    # The site root the job was submitted to, for absolute image links in payloads.
    base_url = models.CharField(max_length=300)
    # Highest progress bucket already reported, so progress events stay few.
    last_progress = models.SmallIntegerField(default=-1)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"webhook for job {self.job_id} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one job, delivered (and retried) until it succeeds or gives up.

    `webhook_id` and `payload` are fixed at creation: every retry sends the same id and
    the same bytes, with a fresh timestamp and signature.
    """

    job = models.ForeignKey("studio.Job", on_delete=models.CASCADE, related_name="webhook_deliveries")
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2000)
    event = models.CharField(max_length=10, choices=WebhookEvent.choices)
    event_type = models.CharField(max_length=30)
    webhook_id = models.CharField(max_length=64, unique=True)
    payload = models.TextField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["api_key", "-created_at"], name="delivery_key_recent"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due"),
            models.Index(fields=["url", "-last_attempt_at"], name="delivery_url_recent"),
        ]
        constraints = [
            # A job reports its end once, however often the job layer is re-entered.
            models.UniqueConstraint(
                fields=["job", "event"],
                condition=models.Q(event__in=["completed", "failed"]),
                name="delivery_terminal_once_per_job",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} for job {self.job_id} ({self.status})"
