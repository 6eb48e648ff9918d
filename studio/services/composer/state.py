"""The composer's state for a model (options kept, dropped, priced) and its form as a job spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from gallery.models import Image
from providers.models import CatalogModel
from providers.registry import route_for_model
from studio.models import Job, Membership
from studio.services.auto_model import AUTO, choose_auto_model
from studio.services.composer.menu import MenuEntry, build_menu, model_badges, usable_models
from studio.services.composer.references import collect_references, visible_images
from studio.services.composer.threads import continuation_references, find_parent, uses_history
from studio.services.errors import ValidationFailed
from studio.services.jobs import JobSpec, Quote, Upload, quote_job, validate_job
from studio.services.team.access import model_block_reason


@dataclass
class ComposerState:
    menu: list[tuple[str, list[MenuEntry]]]
    model: CatalogModel | None
    values: dict[str, Any]
    ratios: list[tuple[str, str]] = field(default_factory=list)  # (ratio, "1344×768")
    dropped: list[str] = field(default_factory=list)
    quote: Quote | None = None
    blocked_reason: str = ""
    is_demo: bool = False
    badges: tuple[str, ...] = ()
    # Gallery images attached as references, in order, and why any were left out.
    references: list[Image] = field(default_factory=list)
    reference_notice: str = ""
    # Why the model asked for (a link, a remix) is not the one shown: blocked or disabled.
    model_notice: str = ""
    count_notice: str = ""
    parent: Job | None = None
    parent_note: str = ""
    parent_error: str = ""
    edit_image: Image | None = None
    # "Auto" is chosen: the model it picks and why, or why none can be picked.
    auto: bool = False
    auto_reason: str = ""
    auto_error: str = ""
    # Every enabled model is drawn by the local renderer (an install with no provider key): the
    # picker says so once instead of on each of ~70 rows. Read from the whole menu, not a
    # filtered one, so that a filter matching only keyless models does not claim it.
    all_demo: bool = False

    @property
    def reserved_references(self) -> int:
        """Reference slots the parent's image takes when the model continues from it."""
        if self.parent is None or self.model is None:
            return 0
        return 0 if uses_history(parent=self.parent, model=self.model) else 1

    @property
    def shortfall(self) -> int:
        """Credits missing for the quoted request (0 when the balance covers it)."""
        return self.quote.shortfall if self.quote else 0

    @property
    def demo_free(self) -> bool:
        """Demo renders cost nothing (the default): the catalogue prices are what a live model costs."""
        return not settings.STUDIO_DEMO_CHARGE

    @property
    def free_references(self) -> int:
        return max((self.model.max_references if self.model else 0) - self.reserved_references, 0)


