"""Generation jobs: one row per request, the state machine the UI and the API read."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core import signing
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


TERMINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class JobPriority(models.IntegerChoices):
    """Dispatch order between classes: every NORMAL job that can run goes before any LOW one."""

    NORMAL = 0, "Interactive"
    LOW = 1, "Low (batch rows, API jobs asking for it)"


class HoldState(models.TextChoices):
    HELD = "held", "Held"
    SETTLED = "settled", "Settled"


class JobQuerySet(models.QuerySet["Job"]):
    def for_user(self, user: models.Model) -> JobQuerySet:
        return self.filter(user=user)

    def active(self) -> JobQuerySet:
        return self.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])


WATCH_SALT = "studio.job-watch"


def watch_state(*, status: str, progress: int, preview: str) -> str:
    return f"{status}.{progress}.{preview[-16:]}"


class Job(models.Model):
    """`queued → running → succeeded | failed | canceled`.

    Credits: `credits_held` is taken from the member at submit; when the job ends the
    hold is settled exactly once (`hold_state`): `credits_charged` for what was
    delivered, the rest returned.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("studio.Team", on_delete=models.PROTECT, related_name="jobs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs")
    catalog_model = models.ForeignKey(
        "providers.CatalogModel", on_delete=models.PROTECT, related_name="jobs"
    )
    model_slug = models.CharField(max_length=100)
    prompt = models.TextField()
    params = models.JSONField(default=dict)
    count = models.PositiveSmallIntegerField(default=1)
    source = models.CharField(max_length=10, default="ui")
    priority = models.PositiveSmallIntegerField(choices=JobPriority.choices, default=JobPriority.NORMAL)

    status = models.CharField(
        max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=30, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    credits_per_image = models.PositiveIntegerField()
    credits_held = models.PositiveIntegerField()
    credits_charged = models.PositiveIntegerField(default=0)
    hold_state = models.CharField(max_length=10, choices=HoldState.choices, default=HoldState.HELD)

    # Where and how the job runs: the route is fixed at submit so a re-route in the
    # admin does not move a job already under way.
    provider_family = models.CharField(max_length=20)
    is_demo = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_job_id = models.CharField(max_length=200, blank=True)
    provider_state = models.JSONField(default=dict, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # While a worker slot runs the job it renews this lease; once it lapses (a killed
    # worker, a lost host) the job is run again (studio.services.jobs.leases).
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    result_text = models.TextField(blank=True)
    result_parts = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # Jobs submitted together (a compare or a batch) share a group id.
    batch_id = models.UUIDField(null=True, blank=True, db_index=True)
    # The latest preview a provider streamed while the job runs (shown on the card).
    preview = models.FileField(max_length=200, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="job_user_recent"),
            models.Index(fields=["status", "next_attempt_at"], name="job_status_due"),
            models.Index(fields=["status", "provider_family"], name="job_status_family"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credits_charged__lte=models.F("credits_held")),
                name="job_charge_within_hold",
            ),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="job_progress_pct"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.model_slug} {self.status}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def watch_state(self) -> str:
        """What the studio card shows of an unfinished job; the card re-renders when it changes."""
        return watch_state(status=self.status, progress=self.progress, preview=self.preview.name or "")

    @property
    def watch_token(self) -> str:
        """Signed (job, owner) for the card's watch (`studio.views.job_state`), which reads no session."""
        return signing.dumps([str(self.public_id), self.user_id], salt=WATCH_SALT)

    @property
    def credits_returned(self) -> int:
        return self.credits_held - self.credits_charged if self.hold_state == HoldState.SETTLED else 0

    def param(self, name: str, default: object = None) -> object:
        return (self.params or {}).get(name, default)


def job_input_path(instance: JobInput, filename: str) -> str:
    # Never trust the uploaded name: the stored name is generated.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"inputs/{instance.job.team_id}/{uuid.uuid4().hex}.{ext}"


class JobInput(models.Model):
    """A reference image or a mask the job was submitted with (normalised, metadata-free)."""

    class Kind(models.TextChoices):
        REFERENCE = "reference", "Reference"
        MASK = "mask", "Mask"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="inputs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REFERENCE)
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=job_input_path, max_length=200)
    mime_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    original_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "position"]

    def __str__(self) -> str:
        return f"{self.kind} {self.position} of job {self.job_id}"


class ProviderLimit(models.Model):
    """A provider's limits (admin overrides of `STUDIO_PROVIDER_LIMITS`) and its recent 429s.

    One row per family (`model_slug` blank) and optionally per remote model, for providers
    that limit per model. A blank limit means the setting's value. The throttle fields are
    written by the scheduler when the provider answers 429 (`studio.services.jobs.limits`).
    """

    family = models.CharField(max_length=20)
    model_slug = models.CharField(max_length=100, blank=True, help_text="Blank: the whole provider family.")
    max_concurrent = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most calls in flight at once, over all workers (0: no limit; blank: the setting)."
    )
    per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most calls started in any 60 seconds (0: no limit; blank: the setting)."
    )
    last_429_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True, help_text="No call starts before this (Retry-After).")
    slowed_until = models.DateTimeField(null=True, blank=True, help_text="The rate is reduced until this time.")
    rate_factor = models.FloatField(default=1.0, help_text="Share of the rate in force while slowed (adaptive).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["family", "model_slug"], name="provider_limit_unique")]

    def __str__(self) -> str:
        return f"{self.family}/{self.model_slug}" if self.model_slug else self.family


class ProviderCall(models.Model):
    """One call started at a provider: the sliding window that per-minute limits count."""

    family = models.CharField(max_length=20)
    model_slug = models.CharField(max_length=100)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["family", "at"], name="provider_call_window")]

    def __str__(self) -> str:
        return f"{self.family}/{self.model_slug} call at {self.at:%H:%M:%S}"
