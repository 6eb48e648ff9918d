"""Prometheus metrics, safe with several web and worker processes.

Counters and histograms are written by whichever process sees the event (prometheus
client's multi-process mode: one mmap file per process under PROMETHEUS_MULTIPROC_DIR,
summed at scrape time). Gauges that are facts about the database (queue depth, the oldest
queued job, credits held and spent, live workers) are computed when `/metrics` is scraped,
so they are right however many processes run and need no cleanup when one dies. Jobs
submitted is such a fact too (a count of job rows): the job events begin after submission.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import values

# Files are named by this identifier: containers sharing one folder can reuse a pid.
values.ValueClass = values.MultiProcessValue(lambda: f"{socket.gethostname()}_{os.getpid()}")

from prometheus_client import (  # noqa: E402 - after the value class is chosen
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

logger = logging.getLogger(__name__)

JOB_LABELS = ("family", "model", "tier")
# Seconds: a demo render takes ~1 s, a premium provider minutes, a polled job longer.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

JOBS_SUCCEEDED = Counter("studio_jobs_succeeded", "Jobs that succeeded.", JOB_LABELS)
JOBS_FAILED = Counter("studio_jobs_failed", "Jobs that failed, by error code.", (*JOB_LABELS, "error_code"))
JOBS_CANCELED = Counter("studio_jobs_canceled", "Jobs canceled.", JOB_LABELS)
JOB_RETRIES = Counter("studio_job_retries", "Provider calls retried (attempts beyond the first).", ("family", "model"))
JOB_QUEUE_SECONDS = Histogram(
    "studio_job_queue_seconds", "Submit to start of a job.", ("family", "tier"), buckets=LATENCY_BUCKETS
)
JOB_RUN_SECONDS = Histogram(
    "studio_job_run_seconds", "Start to finish of a job.", ("family", "tier"), buckets=LATENCY_BUCKETS
)
PROVIDER_REQUESTS = Counter("studio_provider_requests", "HTTP calls to providers, by status.", ("family", "status"))
PROVIDER_REQUEST_SECONDS = Histogram(
    "studio_provider_request_seconds", "Provider HTTP call latency (until the answer's headers).",
    ("family",), buckets=LATENCY_BUCKETS,
)
PROVIDER_ERRORS = Counter("studio_provider_errors", "Jobs ended by a provider error, by code.", ("family", "code"))
WEBHOOK_DELIVERIES = Counter("studio_webhook_deliveries", "Webhook delivery attempts, by outcome.", ("outcome",))
HTTP_REQUESTS = Counter("studio_http_requests", "HTTP requests, by route and status.", ("method", "route", "status"))
HTTP_REQUEST_SECONDS = Histogram(
    "studio_http_request_seconds", "HTTP request latency, by route.", ("method", "route"), buckets=HTTP_BUCKETS
)

PROVIDER_CODES = frozenset({"invalid_request", "content_policy", "auth", "rate_limited", "unavailable", "timeout",
                            "upstream_error"})


# -- job events -------------------------------------------------------------------------
def _labels(job: Any) -> dict[str, str]:
    tier = getattr(job.catalog_model, "tier", "") if job.catalog_model_id else ""
    return {"family": job.provider_family or "unknown", "model": job.model_slug, "tier": tier or "unknown"}


def on_job_event(*, job_id: int, event: str, job: Any = None) -> None:
    """Count a job's end and observe its latencies; progress events move nothing."""
    if event not in ("succeeded", "failed", "canceled"):
        return
    from studio.models import Job

    if job is None:
        job = Job.objects.select_related("catalog_model").filter(pk=job_id).first()
    if job is None:
        return
    labels = _labels(job)
    if event == "succeeded":
        JOBS_SUCCEEDED.labels(**labels).inc()
    elif event == "failed":
        code = job.error_code or "unknown"
        JOBS_FAILED.labels(**labels, error_code=code).inc()
        if code in PROVIDER_CODES:
            PROVIDER_ERRORS.labels(family=labels["family"], code=code).inc()
    else:
        JOBS_CANCELED.labels(**labels).inc()
    timing = {"family": labels["family"], "tier": labels["tier"]}
    if job.started_at:
        JOB_QUEUE_SECONDS.labels(**timing).observe(max((job.started_at - job.created_at).total_seconds(), 0))
        if job.finished_at:
            JOB_RUN_SECONDS.labels(**timing).observe(max((job.finished_at - job.started_at).total_seconds(), 0))
    if job.attempts > 1:
        JOB_RETRIES.labels(family=labels["family"], model=labels["model"]).inc(job.attempts - 1)


