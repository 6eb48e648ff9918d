"""The model catalogue: data loaded from `providers/catalog.json`, editable in the admin."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from providers.registry import is_configured

TIER_ORDER = {"standard": 0, "advanced": 1, "premium": 2, "ultra": 3}


class Tier(models.TextChoices):
    STANDARD = "standard", "Standard"
    ADVANCED = "advanced", "Advanced"
    PREMIUM = "premium", "Premium"
    ULTRA = "ultra", "Ultra"


class Family(models.TextChoices):
    OPENAI = "openai", "OpenAI Images"
    GEMINI = "gemini", "Google Gemini"
    IMAGEN = "imagen", "Google Imagen"
    BFL = "bfl", "Black Forest Labs"
    IDEOGRAM = "ideogram", "Ideogram"
    RECRAFT = "recraft", "Recraft"
    LUMA = "luma", "Luma"
    LEONARDO = "leonardo", "Leonardo"
    XAI = "xai", "xAI"
    STABILITY = "stability", "Stability AI"
    REPLICATE = "replicate", "Replicate"
    FAL = "fal", "fal.ai"
    DASHSCOPE = "dashscope", "Alibaba DashScope"
    ARK = "ark", "BytePlus ModelArk"
    AGGREGATOR = "aggregator", "Aggregator"
    AGGREGATOR_OPENAI = "aggregator_openai", "Aggregator (OpenAI-compatible)"


# Fields the catalogue file writes and an admin may edit; an edit is remembered per row
# and per field (`CatalogModel.admin_edited`) so the next sync leaves exactly those alone.
SYNCED_FIELDS = (
    "display_name",
    "family",
    "remote_model",
    "tier",
    "credits_per_image",
    "price_note",
    "description",
    "capabilities",
    "sizes",
    "default_aspect_ratio",
    "default_resolution",
    "timeout_seconds",
    "fixed_options",
    "enabled",
)
RETIRING_WINDOW = datetime.timedelta(days=30)


@dataclass(frozen=True)
class ServedRoute:
    """Where a model's jobs go on a given day, and since when when that is a successor."""

    family: str
    remote_model: str
    options: dict[str, Any]
    since: datetime.date | None = None  # set when a retired upstream's successor serves it


class CatalogModelQuerySet(models.QuerySet["CatalogModel"]):
    def enabled(self) -> CatalogModelQuerySet:
        return self.filter(enabled=True)

    def menu_order(self) -> CatalogModelQuerySet:
        tier_rank = models.Case(
            *(models.When(tier=t, then=models.Value(rank)) for t, rank in TIER_ORDER.items()),
            output_field=models.IntegerField(),
        )
        return self.annotate(tier_rank=tier_rank).order_by("tier_rank", "credits_per_image", "slug")

    def retiring_within(self, window: datetime.timedelta = RETIRING_WINDOW) -> list[CatalogModel]:
        """Entries whose upstream retires from today to `window` ahead (the admin's list)."""
        today = timezone.localdate()
        return [
            m
            for m in self.exclude(lifecycle={})
            if m.retires_on is not None and today <= m.retires_on <= today + window
        ]

    def resolve(self, identifier: str) -> CatalogModel | None:
        """Find a model by its string or one of its aliases (case-insensitive)."""
        key = (identifier or "").strip().lower()
        if not key:
            return None
        found = self.filter(slug__iexact=key).first()
        if found is None:
            found = self.filter(aliases__alias__iexact=key).first()
        return found


