from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "studio.ops"
    label = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery import signals
        from django.db.models.signals import post_save

        from providers.registry import shared_http_client
        from studio.models import Job
        from studio.ops import heartbeat, job_log, metrics, worker_signals
        from studio.services import events

        events.subscribe(metrics.on_job_event)
        events.subscribe(job_log.on_job_event)
        post_save.connect(job_log.on_job_saved, sender=Job, dispatch_uid="ops-job-submitted")
        metrics.instrument_provider_client(shared_http_client())
        signals.before_task_publish.connect(worker_signals.add_request_id, dispatch_uid="ops-request-id", weak=False)
        signals.task_prerun.connect(worker_signals.bind_task_context, dispatch_uid="ops-task-context", weak=False)
        signals.task_postrun.connect(worker_signals.unbind_task_context, dispatch_uid="ops-task-context", weak=False)
        signals.worker_ready.connect(heartbeat.on_worker_ready, dispatch_uid="ops-heartbeat", weak=False)
        signals.worker_shutdown.connect(heartbeat.on_worker_shutdown, dispatch_uid="ops-heartbeat", weak=False)
