from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "studio.api"
    label = "api"
    verbose_name = "HTTP API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from studio.api.webhooks import notify_job_event
        from studio.services import events

        # The job layer announces events; the API turns them into webhooks.
        events.subscribe(notify_job_event)
