"""/v1: the models list and the OpenAI-compatible images endpoints (seeds 001 and 004)."""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from gallery.services import load_image_bytes
from providers.models import CatalogModel, ModelAlias
from studio.api.auth import ApiContext
from studio.api.bodies import is_clean_text, read_body
from studio.api.errors import ApiError, from_domain, job_error
from studio.api.idempotency import Claim, complete, run_idempotent
from studio.api.resources import model_resource
from studio.api.services import submit_api_job, sync_timeout, wait_for_job
from studio.api.v1_parsing import ImageRequest, bad, parse_image_request, parse_size
from studio.models import Job, JobStatus
from studio.services.auto_model import AutoChoice, choose_auto_model, is_auto
from studio.services.errors import StudioError
from studio.services.jobs import resolve_model, run_started_job, validate_job
from studio.services.team.access import model_block_reason

# The service's field names -> the names a client of /v1/images sent.
PARAMS = {
    "aspect_ratio": "size",
    "resolution": "size",
    "count": "n",
    "references": "image",
    "mask": "mask",
    "output_format": "output_format",
    "quality": "quality",
    "prompt": "prompt",
    "model": "model",
}
STREAM_POLL_SECONDS = 0.1


# -- models ------------------------------------------------------------------------------
def _aliases() -> dict[int, list[str]]:
    table: dict[int, list[str]] = {}
    for alias in ModelAlias.objects.order_by("alias"):
        table.setdefault(alias.model_id, []).append(alias.alias)
    return table


def list_models(request: HttpRequest, ctx: ApiContext) -> JsonResponse:
    modality = request.GET.get("modality", "image")
    models: list[dict[str, Any]] = []
    if modality == "image":
        aliases = _aliases()
        for model in CatalogModel.objects.enabled().menu_order():
            reason = model_block_reason(membership=ctx.membership, model=model)
            models.append(model_resource(model, aliases=aliases.get(model.pk, []), available=not reason, reason=reason))
    return JsonResponse({"object": "list", "data": models})


def get_model(request: HttpRequest, ctx: ApiContext, model_id: str) -> JsonResponse:
    model = CatalogModel.objects.resolve(model_id) if is_clean_text(model_id) else None
    if model is None:
        raise ApiError(404, "not_found", f"No model “{model_id}”.", param="model")
    reason = model_block_reason(membership=ctx.membership, model=model)
    if not model.enabled:
        # The same answer /v2 gives when asked to generate with it (resolve_model).
        raise ApiError(403, "model_not_allowed", f"{model.display_name}: {reason}", param="model")
    aliases = list(model.aliases.order_by("alias").values_list("alias", flat=True))
    return JsonResponse(model_resource(model, aliases=aliases, available=not reason, reason=reason))


def nearest_size(model: CatalogModel, size: str | None) -> tuple[str, str]:
    """Map WxH to the catalogue's nearest aspect ratio, then the nearest resolution."""
    if not size or size == "auto":
        return model.default_aspect_ratio, model.default_resolution
    wanted = parse_size(size)
    assert wanted is not None  # checked while parsing
    ratio, area = math.log(wanted[0] / wanted[1]), wanted[0] * wanted[1]
    best: tuple[float, float, str, str] | None = None
    for resolution in model.resolutions:
        for aspect in model.aspect_ratios:
            pixels = model.output_size(aspect, resolution)
            if not pixels:
                continue
            score = (abs(math.log(pixels[0] / pixels[1]) - ratio), abs(math.log(pixels[0] * pixels[1] / area)))
            if best is None or score < best[:2]:
                best = (*score, aspect, resolution)
    if best is None:
        return model.default_aspect_ratio, model.default_resolution
    return best[2], best[3]


# -- from request to job ---------------------------------------------------------------------
@dataclass(frozen=True)
class Applied:
    """What the answer reports as actually applied (beside what the stored images say)."""

    family: str
    quality: str | None
    background: str | None
    is_edit: bool
    auto_reason: str = ""


def choose_quality_model(ctx: ApiContext, model: CatalogModel, quality: str | None) -> CatalogModel:
    """GPT qualities are separate catalogue entries with their own prices: pick the sibling."""
    if quality in (None, "auto") or model.family != "openai" or quality in model.qualities:
        return model
    if (model.fixed_options or {}).get("quality") == quality:
        return model
    sibling = (
        CatalogModel.objects.enabled()
        .filter(family=model.family, remote_model=model.remote_model, fixed_options__quality=quality)
        # A retired model's entry now sending the same remote model is not a quality sibling:
        # gpt-image-2 at low quality is gpt-image-2-mini, not gpt-image-1-mini-low.
        .exclude(lifecycle__has_key="retired_route")
        .order_by("credits_per_image")
        .first()
    )
    if sibling is None:
        raise bad("quality", f"{model.display_name} is not offered at quality “{quality}”.")
    return resolve_model(membership=ctx.membership, identifier=sibling.slug)


