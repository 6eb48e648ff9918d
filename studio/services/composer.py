"""The studio's composer: what it offers for a model, and how its input becomes job specs.

Read-only selectors (the menu, the composer state, threads, batch summaries) and the
translation of composer input (references from uploads, the gallery or a parent job;
compare and batch lists) into validated `JobSpec`s. Submitting stays in `jobs`.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gallery.models import Image
from gallery.services import load_image_bytes
from providers.models import TIER_ORDER, CatalogModel
from providers.registry import route_for
from studio.models import Job, JobStatus, Membership, User
from studio.services import credits
from studio.services.errors import StudioError, ValidationFailed
from studio.services.jobs import JobSpec, Quote, Upload, quote_job, validate_job
from studio.services.team.access import model_block_reason

COMPARE_MAX = 4
BATCH_MAX_ROWS = 100
BATCH_MAX_BYTES = 1024 * 1024
BATCH_COLUMNS = (
    "prompt", "model", "aspect_ratio", "resolution", "quality", "count", "seed",
    "negative_prompt", "style", "output_format",
)
# Options a batch row may override; the prompt is the row itself.
BATCH_OPTIONS = BATCH_COLUMNS[1:]
HISTORY_FAMILY = "gemini"


# -- the model menu -------------------------------------------------------------------
@dataclass(frozen=True)
class MenuEntry:
    model: CatalogModel
    blocked_reason: str
    is_demo: bool
    badges: tuple[str, ...] = ()


def model_badges(model: CatalogModel) -> tuple[str, ...]:
    """What a model can do, in the few words the picker shows."""
    badges: list[str] = []
    if model.max_references:
        badges += ["edit", f"references ≤ {model.max_references}"]
    if model.cap("mask", False):
        badges.append("mask")
    if "4K" in model.resolutions:
        badges.append("4K")
    if model.cap("text_in_image", False):
        badges.append("text in image")
    if model.cap("svg", False) or "svg" in (model.cap("output_formats") or []):
        badges.append("SVG")
    return tuple(badges)


def _matches(model: CatalogModel, badges: Iterable[str], words: list[str]) -> bool:
    haystack = " ".join(
        [model.slug, model.display_name, model.description, model.tier, model.get_family_display(), *badges]
    ).lower()
    return all(word in haystack for word in words)


def build_menu(
    *, membership: Membership, query: str = "", keep: str = ""
) -> list[tuple[str, list[MenuEntry]]]:
    """The model menu grouped by tier (standard → ultra), each entry saying why it is blocked, if it is.

    `query` keeps models whose name, description, provider or badges hold every word;
    `keep` (a slug) stays listed whatever the query, so the chosen model is never hidden.
    """
    words = query.lower().split()
    groups: dict[str, list[MenuEntry]] = {tier: [] for tier in TIER_ORDER}
    for model in CatalogModel.objects.menu_order():
        if not model.enabled:
            continue
        badges = model_badges(model)
        if words and model.slug != keep and not _matches(model, badges, words):
            continue
        groups[model.tier].append(
            MenuEntry(
                model=model,
                blocked_reason=model_block_reason(membership=membership, model=model),
                is_demo=route_for(model.family).is_demo,
                badges=badges,
            )
        )
    return [(tier, entries) for tier, entries in groups.items() if entries]


def _usable(menu: list[tuple[str, list[MenuEntry]]]) -> list[CatalogModel]:
    return [e.model for _, entries in menu for e in entries if not e.blocked_reason]


# -- the composer -----------------------------------------------------------------------
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
    parent: Job | None = None
    parent_note: str = ""
    parent_error: str = ""
    edit_image: Image | None = None

    @property
    def reserved_references(self) -> int:
        """Reference slots the parent's image takes when the model continues from it."""
        if self.parent is None or self.model is None:
            return 0
        return 0 if uses_history(parent=self.parent, model=self.model) else 1

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

    ids = [str(i).strip() for i in ([edit_id] if edit_id else []) + list(reference_ids) if str(i).strip()]
    images = _visible_images(user=user, ids=ids)
    state.references = images
    if len(images) < len(set(ids)):
        state.reference_notice = "An image you asked for is not available to you, so it was left out."
    if edit_id and images and str(images[0].pk) == str(edit_id).strip():
        state.edit_image = images[0]

    wanted = str(values.get("model") or "")
    model = CatalogModel.objects.resolve(wanted) if wanted else None
    usable = _usable(full_menu)
    if model is None and state.edit_image is not None:
        model = _edit_model(image=state.edit_image, usable=usable)
    if model is None and state.references:
        model = next((m for m in usable if m.max_references >= len(state.references)), None)
    if model is None or not model.enabled:
        model = usable[0] if usable else None
    state.model = model
    if query:
        state.menu = build_menu(membership=membership, query=query, keep=model.slug if model else "")
    if model is None:
        return state
    state.blocked_reason = model_block_reason(membership=membership, model=model)
    state.is_demo = route_for(model.family).is_demo
    state.badges = model_badges(model)
    state.values["model"] = model.slug

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
        state.dropped.append(f"{count} images (this model makes at most {model.max_count})")
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


