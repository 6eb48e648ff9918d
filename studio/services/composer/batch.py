"""Batch: a list or CSV of prompts, validated and priced row by row, and its progress read back."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from providers.models import CatalogModel
from studio.models import Job, JobStatus, Membership, User
from studio.services import credits
from studio.services.composer.compare import GroupQuote, count_of
from studio.services.errors import StudioError, ValidationFailed
from studio.services.jobs import JobSpec, validate_job
from studio.services.jobs.spec import line_price

BATCH_MAX_ROWS = 100
BATCH_MAX_BYTES = 1024 * 1024
BATCH_COLUMNS = (
    "prompt",
    "model",
    "aspect_ratio",
    "resolution",
    "quality",
    "count",
    "seed",
    "negative_prompt",
    "style",
    "output_format",
)
# Options a batch row may override; the prompt is the row itself.
BATCH_OPTIONS = BATCH_COLUMNS[1:]


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
                {
                    "prompts": f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                    f"the columns are {', '.join(BATCH_COLUMNS)}."
                }
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
        raise ValidationFailed(
            {"prompts": f"A batch holds at most {BATCH_MAX_ROWS} prompts; this one has {len(rows)}."}
        )
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
        return line_price(per_image=self.per_image, count=self.count) if not self.error else 0


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
            lines.append(BatchLine(row, prompt, name, count_of(merged["count"]), per_image, error=message))
        else:
            lines.append(
                BatchLine(
                    row, spec.prompt, spec.model.display_name, spec.count, spec.model.credits_per_image, spec=spec
                )
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
    if options.get("count") and count_of(options["count"]) > model.max_count:
        options["count"] = ""


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
