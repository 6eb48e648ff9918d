"""Webhook delivery outcomes are counted for /metrics."""

from __future__ import annotations

import pytest
from django.utils import timezone

from studio.api.models import WebhookDelivery
from studio.api.webhooks.delivery import record_outcome
from studio.api.webhooks.ssrf import Outcome
from studio.models import Job
from tests.ops.test_provider_metrics import sample


@pytest.mark.django_db
def test_webhook_outcomes_are_counted(key_pair, gpt_model, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job_id = api.post("/v2/images/generate", {"model": "gpt-image-test", "prompt": "x"},
                          content_type="application/json").json()["jobId"]
    delivery = WebhookDelivery.objects.create(
        job=Job.objects.get(public_id=job_id), api_key=key_pair[0], url="https://hooks.example.com/h",
        event="progress", event_type="job.progress", webhook_id="msg_m", payload="{}", attempts=1,
    )
    before = {o: sample("studio_webhook_deliveries_total", outcome=o) for o in ("delivered", "retrying", "refused")}
    record_outcome(delivery=delivery, outcome=Outcome(status_code=500, error="answered HTTP 500"), now=timezone.now())
    record_outcome(delivery=delivery, outcome=Outcome(status_code=204), now=timezone.now())
    assert sample("studio_webhook_deliveries_total", outcome="retrying") - before["retrying"] == 1
    assert sample("studio_webhook_deliveries_total", outcome="delivered") - before["delivered"] == 1
    assert sample("studio_webhook_deliveries_total", outcome="refused") - before["refused"] == 0