def _edit_model(*, image: Image, usable: list[CatalogModel]) -> CatalogModel | None:
    """For "edit this": the image's own model if it edits, else the first that paints masks."""
    own = CatalogModel.objects.resolve(image.model_slug)
    if own is not None and own in usable and own.max_references:
        return own
    with_mask = [m for m in usable if m.cap("mask", False) and m.max_references]
    editing = [m for m in usable if m.max_references]
    return (with_mask or editing or [None])[0]


# -- references -------------------------------------------------------------------------
def _visible_images(*, user: User, ids: Sequence[str]) -> list[Image]:
    """The gallery images among `ids` that `user` may see, in the order asked, each once."""
    wanted: list[int] = []
    for raw in ids:
        try:
            pk = int(str(raw).strip())
        except (TypeError, ValueError):
            continue
        # No row has an id outside a bigint, and the database refuses to compare with one.
        if 0 < pk < 2**63 and pk not in wanted:
            wanted.append(pk)
    if not wanted:
        return []
    found = {image.pk: image for image in Image.objects.visible_to(user).filter(pk__in=wanted)}
    return [found[pk] for pk in wanted if pk in found]


def _image_upload(image: Image) -> Upload:
    if image.mime_type == "image/svg+xml":
        raise ValidationFailed({"references": "An SVG image cannot be a reference: choose a PNG, JPEG or WebP image."})
    return Upload(data=load_image_bytes(image), name=f"gallery-{image.pk}.{image.extension}")


def collect_references(
    *, user: User, image_ids: Sequence[str], uploads: Sequence[Upload], order: str = ""
) -> list[Upload]:
    """Merge gallery references and uploaded files in the order the composer arranged them.

    `order` is a comma list of tokens: "file" takes the next uploaded file, "image:<id>"
    a gallery image. Anything the order leaves out follows: gallery images, then files.
    """
    ids = [str(i).strip() for i in image_ids if str(i).strip()]
    images = _visible_images(user=user, ids=ids)
    if len(images) != len(dict.fromkeys(ids)):
        raise ValidationFailed({"references": "A gallery image you attached is not available to you."})
    by_id = {str(image.pk): image for image in images}
    files = list(uploads)
    result: list[Upload] = []
    used: set[str] = set()
    next_file = 0
    for token in (t.strip() for t in order.split(",")):
        if token == "file" and next_file < len(files):  # noqa: S105 - an order token, not a secret
            result.append(files[next_file])
            next_file += 1
        elif token.startswith("image:") and token[6:] in by_id and token[6:] not in used:
            used.add(token[6:])
            result.append(_image_upload(by_id[token[6:]]))
    result += [_image_upload(image) for key, image in by_id.items() if key not in used]
    result += files[next_file:]
    return result


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
    return [_image_upload(image)]


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


# -- compare ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PriceLine:
    label: str
    count: int
    per_image: int

    @property
    def total(self) -> int:
        return self.count * self.per_image


@dataclass(frozen=True)
class GroupQuote:
    """Several priced lines against one balance (compare, and batch below)."""

    lines: tuple[PriceLine, ...]
    balance: int

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def balance_after(self) -> int:
        return self.balance - self.total

    @property
    def affordable(self) -> bool:
        return self.total <= self.balance


