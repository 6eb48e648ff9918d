"""Turning a job (and its thread) into the adapter's request, and its answer back into parts."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from gallery.services import load_image_bytes
from providers.types import GenerationRequest, GenerationResult, InputImage, Part, Turn
from studio.input_links import public_input_url
from studio.models import Job, JobInput, JobStatus
from studio.services.db import has_row, is_remembered
from studio.services.jobs.spec import cached_model_by_id


def _inputs(job: Job) -> list[JobInput]:
    # Known without a read when this process submitted the job (`remember_related`); a
    # worker probes first, since most jobs have no inputs at all.
    if not is_remembered(job, "inputs") and not has_row(JobInput, "job_id", job.pk):
        return []
    return list(job.inputs.all())


def build_request(job: Job) -> GenerationRequest:
    """Turn a job (and its thread) into the adapter's request dataclass."""
    if not Job.catalog_model.is_cached(job):
        job.catalog_model = cached_model_by_id(job.catalog_model_id) or job.catalog_model
    inputs = _inputs(job)
    references = tuple(_stored_input(i) for i in inputs if i.kind == JobInput.Kind.REFERENCE)
    mask = next((_stored_input(i) for i in inputs if i.kind == JobInput.Kind.MASK), None)
    params = job.params or {}
    model = job.catalog_model
    served = model.served_route()  # a retired upstream's successor, with its fixed options
    options = {**served.options, **params.get("options", {})}
    if job.provider_family == "local":
        options.setdefault("demo_delay", settings.STUDIO_DEMO_DELAY)
    if job.provider_family == "luma" and references and settings.STUDIO_PUBLIC_URL:
        # Luma fetches references by URL only: signed links that expire (studio/input_links.py).
        options["reference_urls"] = [
            public_input_url(job_input=i) for i in inputs if i.kind == JobInput.Kind.REFERENCE
        ]
    return GenerationRequest(
        model=model.slug,
        remote_model=served.remote_model,
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
        # One key per job: a retried submit to an aggregator never starts a second paid job.
        idempotency_key=str(job.public_id),
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
