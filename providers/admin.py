"""Admin for the catalogue (re-price, enable, re-route) and provider health."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone

from providers.models import RETIRING_WINDOW, SYNCED_FIELDS, CatalogModel, ModelAlias, ProviderStatus
from providers.registry import is_configured
from providers.status import billing_problems


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 0


class LifecycleFilter(admin.SimpleListFilter):
    title = "lifecycle"
    parameter_name = "lifecycle"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("retiring", f"Retiring within {RETIRING_WINDOW.days} days"), ("served", "Served by a successor")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CatalogModel]) -> QuerySet[CatalogModel]:
        if self.value() == "retiring":
            return queryset.filter(pk__in=[m.pk for m in queryset.retiring_within()])
        if self.value() == "served":
            today = timezone.localdate()
            return queryset.filter(pk__in=[m.pk for m in queryset.exclude(lifecycle={}) if m.served_route(today).since])
        return queryset


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = (
        "slug",
        "display_name",
        "tier",
        "credits_per_image",
        "family",
        "remote_model",
        "enabled",
        "configured",
        "lifecycle_note",
    )
    list_editable = ("credits_per_image", "enabled")
    list_filter = ("tier", "family", "enabled", LifecycleFilter)
    search_fields = ("slug", "display_name", "aliases__alias")
    readonly_fields = ("updated_at", "lifecycle", "admin_edited")
    inlines = (ModelAliasInline,)
    fieldsets = (
        (None, {"fields": ("slug", "display_name", "tier", "credits_per_image", "enabled")}),
        ("Route", {"fields": ("family", "remote_model", "fixed_options", "timeout_seconds")}),
        ("What it can do", {"fields": ("capabilities", "sizes", "default_aspect_ratio", "default_resolution")}),
        ("Notes", {"fields": ("price_note", "description", "updated_at")}),
        ("From the catalogue file", {"fields": ("lifecycle", "admin_edited")}),
    )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        retiring = CatalogModel.objects.retiring_within()
        if retiring:
            names = ", ".join(f"{m.slug} ({m.retires_on:%d %b})" for m in retiring)
            self.message_user(request, f"Retiring within {RETIRING_WINDOW.days} days: {names}.", level="warning")
        for problem in billing_problems():
            self.message_user(request, problem, level="error")
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: CatalogModel, form: ModelForm, change: bool) -> None:
        # Remember which file fields an admin changed, so sync_catalog leaves just those alone.
        # Compared with the stored row, not form.changed_data: a JSON field re-posted as text
        # can read as changed when its value is not.
        stored = CatalogModel.objects.filter(pk=obj.pk).values(*SYNCED_FIELDS).first() if change else None
        edited = [name for name in SYNCED_FIELDS if stored is not None and stored[name] != getattr(obj, name)]
        if edited:
            obj.admin_edited = sorted({*(obj.admin_edited or ()), *edited})
        super().save_model(request, obj, form, change)

    @admin.display(description="lifecycle")
    def lifecycle_note(self, obj: CatalogModel) -> str:
        served = obj.served_by()
        if served:
            return served
        retires_on: datetime.date | None = obj.retires_on
        return f"retires {retires_on:%d %b %Y}" if retires_on else ""

    @admin.display(boolean=True, description="key set")
    def configured(self, obj: CatalogModel) -> bool:
        # Without a key the model is served by the local demo renderer (or hidden).
        return is_configured(obj.family)


@admin.register(ProviderStatus)
class ProviderStatusAdmin(admin.ModelAdmin):
    """Written by the workers; the admin only reads it."""

    list_display = ("family", "configured", "out_of_credit", "last_success_at", "last_error_at", "last_error")
    list_filter = ("family",)
    readonly_fields = ("family", "last_success_at", "last_error_at", "last_error", "billing_error_at")

    @admin.display(description="billing")
    def out_of_credit(self, obj: ProviderStatus) -> str:
        return f"out of credit since {obj.billing_error_at:%d %b %H:%M}" if obj.billing_error_at else ""

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        for problem in billing_problems():
            self.message_user(request, problem, level="error")
        return super().changelist_view(request, extra_context)

    @admin.display(boolean=True, description="key set")
    def configured(self, obj: ProviderStatus) -> bool:
        return is_configured(obj.family)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ProviderStatus | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ProviderStatus | None = None) -> bool:
        return False