def composer_state(
    *,
    membership: Membership,
    values: Mapping[str, Any],
    reference_ids: Sequence[str] = (),
    edit_id: str = "",
    query: str = "",
) -> ComposerState:
    """Resolve the chosen model and keep the options that still apply, saying what was dropped."""
    user = membership.user
    full_menu = build_menu(membership=membership)
    state = ComposerState(menu=full_menu, model=None, values={k: values.get(k) or "" for k in values})
    state.all_demo = _every_model_demo(full_menu)
    remix = values.get("remix")
    if remix:
        # "Remix" (the lightbox's R): the image's model, prompt and ratio, unless the link names its own.
        found = visible_images(user=user, ids=[str(remix)])
        if found:
            image = found[0]
            remixed = {"model": image.model_slug, "prompt": image.prompt, "aspect_ratio": image.aspect_label or ""}
            state.values.update({k: v for k, v in remixed.items() if v and not state.values.get(k)})
            values = {**dict(values.items()), **state.values}
        else:
            state.reference_notice = "The image you wanted to remix is not available to you."
        state.values.pop("remix", None)

    ids = [str(i).strip() for i in ([edit_id] if edit_id else []) + list(reference_ids) if str(i).strip()]
    images = visible_images(user=user, ids=ids)
    state.references = images
    if len(images) < len(set(ids)):
        state.reference_notice = "An image you asked for is not available to you, so it was left out."
    if edit_id and images and str(images[0].pk) == str(edit_id).strip():
        state.edit_image = images[0]

    wanted = str(values.get("model") or "")
    state.auto = is_auto_choice(wanted)
    model = CatalogModel.objects.resolve(wanted) if wanted and not state.auto else None
    usable = usable_models(full_menu)
    if state.auto:
        model = _auto_model(state, membership=membership, values=values)
    if model is None and state.edit_image is not None:
        model = _edit_model(image=state.edit_image, usable=usable)
    if model is None and state.references:
        model = next((m for m in usable if m.max_references >= len(state.references)), None)
    if model is not None and usable and model not in usable:
        fallback = _fallback_model(model=model, usable=usable)
        reason = model_block_reason(membership=membership, model=model).rstrip(".")
        state.model_notice = (
            f"{model.display_name} is not available to you ({reason[:1].lower()}{reason[1:]}), "
            f"so {fallback.display_name} is selected instead."
        )
        model = fallback
    if model is None or not model.enabled:
        model = usable[0] if usable else None
    state.model = model
    if query:
        state.menu = build_menu(membership=membership, query=query, keep=model.slug if model else "")
    if model is None:
        return state
    state.blocked_reason = model_block_reason(membership=membership, model=model)
    state.is_demo = route_for_model(model).is_demo
    state.badges = model_badges(model)
    state.values["model"] = AUTO if state.auto else model.slug

    parent_id = str(values.get("parent") or "")
    if parent_id:
        state.parent = find_parent(user=user, public_id=parent_id)
        if state.parent is None:
            state.parent_error = "The result you wanted to continue from is not available."
            state.values["parent"] = ""
        elif uses_history(parent=state.parent, model=model):
            state.parent_note = f"{model.display_name} receives the conversation so far."
        elif model.max_references:
            state.parent_note = "The previous image is sent as the first reference."
        else:
            state.parent_error = (
                f"{model.display_name} cannot start from an image: choose a model that edits images to continue."
            )

    _apply_options(state, model, values)
    if len(state.references) > state.free_references:
        extra = len(state.references) - state.free_references
        state.dropped.append(
            f"{extra} reference image{'s' if extra != 1 else ''} ({model.display_name} takes "
            f"{'none' if not state.free_references else f'at most {state.free_references}'})"
        )
        state.references = state.references[: state.free_references]
    state.quote = quote_job(membership=membership, model=model, count=state.values["count"])
    return state


def is_auto_choice(value: str) -> bool:
    """The composer's "Auto" card (an empty model is not Auto here: the form always sends one)."""
    return value.strip().lower() == AUTO


def _count_of(values: Mapping[str, Any]) -> int:
    try:
        return max(int(values.get("count") or 1), 1)
    except (TypeError, ValueError):
        return 1


def _auto_model(state: ComposerState, *, membership: Membership, values: Mapping[str, Any]) -> CatalogModel | None:
    """The model "Auto" would run this request on, as the API picks it (studio/services/auto_model.py)."""
    try:
        choice = choose_auto_model(
            membership=membership,
            references=len(state.references) + (1 if values.get("parent") else 0),
            count=_count_of(values),
            aspect_ratio=str(values.get("aspect_ratio") or "") or None,
            resolution=str(values.get("resolution") or "") or None,
        )
    except ValidationFailed as exc:
        state.auto_error = exc.errors.get("model", "")
        return None
    state.auto_reason = choice.reason
    return choice.model


