"""The job pipeline: submit (validate, hold, enqueue), run (claim, call, record), settle.

No transaction or row lock is ever held across a provider call.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gallery import imaging
from gallery.services import create_image, discard_unused_files, load_image_bytes, save_image_files
from providers.errors import ErrorCode, ProviderError
from providers.models import CatalogModel
from providers.registry import get_adapter, route_for
from providers.status import record_provider_error, record_provider_failure, record_provider_success
from providers.types import (
    GenerationRequest,
    GenerationResult,
    InputImage,
    Part,
    ProgressCallback,
    Submission,
    Turn,
)
from studio.input_links import public_input_url
from studio.models import Job, JobInput, JobStatus, Membership, User
from studio.services import credits, events
from studio.services.access import model_block_reason
from studio.services.errors import (
    InsufficientCredits,
    ModelNotAllowed,
    PermissionDenied,
    StudioError,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

PROMPT_MAX = 2000
OUTPUT_FORMATS = ("png", "jpeg", "webp")
# Every countdown stays far below the Redis visibility timeout (reliability.md C1).
MAX_COUNTDOWN = 900.0
POLL_ERROR_LIMIT = 5


@dataclass(frozen=True)
class Upload:
    """An uploaded file as received: bytes and the name the client gave it."""

    data: bytes
    name: str = ""


@dataclass(frozen=True)
class JobSpec:
    """A validated request: everything `submit_job` needs, nothing unchecked."""

    model: CatalogModel
    prompt: str
    count: int
    params: dict[str, Any]
    references: tuple[imaging.NormalisedImage, ...] = ()
    reference_names: tuple[str, ...] = ()
    mask: imaging.NormalisedImage | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def price(self) -> int:
        return self.model.credits_per_image * self.count


@dataclass(frozen=True)
class Quote:
    per_image: int
    count: int
    total: int
    balance: int

    @property
    def balance_after(self) -> int:
        return self.balance - self.total

    @property
    def affordable(self) -> bool:
        return self.total <= self.balance


# -- validation -------------------------------------------------------------------
def resolve_model(*, membership: Membership, identifier: str) -> CatalogModel:
    """Find a usable model by string or alias, or say why not."""
    model = CatalogModel.objects.resolve(identifier or "")
    if model is None:
        raise ValidationFailed({"model": f"Unknown model “{identifier}”."})
    reason = model_block_reason(membership=membership, model=model)
    if reason:
        raise ModelNotAllowed(f"{model.display_name}: {reason}", field="model")
    return model


def _int_or_none(value: object, *, field_name: str, errors: dict[str, str]) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        errors[field_name] = "Enter a whole number."
        return None


def validate_job(
    *,
    membership: Membership,
    model: str,
    prompt: str,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    quality: str | None = None,
    count: int | str | None = 1,
    seed: int | str | None = None,
    negative_prompt: str | None = None,
    style: str | None = None,
    output_format: str | None = None,
    references: Sequence[Upload] = (),
    mask: Upload | None = None,
    options: dict[str, Any] | None = None,
) -> JobSpec:
    """Check a request against the catalogue; raise with every field's problem at once."""
    catalog_model = resolve_model(membership=membership, identifier=model)
    errors: dict[str, str] = {}

    prompt = (prompt or "").strip()
    if not prompt:
        errors["prompt"] = "Write a prompt."
    elif len(prompt) > PROMPT_MAX:
        errors["prompt"] = f"The prompt is {len(prompt)} characters; the limit is {PROMPT_MAX}."

    ratio = aspect_ratio or catalog_model.default_aspect_ratio
    if ratio not in catalog_model.aspect_ratios:
        errors["aspect_ratio"] = (
            f"{catalog_model.display_name} does not offer {ratio}; "
            f"choose one of {', '.join(catalog_model.aspect_ratios)}."
        )
    res = resolution or catalog_model.default_resolution
    if res not in catalog_model.resolutions:
        errors["resolution"] = (
            f"{catalog_model.display_name} offers {', '.join(catalog_model.resolutions)}, not {res}."
        )
    if quality and quality not in catalog_model.qualities:
        errors["quality"] = f"{catalog_model.display_name} has no “{quality}” quality."

    n = _int_or_none(count if count not in (None, "") else 1, field_name="count", errors=errors)
    if n is not None and not 1 <= n <= catalog_model.max_count:
        errors["count"] = f"Choose between 1 and {catalog_model.max_count} images."
    seed_value = _int_or_none(seed, field_name="seed", errors=errors)
    if seed_value is not None and not 0 <= seed_value <= 2**31 - 1:
        errors["seed"] = "The seed must be between 0 and 2147483647."
    if seed_value is not None and not catalog_model.cap("seed", False):
        seed_value = None  # the model cannot honour it; do not pretend it did
    offered = catalog_model.cap("output_formats") or list(OUTPUT_FORMATS)
    fmt = (output_format or offered[0]).lower()
    if fmt not in offered:
        errors["output_format"] = f"{catalog_model.display_name} cannot return {fmt}."
    if style and catalog_model.cap("styles") and style not in catalog_model.cap("styles"):
        errors["style"] = f"“{style}” is not a style of {catalog_model.display_name}."

    normalised: list[imaging.NormalisedImage] = []
    if references:
        limit = catalog_model.max_references
        if limit == 0:
            errors["references"] = f"{catalog_model.display_name} does not take reference images."
        elif len(references) > limit:
            errors["references"] = (
                f"{catalog_model.display_name} takes at most {limit} reference image"
                f"{'s' if limit != 1 else ''}; you attached {len(references)}."
            )
        else:
            for upload in references:
                try:
                    normalised.append(_normalise(upload))
                except imaging.ImageError as exc:
                    errors["references"] = f"{upload.name or 'A reference'}: {exc}"
                    break
    luma = route_for(catalog_model.family).family == "luma"
    if references and luma and not settings.STUDIO_PUBLIC_URL and "references" not in errors:
        # Luma fetches references by URL only (providers.md §6.1), and ours are private.
        errors["references"] = (
            "Luma needs STUDIO_PUBLIC_URL to fetch reference images; "
            "ask an admin to set it, or generate without references."
        )
    mask_image = None
    if mask is not None:
        if not catalog_model.cap("mask", False):
            errors["mask"] = f"{catalog_model.display_name} does not take a mask."
        elif not references:
            errors["mask"] = "A mask needs a reference image to apply to."
        else:
            try:
                mask_image = _normalise(mask)
            except imaging.ImageError as exc:
                errors["mask"] = f"Mask: {exc}"

    if errors:
        raise ValidationFailed(errors)
    params: dict[str, Any] = {
        "aspect_ratio": ratio,
        "resolution": res,
        "quality": quality or None,
        "seed": seed_value,
        "negative_prompt": (negative_prompt or "").strip() or None
        if catalog_model.cap("negative_prompt", False)
        else None,
        "style": style or None,
        "output_format": fmt,
    }
    width, height = catalog_model.output_size(ratio, res) or (0, 0)
    params["width"], params["height"] = width, height
    return JobSpec(
        model=catalog_model,
        prompt=prompt,
        count=n or 1,
        params=params,
        references=tuple(normalised),
        reference_names=tuple(u.name for u in references),
        mask=mask_image,
        options=dict(options or {}),
    )


