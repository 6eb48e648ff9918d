"""How jobs, models and images look over the API (read-only shaping, no rules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from gallery.models import Image
from providers.models import CatalogModel
from studio.models import Job
from studio.services.jobs import queue_position, waiting_for_capacity

IMAGE_SALT = "studio.api.image"


# -- signed image links ----------------------------------------------------------------
def image_token(image_id: int) -> str:
    return signing.TimestampSigner(salt=IMAGE_SALT).sign(str(image_id))


def image_id_from_token(token: str) -> int:
    """Check signature and age; raise signing.SignatureExpired / BadSignature."""
    value = signing.TimestampSigner(salt=IMAGE_SALT).unsign(token, max_age=settings.STUDIO_API_IMAGE_URL_MAX_AGE)
    return int(value)


def signed_image_url(image: Image, *, base_url: str) -> tuple[str, datetime]:
    path = reverse("api_v2:signed_image", kwargs={"token": image_token(image.pk)})
    expires = timezone.now() + timedelta(seconds=settings.STUDIO_API_IMAGE_URL_MAX_AGE)
    return base_url.rstrip("/") + path, expires


# -- jobs --------------------------------------------------------------------------------
def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_resource(job: Job, *, base_url: str, include_images: bool = True) -> dict[str, Any]:
    """The /v2 view of a job: status upper-case, progress, signed image links, error, cost."""
    images: list[dict[str, Any]] = []
    if include_images:
        for image in job.images.filter(deleted_at__isnull=True).order_by("index"):
            url, expires = signed_image_url(image, base_url=base_url)
            images.append(
                {
                    "url": url,
                    "expiresAt": expires.isoformat(),
                    "width": image.width,
                    "height": image.height,
                    "mimeType": image.mime_type,
                }
            )
    position = queue_position(job=job)
    error = None
    if job.error_code and job.status in ("failed", "canceled"):
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "jobId": str(job.public_id),
        "status": job.status.upper(),
        "progress": job.progress,
        "model": job.model_slug,
        "prompt": job.prompt,
        "count": job.count,
        "source": job.source,
        "isDemo": job.is_demo,
        "queuePosition": position,
        "waitingFor": (waiting_for_capacity(job=job) or None) if position else None,
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
        "images": images,
        "text": job.result_text or None,
        "error": error,
        "cost": {"held": job.credits_held, "charged": job.credits_charged, "returned": job.credits_returned},
    }


# -- models ------------------------------------------------------------------------------
def supported_sizes(model: CatalogModel) -> list[str]:
    sizes: list[str] = []
    for resolution in model.resolutions:
        for ratio in model.aspect_ratios:
            size = model.output_size(ratio, resolution)
            if size:
                label = f"{size[0]}x{size[1]}"
                if label not in sizes:
                    sizes.append(label)
    return sizes


def lifecycle_resource(model: CatalogModel) -> dict[str, Any] | None:
    """When the model's upstream retires and who serves the model string from then on."""
    retires_on = model.retires_on
    if retires_on is None:
        return None
    route = model.served_route()
    successor = (model.lifecycle or {}).get("successor", {})
    return {
        "retires_on": retires_on.isoformat(),
        "retired": route.since is not None,
        "served_by": {"provider": route.family, "model": route.remote_model, "since": route.since.isoformat()}
        if route.since
        else None,
        "successor": {"provider": successor.get("family"), "model": successor.get("remote_model")},
        "note": model.served_by(),
        "reason": model.lifecycle.get("reason", ""),
        "source": model.lifecycle.get("source", ""),
    }


def model_resource(model: CatalogModel, *, aliases: list[str], available: bool, reason: str) -> dict[str, Any]:
    created = int(model.updated_at.timestamp()) if model.updated_at else 0
    return {
        "id": model.slug,
        "object": "model",
        "created": created,
        "owned_by": model.family,
        "name": model.display_name,
        "modality": "image",
        "aliases": aliases,
        "tier": model.tier,
        "credits_per_image": model.credits_per_image,
        "provider": model.family,
        "description": model.description,
        "available": available,
        "unavailable_reason": reason or None,
        "lifecycle": lifecycle_resource(model),
        "capabilities": {
            "text_to_image": bool(model.cap("text_to_image", True)),
            "edit": bool(model.cap("edit", False)),
            "max_references": model.max_references,
            "mask": bool(model.cap("mask", False)),
            "max_count": model.max_count,
            "seed": bool(model.cap("seed", False)),
            "negative_prompt": bool(model.cap("negative_prompt", False)),
            "streaming": bool(model.cap("streaming", False)),
            "thinking": bool(model.cap("thinking", False)),
            "grounding": bool(model.cap("grounding", False)),
        },
        "allowedParams": {
            "supported_sizes": supported_sizes(model),
            "aspect_ratios": model.aspect_ratios,
            "resolutions": model.resolutions,
            "qualities": model.qualities or ([model.fixed_options["quality"]] if "quality" in (model.fixed_options or {}) else []),
            "output_formats": list(model.cap("output_formats") or ["png"]),
            "styles": list(model.cap("styles") or []),
            "n": {"min": 1, "max": model.max_count},
        },
    }
