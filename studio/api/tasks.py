"""Celery tasks for the API: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="studio.api.tasks.deliver_webhook", acks_late=True)
def deliver_webhook_task(delivery_id: int) -> None:
    from studio.api.webhooks import deliver_webhook, enqueue_delivery

    delay = deliver_webhook(delivery_id=delivery_id)
    if delay is not None:
        enqueue_delivery(delivery_id=delivery_id, countdown=delay)


@shared_task(name="studio.api.tasks.retry_stalled_webhooks")
def retry_stalled_webhooks_task() -> None:
    from studio.api.webhooks import retry_stalled_deliveries

    retry_stalled_deliveries()


@shared_task(name="studio.api.tasks.purge_idempotency_records")
def purge_idempotency_records_task() -> None:
    from studio.api.idempotency import purge_expired

    purge_expired()