def auto_choice(ctx: ApiContext, request: ImageRequest) -> AutoChoice:
    # `size` is matched to the chosen model's nearest size afterwards, as for a named model.
    return choose_auto_model(
        membership=ctx.membership, references=len(request.images), mask=request.mask is not None, count=request.n
    )


def build_spec(ctx: ApiContext, request: ImageRequest) -> tuple[Any, Applied]:
    auto = auto_choice(ctx, request) if is_auto(request.model) else None
    model = resolve_model(membership=ctx.membership, identifier=auto.model.slug if auto else request.model)
    model = choose_quality_model(ctx, model, request.quality)
    is_gpt = model.family == "openai" and not model.remote_model.startswith("dall-e")
    is_gemini = model.family == "gemini"
    options: dict[str, Any] = {}
    output_format = request.output_format
    offered = model.cap("output_formats") or []
    if output_format == "webp" and "webp" not in offered and "png" in offered:
        output_format = "png"  # a model without webp (Gemini) answers png, as seed 004 does
    background = None
    if is_gpt:
        background = request.background
        # What a model refuses (gpt-image-2: no transparent background) is in its capabilities,
        # so the composer, /v2 and this endpoint refuse it alike (CatalogModel.refusal_for).
        refusal = model.refusal_for(options={"background": background}, output_format=output_format or "png")
        if refusal:
            field, message = next(iter(refusal.items()))
            raise bad(field, message)
        for name in ("background", "output_compression", "moderation", "user"):
            value = getattr(request, name)
            if value is not None:
                options[name] = value
        if request.stream:
            options["stream"] = True
            if request.partial_images is not None:
                options["partial_images"] = request.partial_images
    if is_gemini:
        if request.thinking:
            options["thinking"] = request.thinking
        if request.response_modalities:
            options["response_modalities"] = [m.upper() for m in request.response_modalities]
        if request.input_image_resolution:
            options["media_resolution"] = request.input_image_resolution
    aspect_ratio, resolution = nearest_size(model, request.size)
    quality = request.quality if request.quality in model.qualities else None
    spec = validate_job(
        membership=ctx.membership,
        model=model.slug,
        prompt=request.prompt,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        quality=quality,
        count=request.n,
        output_format=output_format,
        references=request.images,
        mask=request.mask,
        options=options,
    )
    applied_quality = quality or (model.fixed_options or {}).get("quality") if model.family == "openai" else None
    applied = Applied(
        family=model.family,
        quality=applied_quality,
        background=background,
        is_edit=request.is_edit,
        auto_reason=auto.reason if auto else "",
    )
    return spec, applied


# -- answers --------------------------------------------------------------------------------
def _format_of(mime_type: str) -> str:
    return {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}.get(mime_type, mime_type.rsplit("/", 1)[-1])


def usage_of(job: Job, *, images: int | None = None) -> dict[str, Any]:
    """Provider token usage where the provider reported it, plus the credits charged."""
    raw = (job.metadata or {}).get("usage")
    entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    usage: dict[str, Any] = {}
    for entry in entries:
        for ours, names in (
            ("input_tokens", ("input_tokens", "promptTokenCount")),
            ("output_tokens", ("output_tokens", "candidatesTokenCount")),
            ("total_tokens", ("total_tokens", "totalTokenCount")),
        ):
            value = next((entry[n] for n in names if isinstance(entry.get(n), int)), None)
            if value is not None:
                usage[ours] = usage.get(ours, 0) + value
    usage["images"] = job.images.count() if images is None else images
    usage["credits"] = job.credits_charged
    return usage


def image_body(job: Job, applied: Applied) -> dict[str, Any]:
    images = sorted(job.images.all(), key=lambda image: image.index)
    data = []
    for image in images:
        item: dict[str, Any] = {"b64_json": base64.b64encode(load_image_bytes(image)).decode()}
        if image.revised_prompt:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    first = images[0] if images else None
    body: dict[str, Any] = {
        "id": str(job.public_id),
        "created": int(job.created_at.timestamp()),
        "data": data,
        "usage": usage_of(job, images=len(images)),
        "output_format": _format_of(first.mime_type) if first else None,
        "size": f"{first.width}x{first.height}" if first else None,
    }
    if job.is_demo:
        # Drawn by the local demo renderer, not the model's provider (STUDIO_DEMO_RENDER).
        body["is_demo"] = True
    if applied.auto_reason:
        body["model"] = job.model_slug
        body["auto_reason"] = applied.auto_reason
    if applied.family == "openai":
        body["quality"] = applied.quality
        # The local renderer draws opaque images; a provider's "auto" choice is not reported.
        body["background"] = "opaque" if job.is_demo else applied.background if applied.background != "auto" else None
    if applied.family == "gemini":
        body["text"] = job.result_text or None
        body["parts"] = [
            {"type": "image", "index": part["image_index"]}
            if part.get("image_index") is not None
            else {"type": "text", "text": part["text"]}
            for part in job.result_parts or []
            if not part.get("thought") and (part.get("image_index") is not None or part.get("text"))
        ]
    return body