def compare_quote(*, membership: Membership, models: Sequence[str], count: int | str) -> GroupQuote:
    """The price of a compare before submit: one line per recognised model."""
    n = _count(count)
    lines = []
    for slug in models:
        model = CatalogModel.objects.resolve(slug) if slug else None
        if model is not None:
            lines.append(PriceLine(label=model.display_name, count=n, per_image=model.credits_per_image))
    return GroupQuote(lines=tuple(lines), balance=credits.member_balance(membership=membership))


def compare_specs(
    *, membership: Membership, prompt: str, models: Sequence[str], aspect_ratio: str = "", count: int | str = 1
) -> list[JobSpec]:
    """Validate one prompt on up to four models; errors are keyed `model_<n>` (and `prompt`)."""
    chosen = [(index, slug.strip()) for index, slug in enumerate(models) if slug and slug.strip()]
    errors: dict[str, str] = {}
    if len(chosen) < 2:
        errors["models"] = "Choose at least two models to compare."
    if len(chosen) > COMPARE_MAX:
        errors["models"] = f"Compare at most {COMPARE_MAX} models at once."
    seen: dict[str, int] = {}
    specs: list[JobSpec] = []
    for index, slug in chosen[:COMPARE_MAX]:
        model = CatalogModel.objects.resolve(slug)
        if model is not None and model.pk in seen:
            errors[f"model_{index}"] = f"{model.display_name} is already in this comparison."
            continue
        if model is not None:
            seen[model.pk] = index
        try:
            specs.append(
                validate_job(
                    membership=membership,
                    model=slug,
                    prompt=prompt,
                    aspect_ratio=aspect_ratio or None,
                    count=count,
                )
            )
        except ValidationFailed as exc:
            if "prompt" in exc.errors:
                errors["prompt"] = exc.errors.pop("prompt")
            if exc.errors:
                errors[f"model_{index}"] = " ".join(exc.errors.values())
        except StudioError as exc:
            errors[f"model_{index}"] = exc.message
    if errors:
        raise ValidationFailed(errors)
    return specs


# -- batch ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchRow:
    number: int  # as the user counts: the line (or CSV record) it came from
    values: dict[str, str]


def parse_batch(text: str) -> list[BatchRow]:
    """Read one prompt per line, or CSV whose header names a `prompt` column (plus options)."""
    text = (text or "").replace("\r\n", "\n").strip("\n")
    if not text.strip():
        raise ValidationFailed({"prompts": "Paste at least one prompt, one per line, or upload a CSV file."})
    if len(text.encode()) > BATCH_MAX_BYTES:
        raise ValidationFailed({"prompts": "The list is larger than 1 MB: split it into smaller batches."})
    first_line = text.lstrip("\n").split("\n", 1)[0]
    header = [_column(name) for name in next(csv.reader([first_line]))]
    rows: list[BatchRow] = []
    if "prompt" in header:
        unknown = [name for name in header if name and name not in BATCH_COLUMNS]
        if unknown:
            raise ValidationFailed(
                {"prompts": f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                 f"the columns are {', '.join(BATCH_COLUMNS)}."}
            )
        reader = csv.reader(io.StringIO(text.lstrip("\n")))
        next(reader)
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(header):
                raise ValidationFailed(
                    {"prompts": f"Row {reader.line_num} has {len(record)} cells but the header names {len(header)}."}
                )
            values = {name: cell.strip() for name, cell in zip(header, record, strict=False) if name}
            rows.append(BatchRow(number=reader.line_num, values=values))
    else:
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                rows.append(BatchRow(number=number, values={"prompt": line.strip()}))
    if not rows:
        raise ValidationFailed({"prompts": "The CSV has a header but no rows."})
    if len(rows) > BATCH_MAX_ROWS:
        raise ValidationFailed({"prompts": f"A batch holds at most {BATCH_MAX_ROWS} prompts; this one has {len(rows)}."})
    return rows


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True)
class BatchLine:
    row: BatchRow
    prompt: str
    model_name: str
    count: int
    per_image: int
    error: str = ""
    spec: JobSpec | None = None

    @property
    def total(self) -> int:
        return self.count * self.per_image if not self.error else 0


