"""Ending a job: succeed with its images, fail, or cancel; each settles the hold exactly once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from gallery import imaging
from gallery.services import ImageOrigin, StoredFile, create_image, discard_unused_files, save_image_files
from providers.errors import ErrorCode
from providers.types import GeneratedImage, GenerationResult
from studio.models import Job, JobStatus, User
from studio.services import credits
from studio.services.db import lock_row, remember_related, transient_retry
from studio.services.errors import PermissionDenied, StudioError
from studio.services.jobs.previews import discard_preview, notify_job_event
from studio.services.jobs.request import serialise_parts
from studio.services.jobs.spec import cached_model_by_id

logger = logging.getLogger(__name__)


def _locked(job_id: int) -> Job:
    # The job row only: locking the catalogue row too would block every submit of that
    # model, whose foreign key check needs a share lock on it. Its catalogue entry comes
    # from the process's cache rather than a join (settling reads its tier and family).
    job = lock_row(Job, job_id)
    model = cached_model_by_id(job.catalog_model_id)
    if model is not None:
        job.catalog_model = model
    return job


def image_origin(job: Job) -> ImageOrigin:
    """The job's values an image row keeps (the gallery reads no job or catalogue rows)."""
    model = job.catalog_model
    return ImageOrigin(
        job_id=job.pk,
        owner_id=job.user_id,
        team_id=job.team_id,
        prompt=job.prompt,
        model_slug=job.model_slug,
        tier=model.tier,
        provider=model.family,
        params=job.params or {},
        is_demo=job.is_demo,
    )


def complete_job(*, job_id: int, result: GenerationResult, count: int | None = None) -> Job:
    """Store the images, then mark the job succeeded and settle, in one short transaction.

    `count`: the job's image count when the caller has the row already (it never changes).
    """
    if not result.images:
        reason = "; ".join(result.refusals) or "The provider returned no image."
        code = ErrorCode.CONTENT_POLICY if result.refusals else ErrorCode.UPSTREAM_ERROR
        return fail_job(job_id=job_id, code=code, message=reason)
    if count is None:
        count = Job.objects.filter(pk=job_id).values_list("count", flat=True).get()
    images = result.images[:count]
    try:
        # The mean colour comes with the thumbnail: no decode on the way to a waiting caller.
        stored = save_image_files(images, measure_colour=False)
    except imaging.ImageError as exc:
        # An output we refuse to keep (an SVG with a DTD, say): nothing is stored or charged.
        return fail_job(
            job_id=job_id,
            code=ErrorCode.UPSTREAM_ERROR,
            message=f"The provider returned an image we cannot store safely: {exc}",
        )
    try:
        job = _record_success(job_id=job_id, result=result, images=images, stored=stored)
    except BaseException:
        discard_unused_files(stored)  # no row will point at them
        raise
    if job.preview:
        # The real images replace a streamed preview (a terminal job gets no new one).
        discard_preview(job_id=job_id)
        job.refresh_from_db(fields=["preview"])
    return job


# What succeeding writes (settle_locked_job's two included): one UPDATE of just these.
SUCCESS_FIELDS = [
    "status", "progress", "finished_at", "lease_expires_at", "next_attempt_at", "error_code", "error_message",
    "result_text", "result_parts", "metadata", "params", "credits_charged", "hold_state", "updated_at",
]


@transient_retry
def _record_success(
    *, job_id: int, result: GenerationResult, images: Sequence[GeneratedImage], stored: Sequence[StoredFile]
) -> Job:
    with transaction.atomic():
        job = _locked(job_id)
        if job.is_terminal:
            # A second delivery, or a cancel that won: one image row per delivered image.
            transaction.on_commit(lambda: discard_unused_files(stored))
            job.refresh_from_db()  # the cancel's own discard_preview may have run since
            return job
        origin = image_origin(job)
        created = [
            create_image(origin=origin, index=index, stored=files, revised_prompt=image.revised_prompt or "")
            for index, (image, files) in enumerate(zip(images, stored, strict=True))
        ]
        # The caller answering with the images (the synchronous API) reads none back.
        remember_related(job, "images", created)
        job.status = JobStatus.SUCCEEDED
        job.progress = 100
        job.finished_at = timezone.now()
        job.lease_expires_at = None
        job.next_attempt_at = None
        job.error_code = ""
        job.error_message = (
            f"{job.count - len(images)} of {job.count} images were refused: {'; '.join(result.refusals)}"[:500]
            if len(images) < job.count
            else ""
        )
        job.result_text = result.text
        job.result_parts = serialise_parts(result)
        job.metadata = {**(job.metadata or {}), **dict(result.metadata), "refusals": list(result.refusals)}
        if result.seed is not None:
            job.params = {**job.params, "seed_used": result.seed}
        # Charge and release under the same lock, written by the same UPDATE of the row.
        credits.settle_locked_job(job=job, delivered=len(images))
        job.save(update_fields=SUCCESS_FIELDS)
        notify_job_event(job_id=job.pk, event="succeeded", job=job)
        return job


def fail_job(*, job_id: int, code: str, message: str, attempt: int | None = None) -> Job:
    """Mark the job failed with a reason and return its whole hold, exactly once.

    With `attempt`, only that claim of the job may fail it (a worker whose lease lapsed
    does not fail the run that replaced it).
    """
    job = _record_failure(job_id=job_id, code=code, message=message, attempt=attempt)
    discard_preview(job_id=job_id)
    job.refresh_from_db()
    return job


@transient_retry
def _record_failure(*, job_id: int, code: str, message: str, attempt: int | None) -> Job:
    with transaction.atomic():
        job = _locked(job_id)
        if attempt is not None and job.attempts != attempt and not job.is_terminal:
            return job
        if not job.is_terminal:
            job.status = JobStatus.FAILED
            job.error_code = str(code)
            job.error_message = message[:500]
            job.finished_at = timezone.now()
            job.next_attempt_at = None
            job.lease_expires_at = None
            job.save(
                update_fields=[
                    "status", "error_code", "error_message", "finished_at", "next_attempt_at", "lease_expires_at", "updated_at",
                ]
            )
            notify_job_event(job_id=job.pk, event="failed")
        credits.release_job_credits(job_id=job.pk)
        return job


def cancel_job(*, job: Job, user: User) -> Job:
    """Cancel a job that has not finished and return its credits."""
    if job.user_id != user.pk:
        raise PermissionDenied("Only the person who started a job can cancel it.")
    locked = _record_cancel(job_id=job.pk)
    discard_preview(job_id=locked.pk)
    locked.refresh_from_db()
    return locked


@transient_retry
def _record_cancel(*, job_id: int) -> Job:
    with transaction.atomic():
        locked = _locked(job_id)
        if locked.is_terminal:
            raise StudioError("This job has already finished.")
        locked.status = JobStatus.CANCELED
        locked.error_code = "canceled"
        locked.error_message = "Canceled."
        locked.finished_at = timezone.now()
        locked.lease_expires_at = None
        locked.save(update_fields=["status", "error_code", "error_message", "finished_at", "lease_expires_at", "updated_at"])
        credits.release_job_credits(job_id=locked.pk)
        notify_job_event(job_id=locked.pk, event="canceled")
        return locked


def recover_stalled_jobs(*, now: datetime | None = None) -> int:
    """The beat sweep (see `leases.recover_jobs`); returns how many jobs it failed."""
    from studio.services.jobs.leases import recover_jobs

    counts = recover_jobs(now=now)
    if any(counts.values()):
        logger.info("job sweep: %s", counts)
    return counts["failed"]