def _normalise(upload: Upload) -> imaging.NormalisedImage:
    return imaging.normalise_upload(
        upload.data,
        max_bytes=settings.STUDIO_MAX_UPLOAD_BYTES,
        max_pixels=settings.STUDIO_MAX_UPLOAD_PIXELS,
    )


def quote_job(*, membership: Membership, model: CatalogModel, count: int) -> Quote:
    """Price a request against the member's balance (what the studio shows before submit)."""
    return Quote(
        per_image=model.credits_per_image,
        count=count,
        total=model.credits_per_image * count,
        balance=credits.member_balance(membership=membership),
    )


# -- submit -----------------------------------------------------------------------
def submit_job(
    *,
    membership: Membership,
    spec: JobSpec,
    parent: Job | None = None,
    source: str = "ui",
) -> Job:
    """Create the job and hold its full price in one transaction; enqueue on commit."""
    if not membership.can_generate:
        raise PermissionDenied("Your role in this team does not allow generating images.")
    saved_names: list[str] = []
    try:
        with transaction.atomic():
            job = _create_job(
                membership=membership, spec=spec, parent=parent, source=source, saved_names=saved_names
            )
    except BaseException:
        _delete_files(saved_names)
        raise
    return job


def submit_jobs(
    *,
    membership: Membership,
    specs: Sequence[JobSpec],
    source: str = "ui",
) -> list[Job]:
    """Submit several jobs as one group (a compare or a batch): every hold is taken, or none.

    Each job is priced, held and charged on its own; they share one `batch_id`.
    """
    if not specs:
        raise ValidationFailed({"form": "There is nothing to submit."})
    if not membership.can_generate:
        raise PermissionDenied("Your role in this team does not allow generating images.")
    batch_id = uuid.uuid4()
    saved_names: list[str] = []
    try:
        with transaction.atomic():
            jobs = [
                _create_job(
                    membership=membership,
                    spec=spec,
                    parent=None,
                    source=source,
                    saved_names=saved_names,
                    batch_id=batch_id,
                )
                for spec in specs
            ]
    except InsufficientCredits:
        _delete_files(saved_names)
        total = sum(spec.price for spec in specs)
        balance = credits.member_balance(membership=membership)
        raise InsufficientCredits(
            f"Not enough credits: these {len(specs)} jobs need {total} in all and your balance is {balance}.",
            field="credits",
        ) from None
    except BaseException:
        _delete_files(saved_names)
        raise
    return jobs


