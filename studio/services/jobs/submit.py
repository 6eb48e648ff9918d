"""Submitting jobs: the hold and the job row in one transaction, the task published on commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from providers.registry import route_for_model
from studio.models import Job, JobInput, JobPriority, Membership
from studio.services import credits
from studio.services.db import remember_related, transient_retry
from studio.services.errors import InsufficientCredits, PermissionDenied, ValidationFailed
from studio.services.jobs import queue
from studio.services.jobs.run import start_locked_job
from studio.services.jobs.spec import JobSpec, line_price, unit_price

# How the job reaches a worker once committed. "queue": publish the run task, and a broker
# that refuses it leaves the job queued for the sweep (the studio page). "queue_or_raise":
# publish, and the caller hears of a refusal after the commit (the API answers 503 and fails
# the job). "caller": the job starts in the submit's own transaction (no claim of its own:
# the new row is this transaction's alone until it commits) and the caller runs it at once
# (`run_started_job`), as the synchronous API does; its lease covers a caller that dies. A
# provider with no room leaves it queued, published for a worker as with "queue".
Dispatch = Literal["queue", "queue_or_raise", "caller"]


@transient_retry
def submit_job(
    *,
    membership: Membership,
    spec: JobSpec,
    parent: Job | None = None,
    source: str = "ui",
    dispatch: Dispatch = "queue",
    priority: int = JobPriority.NORMAL,
    savepoint: bool = True,
) -> Job:
    """Create the job and hold its full price in one transaction; enqueue on commit.

    `savepoint=False`: inside a caller's transaction that rolls back whole if this fails
    (the API's), so there is nothing to keep and no savepoint to pay two statements for.
    """
    (job,) = _submit(
        membership=membership,
        specs=(spec,),
        parent=parent,
        source=source,
        dispatch=dispatch,
        priority=priority,
        batch_id=None,
        savepoint=savepoint,
    )
    return job


@transient_retry
def submit_jobs(
    *,
    membership: Membership,
    specs: Sequence[JobSpec],
    source: str = "ui",
    priority: int = JobPriority.NORMAL,
) -> list[Job]:
    """Submit several jobs as one group (a compare or a batch): every hold is taken, or none.

    Each job is priced, held and charged on its own; they share one `batch_id`.
    """
    if not specs:
        raise ValidationFailed({"form": "There is nothing to submit."})
    try:
        return _submit(
            membership=membership,
            specs=specs,
            parent=None,
            source=source,
            dispatch="queue",
            priority=priority,
            batch_id=uuid.uuid4(),
        )
    except InsufficientCredits:
        total = sum(spec.price for spec in specs)
        balance = credits.member_balance(membership=membership)
        raise InsufficientCredits(
            f"Not enough credits: these {len(specs)} jobs need {total} in all and your balance is {balance}.",
            field="credits",
        ) from None


def _submit(
    *,
    membership: Membership,
    specs: Sequence[JobSpec],
    parent: Job | None,
    source: str,
    dispatch: Dispatch,
    priority: int,
    batch_id: uuid.UUID | None,
    savepoint: bool = True,
) -> list[Job]:
    """Create every job with its hold in one transaction, or none.

    The input files are written inside it, so whatever fails, the ones already written are
    deleted again: no file is left without its rolled-back row.
    """
    if not membership.can_generate:
        raise PermissionDenied("Your role in this team does not allow generating images.")
    saved_names: list[str] = []
    try:
        with transaction.atomic(savepoint=savepoint):
            return [
                _create_job(
                    membership=membership,
                    spec=spec,
                    parent=parent,
                    source=source,
                    saved_names=saved_names,
                    batch_id=batch_id,
                    dispatch=dispatch,
                    priority=priority,
                )
                for spec in specs
            ]
    except BaseException:
        _delete_files(saved_names)
        raise


def _create_job(
    *,
    membership: Membership,
    spec: JobSpec,
    parent: Job | None,
    source: str,
    saved_names: list[str],
    batch_id: uuid.UUID | None,
    dispatch: Dispatch,
    priority: int,
) -> Job:
    """Create one job with its hold and inputs; the caller owns the transaction."""
    route = route_for_model(spec.model)
    # A placeholder drawn by the demo renderer costs nothing.
    per_image = unit_price(spec.model)
    job = Job.objects.create(
        team=membership.team,
        user=membership.user,
        catalog_model=spec.model,
        model_slug=spec.model.slug,
        prompt=spec.prompt,
        params=spec.params | ({"options": spec.options} if spec.options else {}),
        count=spec.count,
        source=source,
        credits_per_image=per_image,
        credits_held=line_price(per_image=per_image, count=spec.count),
        provider_family=route.family,
        is_demo=route.is_demo,
        parent=parent,
        batch_id=batch_id,
        priority=priority,
    )
    credits.hold_credits(job=job)
    inputs = [(JobInput.Kind.REFERENCE, i, img) for i, img in enumerate(spec.references)]
    if spec.mask is not None:
        inputs.append((JobInput.Kind.MASK, 0, spec.mask))
    records = []
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
        records.append(record)
    # A job's inputs are written here and never change: building its request needs no read.
    remember_related(job, "inputs", sorted(records, key=lambda r: (r.kind, r.position)))
    if dispatch == "queue_or_raise":
        transaction.on_commit(lambda: queue.enqueue_run(job_id=job.pk))
    elif dispatch == "queue" or start_locked_job(job) is None:
        transaction.on_commit(lambda: queue.enqueue_run_or_leave_for_sweep(job_id=job.pk))
    return job


def _delete_files(names: Sequence[str]) -> None:
    # The rows rolled back; do not leave their files behind.
    for name in names:
        default_storage.delete(name)
