"""Admin for the catalogue (re-price, enable, re-route) and provider health."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from providers.models import CatalogModel, ModelAlias, ProviderStatus
from providers.registry import is_configured


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 0


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
    )
    list_editable = ("credits_per_image", "enabled")
    list_filter = ("tier", "family", "enabled")
    search_fields = ("slug", "display_name", "aliases__alias")
    readonly_fields = ("updated_at",)
    inlines = (ModelAliasInline,)
    fieldsets = (
        (None, {"fields": ("slug", "display_name", "tier", "credits_per_image", "enabled")}),
        ("Route", {"fields": ("family", "remote_model", "fixed_options", "timeout_seconds")}),
        ("What it can do", {"fields": ("capabilities", "sizes", "default_aspect_ratio", "default_resolution")}),
        ("Notes", {"fields": ("price_note", "description", "updated_at")}),
    )

    @admin.display(boolean=True, description="key set")
    def configured(self, obj: CatalogModel) -> bool:
        # Without a key the model is served by the local demo renderer (or hidden).
        return is_configured(obj.family)


@admin.register(ProviderStatus)
class ProviderStatusAdmin(admin.ModelAdmin):
    """Written by the workers; the admin only reads it."""

    list_display = ("family", "configured", "last_success_at", "last_error_at", "last_error")
    list_filter = ("family",)
    readonly_fields = ("family", "last_success_at", "last_error_at", "last_error")

    @admin.display(boolean=True, description="key set")
    def configured(self, obj: ProviderStatus) -> bool:
        return is_configured(obj.family)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ProviderStatus | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ProviderStatus | None = None) -> bool:
        return False