def _create_job(
    *,
    membership: Membership,
    spec: JobSpec,
    parent: Job | None,
    source: str,
    saved_names: list[str],
    batch_id: uuid.UUID | None = None,
) -> Job:
    """Create one job with its hold and inputs; the caller owns the transaction."""
    route = route_for(spec.model.family)
    job = Job.objects.create(
        team=membership.team,
        user=membership.user,
        catalog_model=spec.model,
        model_slug=spec.model.slug,
        prompt=spec.prompt,
        params=spec.params | ({"options": spec.options} if spec.options else {}),
        count=spec.count,
        source=source,
        credits_per_image=spec.model.credits_per_image,
        credits_held=spec.price,
        provider_family=route.family,
        is_demo=route.is_demo,
        parent=parent,
        batch_id=batch_id,
    )
    credits.hold_credits(job=job)
    inputs = [(JobInput.Kind.REFERENCE, i, img) for i, img in enumerate(spec.references)]
    if spec.mask is not None:
        inputs.append((JobInput.Kind.MASK, 0, spec.mask))
    for kind, position, img in inputs:
        record = JobInput(
            job=job,
            kind=kind,
            position=position,
            mime_type=img.mime_type,
            width=img.width,
            height=img.height,
            original_name=(spec.reference_names[position] if kind == "reference" else "")[:200],
        )
        record.file.save(f"input.{img.format.lower()}", ContentFile(img.data), save=False)
        saved_names.append(record.file.name)
        record.save()
    transaction.on_commit(lambda: enqueue_run(job_id=job.pk))
    return job


def _delete_files(names: Sequence[str]) -> None:
    # The rows rolled back; do not leave their files behind.
    for name in names:
        default_storage.delete(name)


def enqueue_run(*, job_id: int, countdown: float = 0) -> None:
    from studio.tasks import run_job_task

    run_job_task.apply_async((job_id,), countdown=min(max(countdown, 0), MAX_COUNTDOWN))


def enqueue_poll(*, job_id: int, countdown: float) -> None:
    from studio.tasks import poll_job_task

    poll_job_task.apply_async((job_id,), countdown=min(max(countdown, 0.5), MAX_COUNTDOWN))