def job_answer(job: Job, applied: Applied) -> HttpResponse:
    if job.status == JobStatus.SUCCEEDED:
        return JsonResponse(image_body(job, applied))
    if not job.is_terminal:
        return ApiError(
            504,
            "timeout",
            f"The job {job.public_id} is still running; follow it at /v2/jobs/{job.public_id}.",
            headers={"x-should-retry": "false"},
        ).response()
    return job_error(job.error_code, job.error_message).response()


# -- the endpoints' work --------------------------------------------------------------------
def create_images(request: HttpRequest, ctx: ApiContext, *, edit_endpoint: bool) -> HttpResponse:
    body = read_body(request)

    def handle(claim: Claim | None) -> HttpResponse:
        parsed = parse_image_request(body, edit_endpoint=edit_endpoint)
        try:
            spec, applied = build_spec(ctx, parsed)
            # A synchronous answer runs the job in this thread: no broker hop, no polling.
            # A streamed one goes to a worker so this thread can relay its previews.
            job = submit_api_job(ctx=ctx, spec=spec, claim=claim, run_here=not parsed.stream)
        except StudioError as exc:
            raise from_domain(exc, params=PARAMS) from None
        if parsed.stream:
            return stream_answer(job_id=job.pk, applied=applied, claim=claim)
        ended = run_started_job(job=job)
        if ended is None or not ended.is_terminal:
            # Waiting for a retry a worker will run (the provider asked us to back off), or
            # for a worker to run it at all (its provider had no room when it was submitted).
            ended = wait_for_job(job_id=job.pk, timeout=sync_timeout(job))
        return job_answer(ended, applied)

    return run_idempotent(request, api_key=ctx.key, canonical_body=body.canonical, handler=handle)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_answer(*, job_id: int, applied: Applied, claim: Claim | None) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        stream_events(job_id=job_id, applied=applied, claim=claim), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


def stream_events(*, job_id: int, applied: Applied, claim: Claim | None) -> Iterator[bytes]:
    """Partial images as the provider streams previews, then one completed event per image."""
    try:
        yield from _events(job_id=job_id, applied=applied, claim=claim)
    finally:
        # A client that hung up still gets the job's answer on a retry, once there is one.
        if claim is not None and not claim.completed:
            job = Job.objects.select_related("catalog_model").get(pk=job_id)
            if job.is_terminal:
                answer = job_answer(job, applied)
                complete(claim, status=answer.status_code, body=answer.content)


def _events(*, job_id: int, applied: Applied, claim: Claim | None) -> Iterator[bytes]:
    prefix = "image_edit" if applied.is_edit else "image_generation"
    job = Job.objects.select_related("catalog_model").get(pk=job_id)
    deadline = time.monotonic() + sync_timeout(job)
    seen_preview, partial_index, progress = "", 0, -1
    while True:
        job = Job.objects.select_related("catalog_model").get(pk=job_id)
        if job.preview and job.preview.name != seen_preview:
            seen_preview = job.preview.name
            with job.preview.open("rb") as handle:
                preview = base64.b64encode(handle.read()).decode()
            yield sse(
                f"{prefix}.partial_image",
                {"type": f"{prefix}.partial_image", "b64_json": preview, "partial_image_index": partial_index,
                 "created_at": int(time.time())},
            )
            partial_index += 1
        if job.is_terminal or time.monotonic() > deadline:
            break
        if job.progress != progress:
            progress = job.progress
            yield f": progress {progress}\n\n".encode()  # a comment: keeps proxies from timing out
        time.sleep(STREAM_POLL_SECONDS)
    answer = job_answer(job, applied)
    if claim is not None:
        complete(claim, status=answer.status_code, body=answer.content)
    if answer.status_code != 200:
        yield sse("error", {"type": "error", **json.loads(answer.content)})
        return
    body = json.loads(answer.content)
    for item in body["data"]:
        event = {
            "type": f"{prefix}.completed",
            "b64_json": item["b64_json"],
            "created_at": body["created"],
            "size": body["size"],
            "output_format": body["output_format"],
            "usage": body["usage"],
        }
        for name in ("quality", "background"):
            if name in body:
                event[name] = body[name]
        yield sse(f"{prefix}.completed", event)
