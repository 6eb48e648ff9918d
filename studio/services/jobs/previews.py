"""What a running job shows meanwhile: progress, the latest streamed preview, its events."""

from __future__ import annotations

import logging
import time
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from gallery import imaging
from providers.types import ProgressCallback
from studio.models import Job, JobStatus
from studio.services import events

logger = logging.getLogger(__name__)


def progress_reporter(*, job_id: int) -> ProgressCallback:
    """Write progress to the job at most every half second (the UI polls the row)."""
    last = {"at": 0.0, "pct": -1}

    def report(percent: int, preview: bytes | None = None) -> None:
        if preview:
            # Previews are rare (a few per job) and worth showing at once.
            store_preview(job_id=job_id, data=preview)
        now = time.monotonic()
        if percent < 100 and percent - last["pct"] < 5 and now - last["at"] < 0.5:
            return
        last["at"], last["pct"] = now, percent
        set_progress(job_id=job_id, percent=min(percent, 99))

    return report


def store_preview(*, job_id: int, data: bytes) -> bool:
    """Keep the latest preview a provider streamed for a running job; drop the one before.

    The file is written before the short transaction that points the job at it, and
    removed again when the job is no longer running (a cancel raced the stream).
    """
    try:
        info = imaging.inspect_image(
            data, max_pixels=settings.STUDIO_MAX_UPLOAD_PIXELS, max_bytes=settings.STUDIO_MAX_UPLOAD_BYTES
        )
    except imaging.ImageError:
        logger.info("job %s: ignored a preview that is not a readable image", job_id)
        return False
    name = default_storage.save(f"previews/{uuid.uuid4().hex}.{info.format.lower()}", ContentFile(data))
    with transaction.atomic():
        job = Job.objects.select_for_update(no_key=True, of=("self",)).filter(pk=job_id).first()
        if job is None or job.status != JobStatus.RUNNING:
            stale, kept = name, False
        else:
            stale, kept = job.preview.name or "", True
            job.preview.name = name
            job.save(update_fields=["preview", "updated_at"])
    if stale:
        default_storage.delete(stale)
    return kept


def discard_preview(*, job_id: int) -> None:
    """Forget a finished job's preview: the real images replace it."""
    name = Job.objects.filter(pk=job_id).values_list("preview", flat=True).first()
    if name and Job.objects.filter(pk=job_id, preview=name).update(preview="") == 1:
        default_storage.delete(name)


def set_progress(*, job_id: int, percent: int) -> None:
    if Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        progress=max(0, min(int(percent), 100)), updated_at=timezone.now()
    ):
        notify_job_event(job_id=job_id, event="progress")


def notify_job_event(*, job_id: int, event: str, job: Job | None = None) -> None:
    """Announce a job event to the listeners (webhooks, metrics) once this commits; `job`,
    the row as this transaction writes it, saves each listener a read."""
    events.publish_job_event(job_id=job_id, event=event, job=job)
