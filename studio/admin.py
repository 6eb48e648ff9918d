"""Django admin: people and teams are editable; the ledger and jobs are read-only records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from studio.models import Account, Job, JobStatus, Membership, ProviderLimit, Team, Transfer, User
from studio.services.team.credits import pool_balance
from studio.team.admin_actions import top_up_pool


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "monthly_cap", "monthly_refill")
    autocomplete_fields = ("user",)


@admin.register(User)
class StudioUserAdmin(UserAdmin):
    list_display = ("username", "email", "current_team", "is_staff", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("Studio", {"fields": ("current_team",)}))


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "pool", "max_running_per_member", "created_at")
    search_fields = ("name", "slug")
    inlines = (MembershipInline,)
    actions = (top_up_pool,)

    @admin.display(description="Pool")
    def pool(self, obj: Team) -> int:
        return pool_balance(team=obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that only services write: never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "team", "user", "balance")
    list_filter = ("kind",)
    search_fields = ("team__name", "user__username")


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "amount", "debit", "credit", "job", "actor", "memo")
    list_filter = ("kind",)
    list_select_related = ("debit__team", "debit__user", "credit__team", "credit__user", "job", "actor")
    date_hierarchy = "created_at"


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "model_slug", "user", "status", "priority", "progress", "credits_held", "credits_charged", "created_at"
    )
    list_filter = ("status", "provider_family", "priority", "is_demo")
    search_fields = ("prompt", "model_slug", "user__username", "public_id")
    list_select_related = ("user",)


@admin.register(ProviderLimit)
class ProviderLimitAdmin(admin.ModelAdmin):
    """Limits per provider (blank: `STUDIO_PROVIDER_LIMITS`), with what waits and runs there now."""

    list_display = (
        "__str__", "max_concurrent", "per_minute", "waiting", "running", "last_429_at", "paused_until", "rate_factor"
    )
    list_editable = ("max_concurrent", "per_minute")
    fields = ("family", "model_slug", "max_concurrent", "per_minute", "last_429_at", "paused_until", "slowed_until", "rate_factor")
    readonly_fields = ("last_429_at", "paused_until", "slowed_until", "rate_factor")
    search_fields = ("family", "model_slug")

    def _jobs(self, obj: ProviderLimit, status: str) -> int:
        jobs = Job.objects.filter(provider_family=obj.family, status=status)
        return (jobs.filter(model_slug=obj.model_slug) if obj.model_slug else jobs).count()

    @admin.display(description="Waiting")
    def waiting(self, obj: ProviderLimit) -> int:
        return self._jobs(obj, JobStatus.QUEUED)

    @admin.display(description="Running")
    def running(self, obj: ProviderLimit) -> int:
        return self._jobs(obj, JobStatus.RUNNING)