@dataclass(frozen=True)
class BatchPreview(GroupQuote):
    """A batch priced line by line; lines with an error cost nothing and block the submit."""

    lines: tuple[BatchLine, ...]  # type: ignore[assignment]

    @property
    def errors(self) -> int:
        return sum(1 for line in self.lines if line.error)

    @property
    def ready(self) -> bool:
        return not self.errors and self.affordable

    @property
    def specs(self) -> list[JobSpec]:
        return [line.spec for line in self.lines if line.spec is not None]


def preview_batch(*, membership: Membership, rows: Sequence[BatchRow], defaults: Mapping[str, str]) -> BatchPreview:
    """Validate every row (its own options over the form's) and price the whole batch.

    A row naming another model inherits only the form options that model offers; the
    rest fall back to its own defaults. What a row states itself is checked as given.
    """
    lines: list[BatchLine] = []
    for row in rows:
        merged = {name: str(defaults.get(name) or "") for name in BATCH_OPTIONS}
        model = CatalogModel.objects.resolve(row.values.get("model") or merged["model"])
        if model is not None and row.values.get("model"):
            _drop_unoffered(merged, model)
        merged.update({k: v for k, v in row.values.items() if v})
        name = model.display_name if model else merged["model"] or "—"
        per_image = model.credits_per_image if model else 0
        try:
            spec = validate_job(
                membership=membership,
                model=merged["model"],
                prompt=row.values.get("prompt", ""),
                aspect_ratio=merged["aspect_ratio"] or None,
                resolution=merged["resolution"] or None,
                quality=merged["quality"] or None,
                count=merged["count"] or 1,
                seed=merged["seed"] or None,
                negative_prompt=merged["negative_prompt"] or None,
                style=merged["style"] or None,
                output_format=merged["output_format"] or None,
            )
        except StudioError as exc:
            message = " ".join(exc.errors.values()) if isinstance(exc, ValidationFailed) else exc.message
            prompt = row.values.get("prompt", "")
            lines.append(BatchLine(row, prompt, name, _count(merged["count"]), per_image, error=message))
        else:
            lines.append(
                BatchLine(row, spec.prompt, spec.model.display_name, spec.count, spec.model.credits_per_image, spec=spec)
            )
    return BatchPreview(lines=tuple(lines), balance=credits.member_balance(membership=membership))


def _drop_unoffered(options: dict[str, str], model: CatalogModel) -> None:
    offered = {
        "aspect_ratio": model.aspect_ratios,
        "resolution": model.resolutions,
        "quality": model.qualities,
        "style": model.cap("styles") or [],
        "output_format": model.cap("output_formats") or ["png"],
    }
    for name, values in offered.items():
        if options.get(name) and options[name] not in values:
            options[name] = ""
    if options.get("count") and _count(options["count"]) > model.max_count:
        options["count"] = ""


def _count(value: int | str | None) -> int:
    try:
        return max(int(value or 1), 1)
    except (TypeError, ValueError):
        return 1


# -- reading groups and threads ---------------------------------------------------------
@dataclass(frozen=True)
class BatchSummary:
    jobs: tuple[Job, ...]

    @property
    def total(self) -> int:
        return len(self.jobs)

    @property
    def succeeded(self) -> int:
        return sum(1 for job in self.jobs if job.status == JobStatus.SUCCEEDED)

    @property
    def failed(self) -> int:
        return sum(1 for job in self.jobs if job.status in (JobStatus.FAILED, JobStatus.CANCELED))

    @property
    def active(self) -> int:
        return self.total - self.succeeded - self.failed

    @property
    def finished(self) -> bool:
        return self.active == 0

    @property
    def percent(self) -> int:
        if not self.jobs:
            return 100
        return sum(100 if job.is_terminal else job.progress for job in self.jobs) // self.total

    @property
    def held(self) -> int:
        return sum(job.credits_held for job in self.jobs if job.hold_state == "held")

    @property
    def charged(self) -> int:
        return sum(job.credits_charged for job in self.jobs)

    @property
    def is_compare(self) -> bool:
        return len({job.prompt for job in self.jobs}) == 1 and len({job.model_slug for job in self.jobs}) > 1


def batch_summary(*, user: User, batch_id: Any) -> BatchSummary | None:
    jobs = tuple(
        Job.objects.filter(user=user, batch_id=batch_id)
        .select_related("catalog_model")
        .prefetch_related("images")
        .order_by("created_at", "id")
    )
    return BatchSummary(jobs=jobs) if jobs else None


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
