from __future__ import annotations

from django.contrib import admin

from gallery.models import Board, BoardItem, Favourite, Image, ShareLink


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "team", "model_slug", "tier", "visibility", "created_at", "deleted_at")
    list_filter = ("visibility", "tier", "provider", "is_demo")
    search_fields = ("prompt", "sha256", "owner__username")
    raw_id_fields = ("job", "owner", "team")
    readonly_fields = ("file", "thumbnail", "sha256", "byte_size", "width", "height", "mime_type", "created_at")
    exclude = ("search_vector",)
    list_select_related = ("owner", "team")


class BoardItemInline(admin.TabularInline):
    model = BoardItem
    raw_id_fields = ("image",)
    extra = 0


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "team", "visibility", "updated_at")
    raw_id_fields = ("owner", "team")
    inlines = [BoardItemInline]


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("id", "image", "created_by", "created_at", "expires_at", "revoked_at")
    raw_id_fields = ("image", "created_by")
    readonly_fields = ("token",)


@admin.register(Favourite)
class FavouriteAdmin(admin.ModelAdmin):
    list_display = ("user", "image", "created_at")
    raw_id_fields = ("user", "image")
