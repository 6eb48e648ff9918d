"""What the staff status page shows, read in one place (a selector: no writes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from providers.models import ProviderStatus
from studio.models import Job, JobStatus
from studio.ops import health
from studio.ops.heartbeat import stale_after
from studio.ops.metrics import PROVIDER_CODES
from studio.ops.models import WorkerHeartbeat

# A running job untouched this long, or a queued one due this long ago, is stuck.
STUCK_RUNNING = timedelta(minutes=15)
STUCK_QUEUED = timedelta(minutes=5)


def status_context() -> dict[str, Any]:
    from studio.services.credits import ledger_is_balanced

    now = timezone.now()
    fresh = now - stale_after()
    workers = list(WorkerHeartbeat.objects.all())
    queue = list(
        Job.objects.filter(status=JobStatus.QUEUED)
        .values("provider_family")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by("provider_family")
    )
    stuck = (
        Job.objects.filter(
            Q(status=JobStatus.RUNNING, updated_at__lt=now - STUCK_RUNNING)
            | Q(status=JobStatus.QUEUED, created_at__lt=now - STUCK_QUEUED, next_attempt_at__isnull=True)
            | Q(status=JobStatus.QUEUED, next_attempt_at__lt=now - STUCK_QUEUED)
        )
        .select_related("team")
        .order_by("created_at")[:50]
    )
    retrying = (
        Job.objects.filter(status=JobStatus.QUEUED, attempts__gte=1)
        .select_related("team")
        .order_by("next_attempt_at")[:50]
    )
    return {
        "now": now,
        "workers": [{"row": w, "alive": w.last_seen_at >= fresh} for w in workers],
        "queue": [{**row, "age": now - row["oldest"]} for row in queue],
        "providers": provider_health(now=now),
        "stuck": list(stuck),
        "retrying": list(retrying),
        "ledger_balanced": ledger_is_balanced(),
        "checks": [health.check_database(), health.check_broker(), health.check_storage()],
    }


def provider_health(*, now: Any) -> list[dict[str, Any]]:
    """Per family: last success and error (from the workers' records), and the share of
    jobs that ended in the last hour with a provider error."""
    hour = now - timedelta(hours=1)
    ended = (
        Job.objects.filter(finished_at__gte=hour)
        .values("provider_family")
        .annotate(total=Count("id"), errors=Count("id", filter=Q(status=JobStatus.FAILED,
                                                               error_code__in=PROVIDER_CODES - {"content_policy"})))
    )
    rates = {row["provider_family"]: row for row in ended}
    statuses = {s.family: s for s in ProviderStatus.objects.all()}
    rows = []
    for family in sorted(set(rates) | set(statuses)):
        rate = rates.get(family, {"total": 0, "errors": 0})
        status = statuses.get(family)
        rows.append({
            "family": family,
            "last_success_at": status.last_success_at if status else None,
            "last_error_at": status.last_error_at if status else None,
            "last_error": status.last_error if status else "",
            "jobs_last_hour": rate["total"],
            "error_rate": rate["errors"] / rate["total"] if rate["total"] else None,
        })
    return rows
