"""/metrics: a token guards it; after jobs through a real worker process the counters and
histograms have moved by exactly the jobs run (the worker's process files are summed)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from studio.models import Job, JobStatus
from studio.services import jobs
from tests.worker import running_worker, wait_until, worker_log

TOKEN = "metrics-test-token"


@pytest.fixture(autouse=True)
def _token(settings) -> None:
    settings.STUDIO_METRICS_TOKEN = TOKEN


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """The sum of every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


@pytest.mark.django_db
def test_metrics_need_the_token(client, settings):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    settings.STUDIO_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_counters_and_histograms_move_by_the_jobs_run_through_a_real_worker(designer, make_model):
    make_model("metric-model", credits_per_image=10, tier="premium")
    client = Client()
    client.force_login(designer.user)
    before = scrape(client)
    labels = {"family": "local", "model": "metric-model", "tier": "premium"}

    # One job canceled before any worker takes it (its run is published after the cancel commits).
    with transaction.atomic():
        spec = jobs.validate_job(membership=designer, model="metric-model", prompt="a")
        jobs.cancel_job(job=jobs.submit_job(membership=designer, spec=spec), user=designer.user)

    with running_worker():
        for prompt in ("a red kite", "a blue kite", "[[fail:content_policy]] a kite"):
            response = client.post(reverse("studio:home"), {"model": "metric-model", "prompt": prompt})
            assert response.status_code in (200, 302)
        assert wait_until(lambda: Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).count() == 0,
                          timeout=90), worker_log()
        # The worker's listener runs after its commit; give its counters a moment to land.
        assert wait_until(lambda: value(scrape(client), "studio_jobs_failed_total", **labels)
                          - value(before, "studio_jobs_failed_total", **labels) == 1, timeout=10), worker_log()
    after = scrape(client)

    def moved(name: str, **extra: str) -> float:
        return value(after, name, **labels, **extra) - value(before, name, **labels, **extra)

    assert moved("studio_jobs_submitted_total") == 4
    assert moved("studio_jobs_succeeded_total") == 2
    assert moved("studio_jobs_failed_total", error_code="content_policy") == 1
    assert moved("studio_jobs_canceled_total") == 1
    timing = {"family": "local", "tier": "premium"}
    for histogram in ("studio_job_queue_seconds", "studio_job_run_seconds"):
        count = value(after, f"{histogram}_count", **timing) - value(before, f"{histogram}_count", **timing)
        assert count == 3, histogram  # the three jobs that started; the canceled one never did
        total = value(after, f"{histogram}_sum", **timing) - value(before, f"{histogram}_sum", **timing)
        assert 0 <= total < 90
        assert value(after, f"{histogram}_bucket", le="+Inf", **timing) - value(
            before, f"{histogram}_bucket", le="+Inf", **timing) == 3
    assert value(after, "studio_provider_errors_total", family="local", code="content_policy") - value(
        before, "studio_provider_errors_total", family="local", code="content_policy") == 1
    # Scrape-time gauges: nothing left queued, 20 credits spent (two one-image jobs at 10).
    assert value(after, "studio_queue_depth") == 0
    assert ("studio_queue_depth", (("family", "local"),)) in after  # an empty queue reads 0, not "no data"
    assert value(after, "studio_queue_oldest_age_seconds") == 0
    assert value(after, "studio_credits_spent") - value(before, "studio_credits_spent") == 20
    assert value(after, "studio_credits_held") == 0
    # The web side's own series: the three form posts, by route.
    posts = value(after, "studio_http_request_seconds_count", method="POST", route="/") - value(
        before, "studio_http_request_seconds_count", method="POST", route="/")
    assert posts == 3