# -- provider HTTP calls ------------------------------------------------------------------
def _family_for_host() -> dict[str, str]:
    from urllib.parse import urlsplit

    from providers import registry

    hosts: dict[str, str] = {}
    for family in registry.ADAPTERS:
        host = urlsplit(registry.base_url_for(family)).hostname
        if host:
            hosts.setdefault(host, family)
    return hosts


def instrument_provider_client(client: Any) -> None:
    """Time every call on the adapters' shared httpx client through its event hooks."""
    hosts = _family_for_host()

    def on_request(request: Any) -> None:
        request.extensions["studio_started"] = time.perf_counter()

    def on_response(response: Any) -> None:
        request = response.request
        started = request.extensions.get("studio_started")
        family = hosts.get(request.url.host, "other")
        PROVIDER_REQUESTS.labels(family=family, status=str(response.status_code)).inc()
        if started is not None:
            PROVIDER_REQUEST_SECONDS.labels(family=family).observe(time.perf_counter() - started)

    hooks = client.event_hooks
    if on_request.__name__ not in {h.__name__ for h in hooks.get("request", [])}:
        client.event_hooks = {
            "request": [*hooks.get("request", []), on_request],
            "response": [*hooks.get("response", []), on_response],
        }


# -- scrape-time gauges ----------------------------------------------------------------------
class DatabaseCollector(Collector):
    """Jobs submitted, queue depth, the oldest queued job, running jobs, credits held and
    spent, live workers and their slots."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        from django.db import DatabaseError

        try:
            yield from self._collect()
        except DatabaseError:
            logger.warning("metrics: the database could not be read", exc_info=True)

    def _collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        from django.db.models import Count, Min, Sum
        from django.utils import timezone

        from providers.models import Family
        from studio.models import Job, JobStatus, Transfer, TransferKind
        from studio.models.jobs import HoldState
        from studio.ops.heartbeat import alive_workers

        now = timezone.now()
        FAMILIES = [*Family.values, "local"]  # noqa: N806 - a constant of this scrape
        submitted = CounterMetricFamily("studio_jobs_submitted", "Jobs submitted.", labels=list(JOB_LABELS))
        for row in Job.objects.values("provider_family", "model_slug", "catalog_model__tier").annotate(n=Count("id")):
            submitted.add_metric([row["provider_family"], row["model_slug"], row["catalog_model__tier"] or "unknown"],
                                 row["n"])
        yield submitted
        depth = GaugeMetricFamily("studio_queue_depth", "Jobs queued, by provider family.", labels=["family"])
        oldest = GaugeMetricFamily("studio_queue_oldest_age_seconds", "Age of the oldest queued job.")
        running = GaugeMetricFamily("studio_jobs_running", "Jobs running now, by provider family.", labels=["family"])
        # Every family gets a series, 0 included, so an empty queue reads 0 rather than "no data".
        counts = {(JobStatus.QUEUED, f): 0 for f in FAMILIES} | {(JobStatus.RUNNING, f): 0 for f in FAMILIES}
        rows = Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).values("status", "provider_family")
        for row in rows.annotate(n=Count("id")):
            counts[(row["status"], row["provider_family"])] = row["n"]
        for (status, family), n in sorted(counts.items()):
            (depth if status == JobStatus.QUEUED else running).add_metric([family], n)
        first = Job.objects.filter(status=JobStatus.QUEUED).aggregate(first=Min("created_at"))["first"]
        oldest.add_metric([], (now - first).total_seconds() if first else 0.0)
        # The holds and spent accounts cache no balance (studio.services.credits): the open
        # holds are on the jobs, and what was spent is the sum of the charges.
        open_holds = Job.objects.filter(hold_state=HoldState.HELD).aggregate(t=Sum("credits_held"))["t"]
        charged = Transfer.objects.filter(kind=TransferKind.CHARGE).aggregate(t=Sum("amount"))["t"]
        held = GaugeMetricFamily("studio_credits_held", "Credits held by queued and running jobs.")
        held.add_metric([], float(open_holds or 0))
        spent = GaugeMetricFamily("studio_credits_spent", "Credits spent since the studio began.")
        spent.add_metric([], float(charged or 0))
        workers = alive_workers()
        alive = GaugeMetricFamily("studio_workers_alive", "Workers with a fresh heartbeat.")
        alive.add_metric([], len(workers))
        slots = GaugeMetricFamily("studio_worker_slots", "Worker slots, by use.", labels=["state"])
        busy = sum(w.active for w in workers)
        slots.add_metric(["busy"], busy)
        slots.add_metric(["idle"], max(sum(w.slots for w in workers) - busy, 0))
        yield from (depth, oldest, running, held, spent, alive, slots)


def render() -> bytes:
    """Everything every process counted, plus the database gauges, in text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
