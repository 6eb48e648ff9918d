"""Compare: one prompt on up to four models, priced together against one balance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from providers.models import CatalogModel
from studio.models import Membership
from studio.services import credits
from studio.services.errors import InsufficientCredits, StudioError, ValidationFailed
from studio.services.jobs import JobSpec, validate_job
from studio.services.jobs.spec import AgainstBalance, line_price

COMPARE_MAX = 4


@dataclass(frozen=True)
class PriceLine:
    label: str
    count: int
    per_image: int

    @property
    def total(self) -> int:
        return line_price(per_image=self.per_image, count=self.count)


@dataclass(frozen=True)
class GroupQuote(AgainstBalance):
    """Several priced lines against one balance (compare, and batch)."""

    lines: tuple[PriceLine, ...]
    balance: int

    @property
    def total(self) -> int:  # type: ignore[override]
        return sum(line.total for line in self.lines)


def compare_quote(*, membership: Membership, models: Sequence[str], count: int | str) -> GroupQuote:
    """The price of a compare before submit: one line per recognised model."""
    n = count_of(count)
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
    quote = GroupQuote(
        lines=tuple(
            PriceLine(label=spec.model.display_name, count=spec.count, per_image=spec.model.credits_per_image)
            for spec in specs
        ),
        balance=credits.member_balance(membership=membership),
    )
    if not quote.affordable:
        # Said before anything is held, in the numbers the page shows (submitting checks again).
        raise InsufficientCredits(
            f"Not enough credits: this comparison needs {quote.total:,} and your balance is {quote.balance:,} "
            f"({quote.shortfall:,} short)."
        )
    return specs


def count_of(value: int | str | None) -> int:
    try:
        return max(int(value or 1), 1)
    except (TypeError, ValueError):
        return 1