class CatalogModel(models.Model):
    """One model as the studio sells it: route, tier, price, capabilities and output sizes.

    `sizes` maps resolution -> aspect ratio -> [width, height]: the exact pixels the
    provider returns. Models without a resolution choice have the single key "default".
    """

    slug = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=120)
    family = models.CharField(max_length=20, choices=Family.choices)
    remote_model = models.CharField(max_length=200)
    tier = models.CharField(max_length=10, choices=Tier.choices)
    credits_per_image = models.PositiveIntegerField()
    price_note = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    capabilities = models.JSONField(default=dict)
    sizes = models.JSONField(default=dict)
    default_aspect_ratio = models.CharField(max_length=10, default="1:1")
    default_resolution = models.CharField(max_length=10, default="default")
    timeout_seconds = models.PositiveIntegerField(default=120)
    # Provider parameters that define this catalogue entry (e.g. {"quality": "low"} for
    # gpt-image-1-mini-low); sent on every call and never chosen by the user.
    fixed_options = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # {"retires_on": "YYYY-MM-DD", "successor": {"family", "remote_model", "options"},
    #  "reason", "source", "retired_route": {"family", "remote_model"}} from the file.
    lifecycle = models.JSONField(default=dict, blank=True)
    # Names of SYNCED_FIELDS an admin changed; sync_catalog leaves these alone until --reset.
    admin_edited = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CatalogModelQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credits_per_image__gt=0), name="catalog_price_positive"
            ),
            models.UniqueConstraint(Lower("slug"), name="catalog_slug_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.slug

    # -- capabilities, read with defaults so a sparse data row still works --------
    def cap(self, name: str, default: Any = None) -> Any:
        return (self.capabilities or {}).get(name, default)

    @property
    def aspect_ratios(self) -> list[str]:
        ratios = self.cap("aspect_ratios")
        if ratios:
            return list(ratios)
        first = next(iter(self.sizes.values()), {})
        return list(first)

    @property
    def resolutions(self) -> list[str]:
        return list(self.sizes) or ["default"]

    @property
    def max_count(self) -> int:
        return int(self.cap("max_count", 1))

    @property
    def max_references(self) -> int:
        return int(self.cap("max_references", 0)) if self.cap("edit", False) else 0

    @property
    def qualities(self) -> list[str]:
        return list(self.cap("qualities", []))

    # -- lifecycle --------------------------------------------------------------------
    @property
    def retires_on(self) -> datetime.date | None:
        value = (self.lifecycle or {}).get("retires_on")
        return datetime.date.fromisoformat(value) if value else None

    def served_route(self, on: datetime.date | None = None) -> ServedRoute:
        """The route jobs take on day `on` (today): the successor's once the upstream retired."""
        day = on or timezone.localdate()
        successor = (self.lifecycle or {}).get("successor")
        retires_on = self.retires_on
        # An admin who re-routed the model by hand keeps their route.
        rerouted = {"family", "remote_model"} & set(self.admin_edited or ())
        if successor and retires_on is not None and day >= retires_on and not rerouted:
            return ServedRoute(
                family=successor["family"],
                remote_model=successor["remote_model"],
                options={**(self.fixed_options or {}), **successor.get("options", {})},
                since=retires_on,
            )
        aggregated = (self.fixed_options or {}).get("aggregator_model")
        # An aggregator, once configured, serves the models it names (seed 002's identifiers).
        if aggregated and not rerouted and is_configured("aggregator"):
            return ServedRoute("aggregator", str(aggregated), dict(self.fixed_options or {}))
        return ServedRoute(self.family, self.remote_model, dict(self.fixed_options or {}))

    def served_by(self, on: datetime.date | None = None) -> str:
        """"served by gpt-image-1 since 12 May 2026", or "" while the model's own upstream serves it."""
        route = self.served_route(on)
        if route.since is None:
            return ""
        return f"served by {route.remote_model} since {route.since.day} {route.since.strftime('%B %Y')}"

    def effective_price(self, *, is_demo: bool) -> int:
        """Credits per image a job pays: nothing for a placeholder drawn by the demo renderer."""
        return 0 if is_demo else self.credits_per_image

    def refusal_for(self, *, options: dict[str, Any], output_format: str) -> dict[str, str]:
        """Field errors for provider options the model cannot honour, read from its capabilities.

        `backgrounds` lists the backgrounds a model offers (gpt-image-2 answers 400 to
        "transparent"); a transparent background also needs an output format with alpha.
        """
        background = options.get("background")
        if background is None:
            return {}
        offered = self.cap("backgrounds")
        if offered is not None and background not in offered:
            return {"background": f"{self.display_name} does not offer a {background} background."}
        if background == "transparent" and output_format in ("jpeg", "jpg"):
            return {"background": "A transparent background needs png or webp output."}
        return {}

    def output_size(self, aspect_ratio: str, resolution: str = "default") -> tuple[int, int] | None:
        table = self.sizes.get(resolution) or (
            self.sizes.get(self.default_resolution) if resolution == "default" else None
        )
        if not table or aspect_ratio not in table:
            return None
        width, height = table[aspect_ratio]
        return int(width), int(height)


class ModelAlias(models.Model):
    """Another identifier for the same model (e.g. nano-banana -> gemini-2.5-flash-image)."""

    alias = models.CharField(max_length=100, unique=True)
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        ordering = ["alias"]
        constraints = [models.UniqueConstraint(Lower("alias"), name="alias_ci_unique")]

    def __str__(self) -> str:
        return f"{self.alias} → {self.model.slug}"


class ProviderStatus(models.Model):
    """Health of one provider family as the workers last saw it (shown in the admin)."""

    family = models.CharField(max_length=20, choices=Family.choices, unique=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # Set when the provider said the account is out of credit; cleared by its next success.
    billing_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "provider statuses"

    def __str__(self) -> str:
        return self.family