# -- run --------------------------------------------------------------------------
def claim_job(*, job_id: int) -> Job | None:
    """Move a due, queued job to running; return None if another delivery got it first."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.QUEUED:
            return None
        now = timezone.now()
        if job.next_attempt_at and job.next_attempt_at > now + timedelta(seconds=1):
            return None  # an early duplicate of a delayed retry
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.next_attempt_at = None
        job.save(update_fields=["status", "attempts", "started_at", "next_attempt_at", "updated_at"])
        return job


def run_job(*, job_id: int) -> None:
    """Claim the job, call its provider outside any transaction, record what came back."""
    job = claim_job(job_id=job_id)
    if job is None:
        return
    try:
        adapter = get_adapter(job.provider_family)
        request = build_request(job)
        if adapter.is_async:
            submission = adapter.submit(request)
            record_provider_success(family=job.provider_family)
            record_submission(job_id=job.pk, submission=submission)
            return
        result = adapter.generate(request, on_progress=progress_reporter(job_id=job.pk))
    except ProviderError as exc:
        record_provider_failure(family=job.provider_family, error=exc)
        handle_provider_error(job_id=job.pk, error=exc)
        return
    except Exception as exc:
        logger.exception("job %s: provider call failed unexpectedly", job.pk)
        record_provider_error(family=job.provider_family, message=f"unexpected {type(exc).__name__}")
        fail_job(job_id=job.pk, code=ErrorCode.UPSTREAM_ERROR, message="The provider call failed unexpectedly.")
        return
    record_provider_success(family=job.provider_family)
    complete_job(job_id=job.pk, result=result)


def record_submission(*, job_id: int, submission: Submission) -> None:
    """Keep the provider's job id on the job, then schedule the first poll."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_terminal:
            return
        job.provider_job_id = submission.provider_job_id
        job.provider_state = {"poll_url": submission.poll_url, "state": dict(submission.state)}
        job.next_attempt_at = timezone.now() + timedelta(seconds=submission.poll_after)
        job.save(update_fields=["provider_job_id", "provider_state", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: enqueue_poll(job_id=job_id, countdown=submission.poll_after))


def poll_job(*, job_id: int) -> None:
    """Ask an asynchronous provider how a job is doing; re-schedule or record."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.RUNNING or not job.provider_job_id:
            return
        now = timezone.now()
        if job.next_attempt_at and job.next_attempt_at > now + timedelta(seconds=1):
            return  # another poll is due later; this delivery is a duplicate
        # Lease the poll so a duplicate delivery does not call the provider twice.
        job.next_attempt_at = now + timedelta(seconds=60)
        job.save(update_fields=["next_attempt_at", "updated_at"])
    stored = job.provider_state or {}
    submission = Submission(
        provider_job_id=job.provider_job_id,
        poll_url=stored.get("poll_url"),
        state=stored.get("state") or {},
    )
    try:
        outcome = get_adapter(job.provider_family).poll(submission)
    except ProviderError as exc:
        record_provider_failure(family=job.provider_family, error=exc)
        if exc.retryable and int(stored.get("poll_errors", 0)) < POLL_ERROR_LIMIT:
            _reschedule_poll(job_id=job_id, delay=backoff_delay(int(stored.get("poll_errors", 0)) + 1, exc.retry_after), poll_error=True)
        else:
            fail_job(job_id=job_id, code=exc.code, message=exc.message)
        return
    except Exception as exc:
        logger.exception("job %s: poll failed unexpectedly", job_id)
        record_provider_error(family=job.provider_family, message=f"unexpected {type(exc).__name__}")
        fail_job(job_id=job_id, code=ErrorCode.UPSTREAM_ERROR, message="Checking on the provider failed.")
        return
    record_provider_success(family=job.provider_family)
    if not outcome.done or outcome.result is None:
        set_progress(job_id=job_id, percent=outcome.progress)
        _reschedule_poll(job_id=job_id, delay=outcome.poll_after, poll_error=False)
        return
    complete_job(job_id=job_id, result=outcome.result)


def _reschedule_poll(*, job_id: int, delay: float, poll_error: bool) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.RUNNING:
            return
        state = dict(job.provider_state or {})
        state["poll_errors"] = int(state.get("poll_errors", 0)) + 1 if poll_error else 0
        job.provider_state = state
        job.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        job.save(update_fields=["provider_state", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: enqueue_poll(job_id=job_id, countdown=delay))


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential back-off with full jitter; a provider's Retry-After is a floor."""
    cap = min(settings.STUDIO_RETRY_MAX_SECONDS, settings.STUDIO_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    delay = random.uniform(0, cap)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_COUNTDOWN)


def handle_provider_error(*, job_id: int, error: ProviderError) -> None:
    """Retry what may pass (rate limits, outages, timeouts); fail the rest at once."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.RUNNING:
            return
        if error.retryable and job.attempts < settings.STUDIO_MAX_ATTEMPTS:
            delay = backoff_delay(job.attempts, error.retry_after)
            job.status = JobStatus.QUEUED
            job.error_code = error.code
            job.error_message = f"Retrying after: {error.message}"[:500]
            job.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            job.save(update_fields=["status", "error_code", "error_message", "next_attempt_at", "updated_at"])
            transaction.on_commit(lambda: enqueue_run(job_id=job_id, countdown=delay))
            return
    fail_job(job_id=job_id, code=error.code, message=error.message)


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
        job = Job.objects.select_for_update().filter(pk=job_id).first()
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


def queue_position(*, job: Job) -> int | None:
    """1 for the next queued job to start, 2 for the one after…; None once it has started."""
    if job.status != JobStatus.QUEUED:
        return None
    ahead = Job.objects.filter(status=JobStatus.QUEUED).filter(
        Q(created_at__lt=job.created_at) | Q(created_at=job.created_at, pk__lt=job.pk)
    )
    return ahead.count() + 1


def set_progress(*, job_id: int, percent: int) -> None:
    if Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        progress=max(0, min(int(percent), 100)), updated_at=timezone.now()
    ):
        notify_job_event(job_id=job_id, event="progress")


def notify_job_event(*, job_id: int, event: str) -> None:
    """Announce a job event to the listeners (webhooks, metrics) once this commits."""
    events.publish_job_event(job_id=job_id, event=event)


def complete_job(*, job_id: int, result: GenerationResult) -> Job:
    """Store the images, then mark the job succeeded and settle, in one short transaction."""
    if not result.images:
        reason = "; ".join(result.refusals) or "The provider returned no image."
        code = ErrorCode.CONTENT_POLICY if result.refusals else ErrorCode.UPSTREAM_ERROR
        return fail_job(job_id=job_id, code=code, message=reason)
    job = Job.objects.select_related("catalog_model").get(pk=job_id)
    images = result.images[: job.count]
    try:
        stored = save_image_files(images)
    except imaging.ImageError as exc:
        # An output we refuse to keep (an SVG with a DTD, say): nothing is stored or charged.
        return fail_job(
            job_id=job_id,
            code=ErrorCode.UPSTREAM_ERROR,
            message=f"The provider returned an image we cannot store safely: {exc}",
        )
    with transaction.atomic():
        job = Job.objects.select_for_update().select_related("catalog_model").get(pk=job_id)
        if job.is_terminal:
            transaction.on_commit(lambda: discard_unused_files(stored))
            return job
        for index, (image, files) in enumerate(zip(images, stored, strict=True)):
            create_image(job=job, index=index, stored=files, revised_prompt=image.revised_prompt or "")
        job.status = JobStatus.SUCCEEDED
        job.progress = 100
        job.finished_at = timezone.now()
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
        job.save()
        credits.settle_job_credits(job_id=job.pk, delivered=len(images))
        notify_job_event(job_id=job.pk, event="succeeded")
    discard_preview(job_id=job_id)
    job.refresh_from_db()
    return job


def fail_job(*, job_id: int, code: str, message: str) -> Job:
    """Mark the job failed with a reason and return its whole hold, exactly once."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if not job.is_terminal:
            job.status = JobStatus.FAILED
            job.error_code = str(code)
            job.error_message = message[:500]
            job.finished_at = timezone.now()
            job.next_attempt_at = None
            job.save(update_fields=["status", "error_code", "error_message", "finished_at", "next_attempt_at", "updated_at"])
            notify_job_event(job_id=job.pk, event="failed")
        credits.release_job_credits(job_id=job.pk)
    discard_preview(job_id=job_id)
    job.refresh_from_db()
    return job


def cancel_job(*, job: Job, user: User) -> Job:
    """Cancel a job that has not finished and return its credits."""
    if job.user_id != user.pk:
        raise PermissionDenied("Only the person who started a job can cancel it.")
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.is_terminal:
            raise StudioError("This job has already finished.")
        locked.status = JobStatus.CANCELED
        locked.error_code = "canceled"
        locked.error_message = "Canceled."
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "error_code", "error_message", "finished_at", "updated_at"])
        credits.release_job_credits(job_id=locked.pk)
        notify_job_event(job_id=locked.pk, event="canceled")
    discard_preview(job_id=locked.pk)
    locked.refresh_from_db()
    return locked


