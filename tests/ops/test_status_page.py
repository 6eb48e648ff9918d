"""The staff status page: workers and their slots, queue, provider health, stuck and
retrying jobs, the ledger check, storage; refused to everyone else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from providers.models import ProviderStatus
from studio.models import Job, JobStatus, User
from studio.ops.models import WorkerHeartbeat
from studio.services import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    staff = User.objects.create_user(username="ops", password="pw-123-secret", is_staff=True)
    client = Client()
    client.force_login(staff)
    return client


def test_only_staff_see_the_status_page(designer_client, client):
    assert designer_client.get("/admin/status/").status_code == 302  # to the admin's sign-in
    assert client.get("/admin/status/").status_code == 302


def test_the_page_shows_workers_queue_providers_stuck_jobs_and_the_ledger(staff_client, designer, ai_model,
                                                                          django_capture_on_commit_callbacks):
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="celery@alive", pid=10, slots=64, active=5, started_at=now, last_seen_at=now)
    WorkerHeartbeat.objects.create(hostname="celery@gone", pid=11, slots=8, active=0, started_at=now,
                                   last_seen_at=now - timedelta(minutes=10))
    ProviderStatus.objects.create(family="openai", last_success_at=now, last_error_at=now, last_error="rate_limited (HTTP 429): slow down")
    with django_capture_on_commit_callbacks():  # left queued: no worker here
        for prompt in ("one", "two"):
            jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt=prompt))
    stuck, retrying = Job.objects.order_by("pk")
    Job.objects.filter(pk=stuck.pk).update(created_at=now - timedelta(minutes=30))
    Job.objects.filter(pk=retrying.pk).update(attempts=1, error_code="rate_limited", next_attempt_at=now + timedelta(seconds=30))

    page = staff_client.get("/admin/status/").content.decode()
    assert "celery@alive" in page and "5 / 64" in page and "alive" in page
    assert "celery@gone" in page and "silent" in page
    assert "rate_limited (HTTP 429): slow down" in page
    assert "<td>local</td><td>2</td>" in page  # queue depth by family
    assert "balanced" in page and "NOT balanced" not in page
    assert "stuck queued" in page and "retrying" in page
    assert f"<td>{stuck.pk}</td>" in page and f"<td>{retrying.pk}</td>" in page
    assert page.count("<td>up</td>") == 3  # database, broker, storage
    # The HTMX refresh gets the fragment only, from the same URL.
    fragment = staff_client.get("/admin/status/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="status-body"') and "<html" not in fragment
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2
