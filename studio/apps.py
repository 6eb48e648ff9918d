from __future__ import annotations

from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from studio import signals

        user_login_failed.connect(signals.on_login_failed, dispatch_uid="studio.security.login_failed")
        user_locked_out.connect(signals.on_locked_out, dispatch_uid="studio.security.locked_out")