def recover_stalled_jobs(*, now: Any = None) -> int:
    """Fail jobs whose worker vanished (past their time limit) so their credits return."""
    now = now or timezone.now()
    failed = 0
    running = Job.objects.filter(status=JobStatus.RUNNING).select_related("catalog_model")
    for job in running.iterator():
        limit = job.catalog_model.timeout_seconds * 2 + 120
        async_overdue = job.provider_job_id and job.next_attempt_at and job.next_attempt_at < now - timedelta(minutes=10)
        sync_overdue = not job.provider_job_id and job.started_at and job.started_at < now - timedelta(seconds=limit)
        if async_overdue or sync_overdue:
            fail_job(job_id=job.pk, code=ErrorCode.TIMEOUT, message="The job stopped responding and was ended.")
            failed += 1
    stuck = Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - timedelta(minutes=5)).filter(
        next_attempt_at__isnull=True
    ) | Job.objects.filter(status=JobStatus.QUEUED, next_attempt_at__lt=now - timedelta(minutes=5))
    for job_id in stuck.values_list("pk", flat=True):
        enqueue_run(job_id=job_id)
    return failed


# -- building the provider request ------------------------------------------------
def build_request(job: Job) -> GenerationRequest:
    """Turn a job (and its thread) into the adapter's request dataclass."""
    inputs = list(job.inputs.all())
    references = tuple(_stored_input(i) for i in inputs if i.kind == JobInput.Kind.REFERENCE)
    mask = next((_stored_input(i) for i in inputs if i.kind == JobInput.Kind.MASK), None)
    params = job.params or {}
    model = job.catalog_model
    options = {**(model.fixed_options or {}), **params.get("options", {})}
    if job.provider_family == "local":
        options.setdefault("demo_delay", settings.STUDIO_DEMO_DELAY)
    if job.provider_family == "luma" and references and settings.STUDIO_PUBLIC_URL:
        # Luma fetches references by URL only: signed links that expire (studio/input_links.py).
        options["reference_urls"] = [
            public_input_url(job_input=i) for i in inputs if i.kind == JobInput.Kind.REFERENCE
        ]
    return GenerationRequest(
        model=model.slug,
        remote_model=model.remote_model,
        prompt=job.prompt,
        count=job.count,
        aspect_ratio=params.get("aspect_ratio", model.default_aspect_ratio),
        resolution=params.get("resolution", model.default_resolution),
        width=int(params.get("width") or 1024),
        height=int(params.get("height") or 1024),
        quality=params.get("quality"),
        output_format=params.get("output_format", "png"),
        references=references,
        mask=mask,
        seed=params.get("seed"),
        negative_prompt=params.get("negative_prompt"),
        style=params.get("style"),
        history=build_history(job),
        options=options,
        timeout=float(model.timeout_seconds),
    )


