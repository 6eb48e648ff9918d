from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from studio.api.models import ApiKey, IdempotencyRecord, JobWebhook, WebhookDelivery


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "team", "created_at", "last_used_at", "revoked_at")
    list_filter = ("team",)
    search_fields = ("name", "prefix", "user__username")
    # The hash is useless to read and the secret is shown to its owner on the keys page.
    exclude = ("key_hash", "webhook_secret")
    readonly_fields = ("prefix", "user", "team", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the API and the keys page, never by hand


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "api_key", "method", "path", "status", "response_status", "created_at", "expires_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in IdempotencyRecord._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the API and the keys page, never by hand


@admin.register(JobWebhook)
class JobWebhookAdmin(admin.ModelAdmin):
    list_display = ("job", "url", "events", "created_at")
    readonly_fields = [f.name for f in JobWebhook._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the API and the keys page, never by hand


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("webhook_id", "event_type", "job", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the API and the keys page, never by hand
