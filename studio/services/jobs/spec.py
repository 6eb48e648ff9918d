"""What a job asks for: the request checked against the catalogue, and its price."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from gallery import imaging
from providers.models import CatalogModel
from providers.registry import route_for_model
from studio.models import Membership
from studio.services import config_cache, credits
from studio.services.errors import ModelNotAllowed, ValidationFailed
from studio.services.team.access import model_block_reason

PROMPT_MAX = 2000

OUTPUT_FORMATS = ("png", "jpeg", "webp")


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
        return line_price(per_image=unit_price(self.model), count=self.count)


def line_price(*, per_image: int, count: int) -> int:
    """What `count` images at `per_image` credits cost: every quote, price line and hold."""
    return per_image * count


class AgainstBalance:
    """A price set against a balance; subclasses give `total` and `balance` (fields or properties).

    One place for the arithmetic the studio, compare and batch pages all show.
    """

    total: int
    balance: int

    @property
    def balance_after(self) -> int:
        return self.balance - self.total

    @property
    def affordable(self) -> bool:
        return self.total <= self.balance

    @property
    def shortfall(self) -> int:
        """Credits missing: pages say "short by N" rather than show a negative balance."""
        return max(self.total - self.balance, 0)


@dataclass(frozen=True)
class Quote(AgainstBalance):
    per_image: int
    count: int
    total: int
    balance: int


# -- validation -------------------------------------------------------------------
def cached_model(identifier: str) -> CatalogModel | None:
    """`CatalogModel.objects.resolve` from this process's copy of the catalogue (config_cache):
    every submit resolves a model, and a case-insensitive match scans the table twice."""
    key = (identifier or "").strip().lower()
    return config_cache.cached("model", key, lambda: CatalogModel.objects.resolve(key)) if key else None


def cached_model_by_id(model_id: int) -> CatalogModel | None:
    """A catalogue row by id from the same per-process copy (a worker builds every request from it)."""
    return config_cache.cached("model-id", str(model_id), lambda: CatalogModel.objects.filter(pk=model_id).first())


def resolve_model(*, membership: Membership, identifier: str) -> CatalogModel:
    """Find a usable model by string or alias, or say why not."""
    model = cached_model(identifier)
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
    luma = route_for_model(catalog_model).family == "luma"
    if references and luma and not settings.STUDIO_PUBLIC_URL and "references" not in errors:
        # Luma fetches references by URL only (its API takes no inline images), and ours are private.
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

    if "output_format" not in errors:
        errors.update(catalog_model.refusal_for(options=dict(options or {}), output_format=fmt))
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


def unit_price(model: CatalogModel) -> int:
    """Credits per image a job of `model` pays now (nothing for a demo render)."""
    is_demo = route_for_model(model).is_demo and not settings.STUDIO_DEMO_CHARGE
    return model.effective_price(is_demo=is_demo)


def quote_job(*, membership: Membership, model: CatalogModel, count: int) -> Quote:
    """Price a request against the member's balance (what the studio shows before submit)."""
    per_image = unit_price(model)
    return Quote(
        per_image=per_image,
        count=count,
        total=line_price(per_image=per_image, count=count),
        balance=credits.member_balance(membership=membership),
    )