def _input_image(data: bytes, mime: str, width: int, height: int) -> InputImage:
    return InputImage(data=data, mime_type=mime, width=width, height=height)


def _stored_input(job_input: JobInput) -> InputImage:
    with job_input.file.open("rb") as handle:
        data = handle.read()
    return _input_image(data, job_input.mime_type, job_input.width, job_input.height)


def build_history(job: Job) -> tuple[Turn, ...]:
    """The conversation so far: each ancestor's prompt and the model's answer, oldest first.

    It stops at an ancestor made by another provider family: its turn carries nothing this
    provider can read back (no parts, no signatures), so the studio sends that ancestor's
    image as a reference instead.
    """
    turns: list[Turn] = []
    ancestor = job.parent
    depth = 0
    family = job.catalog_model.family
    while ancestor is not None and depth < 20 and ancestor.catalog_model.family == family:
        if ancestor.status == JobStatus.SUCCEEDED:
            images = {img.index: img for img in ancestor.images.all()}
            model_parts: list[Part] = []
            for part in ancestor.result_parts or []:
                image = None
                if part.get("image_index") is not None and part["image_index"] in images:
                    stored = images[part["image_index"]]
                    image = _input_image(load_image_bytes(stored), stored.mime_type, stored.width, stored.height)
                model_parts.append(
                    Part(
                        text=part.get("text"),
                        image=image,
                        thought=bool(part.get("thought")),
                        thought_signature=part.get("thought_signature"),
                    )
                )
            turns[:0] = [
                Turn(role="user", parts=(Part(text=ancestor.prompt),)),
                Turn(role="model", parts=tuple(model_parts)),
            ]
        ancestor = ancestor.parent
        depth += 1
    return tuple(turns)


def serialise_parts(result: GenerationResult) -> list[dict[str, Any]]:
    """Keep the model's turn without bytes: images point at the stored image index."""
    by_data = {image.data: index for index, image in enumerate(result.images)}
    parts: list[dict[str, Any]] = []
    for part in result.parts:
        entry: dict[str, Any] = {}
        if part.text is not None:
            entry["text"] = part.text
        if part.image is not None:
            index = by_data.get(part.image.data)
            if index is None and not part.thought_signature:
                continue  # a thought image: not kept, and it carries nothing to send back
            entry["image_index"] = index
        if part.thought:
            entry["thought"] = True
        if part.thought_signature:
            entry["thought_signature"] = part.thought_signature
        if entry:
            parts.append(entry)
    return parts
