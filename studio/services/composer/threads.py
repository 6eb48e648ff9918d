"""Refinement threads: continuing from a parent job, and reading a thread back as turns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from providers.models import CatalogModel
from studio.models import Job, JobStatus, Membership, User
from studio.services.composer.references import image_upload
from studio.services.errors import ValidationFailed
from studio.services.jobs import JobSpec, Upload, validate_job

HISTORY_FAMILY = "gemini"


def find_parent(*, user: User, public_id: str) -> Job | None:
    """The user's own job to continue from, or None."""
    try:
        wanted = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return Job.objects.select_related("catalog_model").filter(public_id=wanted, user=user).first()


def uses_history(*, parent: Job, model: CatalogModel) -> bool:
    """Gemini continues a Gemini conversation; every other pairing starts from the previous image."""
    return model.family == HISTORY_FAMILY and parent.catalog_model.family == HISTORY_FAMILY


def continuation_references(*, parent: Job, model: CatalogModel) -> list[Upload]:
    """What a follow-up sends besides its prompt: nothing for Gemini (it gets the history),
    the parent's first image as a reference for everyone else."""
    if parent.status != JobStatus.SUCCEEDED:
        raise ValidationFailed({"parent": "You can continue only from a finished result."})
    if uses_history(parent=parent, model=model):
        return []
    if not model.max_references:
        raise ValidationFailed(
            {"model": f"{model.display_name} cannot start from an image: choose a model that edits images to continue."}
        )
    image = parent.images.filter(deleted_at__isnull=True).order_by("index").first()
    if image is None:
        raise ValidationFailed({"parent": "That result has no image left to continue from."})
    return [image_upload(image)]


def refine_spec(*, membership: Membership, parent: Job, prompt: str) -> JobSpec:
    """A follow-up turn on the parent's model with its settings: one image, the new instruction."""
    model = parent.catalog_model
    params = parent.params or {}
    ratio = params.get("aspect_ratio")
    resolution = params.get("resolution")
    offered = model.cap("output_formats") or []
    return validate_job(
        membership=membership,
        model=model.slug,
        prompt=prompt,
        aspect_ratio=ratio if ratio in model.aspect_ratios else None,
        resolution=resolution if resolution in model.resolutions else None,
        quality=params.get("quality") if params.get("quality") in model.qualities else None,
        count=1,
        style=params.get("style") or None,
        output_format=params.get("output_format") if params.get("output_format") in offered else None,
        references=continuation_references(parent=parent, model=model),
    )


@dataclass(frozen=True)
class ThreadTurn:
    job: Job
    depth: int


def thread_of(*, job: Job, limit: int = 200) -> list[ThreadTurn]:
    """Every turn of `job`'s refinement tree (the user's own jobs), root first, depth-first."""
    root = job
    for _ in range(50):
        if root.parent_id is None:
            break
        parent = Job.objects.filter(pk=root.parent_id, user_id=job.user_id).first()
        if parent is None:
            break
        root = parent
    children: dict[int, list[Job]] = {}
    frontier = [root.pk]
    seen = 1
    while frontier and seen < limit:
        level = list(
            Job.objects.filter(parent_id__in=frontier, user_id=job.user_id)
            .select_related("catalog_model")
            .prefetch_related("images")
            .order_by("created_at", "id")[: limit - seen]
        )
        for child in level:
            children.setdefault(child.parent_id, []).append(child)
        seen += len(level)
        frontier = [child.pk for child in level]
    root = Job.objects.select_related("catalog_model").prefetch_related("images").get(pk=root.pk)
    turns: list[ThreadTurn] = []
    stack: list[tuple[Job, int]] = [(root, 0)]
    while stack:
        current, depth = stack.pop()
        turns.append(ThreadTurn(job=current, depth=depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(current.pk, [])))
    return turns
