from __future__ import annotations

from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed
        from django.db.models.signals import post_delete, post_save

        from providers.models import CatalogModel, ModelAlias
        from providers.signals import catalog_synced
        from studio import signals
        from studio.api.models import ApiKey
        from studio.models import Membership, ModelAccessRule, Team, User
        from studio.services import config_cache

        # The rows behind config_cache: the catalogue, and what an API call resolves its key
        # to (key, membership, team, user) and checks it against (the team's access rules).
        for model in (CatalogModel, ModelAlias, ApiKey, Membership, Team, User, ModelAccessRule):
            post_save.connect(config_cache.on_change, sender=model, dispatch_uid=f"studio.config_cache.save.{model.__name__}")
            post_delete.connect(config_cache.on_change, sender=model, dispatch_uid=f"studio.config_cache.del.{model.__name__}")
        catalog_synced.connect(config_cache.on_change, dispatch_uid="studio.config_cache.catalog_synced")

        user_login_failed.connect(signals.on_login_failed, dispatch_uid="studio.security.login_failed")
        user_locked_out.connect(signals.on_locked_out, dispatch_uid="studio.security.locked_out")