def _apply_options(state: ComposerState, model: CatalogModel, values: Mapping[str, Any]) -> None:
    resolution = str(values.get("resolution") or "")
    if resolution not in model.resolutions:
        if resolution:
            state.dropped.append(f"resolution {resolution}")
        resolution = model.default_resolution
    state.values["resolution"] = resolution

    ratio = str(values.get("aspect_ratio") or "")
    if ratio not in model.aspect_ratios:
        if ratio:
            state.dropped.append(f"aspect ratio {ratio}")
        ratio = model.default_aspect_ratio
    state.values["aspect_ratio"] = ratio
    for r in model.aspect_ratios:
        size = model.output_size(r, resolution)
        state.ratios.append((r, f"{size[0]}×{size[1]}" if size else ""))

    quality = str(values.get("quality") or "")
    if quality and quality not in model.qualities:
        state.dropped.append(f"quality {quality}")
        quality = ""
    state.values["quality"] = quality

    try:
        count = int(values.get("count") or 1)
    except (TypeError, ValueError):
        count = 1
    if count > model.max_count:
        # Said beside the count, not folded into the list of dropped options: it changes the price.
        state.count_notice = (
            f"You asked for {count} images; {model.display_name} makes at most {model.max_count} "
            f"per request, so the count is {model.max_count}."
        )
        count = model.max_count
    state.values["count"] = max(count, 1)
    for name, capability in (("seed", "seed"), ("negative_prompt", "negative_prompt")):
        if values.get(name) and not model.cap(capability, False):
            state.dropped.append(name.replace("_", " "))
            state.values[name] = ""
    style = str(values.get("style") or "")
    if style and style not in (model.cap("styles") or []):
        state.dropped.append(f"style {style}")
        state.values["style"] = ""
    offered = model.cap("output_formats") or ["png"]
    fmt = str(values.get("output_format") or offered[0])
    if fmt not in offered:
        state.dropped.append(f"format {fmt}")
        fmt = offered[0]
    state.values["output_format"] = fmt


def _fallback_model(*, model: CatalogModel, usable: list[CatalogModel]) -> CatalogModel:
    """The usable model closest to a blocked one: its family first, then the nearest price."""
    same_family = [m for m in usable if m.family == model.family]
    pool = same_family or usable
    return min(pool, key=lambda m: abs(m.credits_per_image - model.credits_per_image))


def _edit_model(*, image: Image, usable: list[CatalogModel]) -> CatalogModel | None:
    """For "edit this": the image's own model if it edits, else the first that paints masks."""
    own = CatalogModel.objects.resolve(image.model_slug)
    if own is not None and own in usable and own.max_references:
        return own
    with_mask = [m for m in usable if m.cap("mask", False) and m.max_references]
    editing = [m for m in usable if m.max_references]
    return (with_mask or editing or [None])[0]


def compose_job(
    *,
    membership: Membership,
    values: Mapping[str, str],
    image_ids: Sequence[str] = (),
    uploads: Sequence[Upload] = (),
    order: str = "",
    mask: Upload | None = None,
) -> tuple[JobSpec, Job | None]:
    """Turn the composer's form into a validated spec (and the job it continues, if any)."""
    parent = None
    if values.get("parent"):
        parent = find_parent(user=membership.user, public_id=values["parent"])
        if parent is None:
            raise ValidationFailed({"parent": "The result you wanted to continue from is not available."})
    references = collect_references(user=membership.user, image_ids=image_ids, uploads=uploads, order=order)
    if is_auto_choice(values.get("model") or ""):
        # The same choice as the API's: what this request asks, the parent's image counted as a reference.
        choice = choose_auto_model(
            membership=membership,
            references=len(references) + (1 if parent is not None else 0),
            mask=mask is not None,
            count=_count_of(values),
            aspect_ratio=values.get("aspect_ratio") or None,
            resolution=values.get("resolution") or None,
        )
        values = {**values, "model": choice.model.slug}
    model = CatalogModel.objects.resolve(values.get("model") or "")
    if parent is not None and model is not None:
        references = continuation_references(parent=parent, model=model) + references
    spec = validate_job(
        membership=membership,
        model=values.get("model", ""),
        prompt=values.get("prompt", ""),
        aspect_ratio=values.get("aspect_ratio"),
        resolution=values.get("resolution"),
        quality=values.get("quality"),
        count=values.get("count"),
        seed=values.get("seed"),
        negative_prompt=values.get("negative_prompt"),
        style=values.get("style"),
        output_format=values.get("output_format"),
        references=references,
        mask=mask,
    )
    return spec, parent


def _every_model_demo(menu: list[tuple[str, list[MenuEntry]]]) -> bool:
    entries = [entry for _, group in menu for entry in group]
    return bool(entries) and all(entry.is_demo for entry in entries)
