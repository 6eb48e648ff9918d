"""End to end through a real Celery worker process: the studio form to the gallery and the ledger.

Runs on the embedded broker (filesystem) by default, and over Redis when REDIS_URL is set.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from gallery.models import Image
from studio.models import Job, JobStatus, TransferKind
from studio.services import credits
from tests.worker import running_worker, wait_until, worker_log

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_broker_matches_the_configuration():
    if settings.REDIS_URL:
        assert settings.CELERY_BROKER_URL.startswith("redis://")
    else:
        assert settings.CELERY_BROKER_URL == "filesystem://"


def test_studio_form_to_gallery_through_a_real_worker(designer, make_model):
    make_model("wide-model", credits_per_image=25)
    client = Client()
    client.force_login(designer.user)
    with running_worker():
        started = time.monotonic()
        response = client.post(
            reverse("studio:home"),
            {"model": "wide-model", "prompt": "a harbour at dawn, oil painting", "aspect_ratio": "16:9", "count": "2"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        job = Job.objects.get()
        assert credits.member_balance(membership=designer) == 1000 - 50  # held at submit
        finished = wait_until(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout=90)
        elapsed = time.monotonic() - started
        assert finished, f"job did not finish; worker log:\n{worker_log()}"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message, worker_log())
    print(f"\nsubmit -> succeeded through the worker: {elapsed:.2f} s")
    images = list(Image.objects.filter(job=job).order_by("index"))
    assert [(i.width, i.height) for i in images] == [(1344, 768)] * 2
    gallery = client.get(reverse("gallery:mine")).content.decode()
    assert all(reverse("gallery:detail", args=[i.pk]) in gallery for i in images)
    assert credits.member_balance(membership=designer) == 950
    assert job.transfers.get(kind=TransferKind.CHARGE).amount == 50
    assert credits.ledger_is_balanced()


def test_failure_through_the_worker_refunds_exactly_once(designer, ai_model):
    client = Client()
    client.force_login(designer.user)
    with running_worker():
        client.post(reverse("studio:home"), {"model": "test-model", "prompt": "[[fail:content_policy]] a cat"})
        job = Job.objects.get()
        assert wait_until(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout=90), worker_log()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "content_policy"
    assert job.transfers.filter(kind=TransferKind.RELEASE).count() == 1
    assert credits.member_balance(membership=designer) == 1000


def test_the_same_task_delivered_twice_runs_once(designer, ai_model):
    """C4: a second delivery of a job's task: one provider call, one charge, one gallery item."""
    from studio.services import jobs
    from studio.tasks import run_job_task

    with running_worker():
        # submit_job publishes the task on commit; publish it once more at once.
        job = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="twice"))
        run_job_task.delay(job.pk)
        assert wait_until(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout=90), worker_log()
        time.sleep(1.0)  # let the second delivery run to its no-op
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1
    assert Image.objects.filter(job=job).count() == 1
    assert job.transfers.filter(kind=TransferKind.CHARGE).count() == 1


def test_the_worker_keeps_its_database_connections_from_task_to_task(designer, ai_model):
    """Celery's Django fixup would open a connection per task; CONN_MAX_AGE keeps them instead."""
    from django.db import connection

    from studio.services import jobs

    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions")

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            return int(cursor.fetchone()[0])

    with running_worker(concurrency=2):
        warm = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="warm"))
        assert wait_until(lambda: Job.objects.get(pk=warm.pk).is_terminal, timeout=90), worker_log()
        time.sleep(1.5)  # its thumbnail; the server's counters catch up
        before = sessions()
        ids = []
        for i in range(8):  # one after another: a run task and a thumbnail task each
            spec = jobs.validate_job(membership=designer, model="test-model", prompt=f"one of eight {i}")
            ids.append(jobs.submit_job(membership=designer, spec=spec).pk)
            assert wait_until(lambda: Job.objects.get(pk=ids[-1]).is_terminal, timeout=90), worker_log()
        time.sleep(1.5)
        opened = sessions() - before
    assert Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 8
    # 16 tasks; a connection per task would open 16 or more. The few allowed: the worker's
    # idle threads, and this test's own reads of the counter.
    assert opened <= 4, opened
