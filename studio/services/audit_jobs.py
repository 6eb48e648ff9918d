"""The operator's check of money and images: what `manage.py studio_audit` prints.

Everything here reads; nothing repairs. The load suite runs it after every scenario.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Count, F, Q

from gallery.models import Image
from studio.models import Job, JobStatus, Transfer, TransferKind
from studio.models.jobs import TERMINAL_STATUSES, HoldState
from studio.services import credits


def _storage_files(prefix: str) -> set[str]:
    names: set[str] = set()
    try:
        folders, _ = default_storage.listdir(prefix)
    except FileNotFoundError:
        return names
    for folder in folders:
        _, files = default_storage.listdir(f"{prefix}/{folder}")
        names.update(f"{prefix}/{folder}/{name}" for name in files)
    return names


def audit(*, with_files: bool = True) -> dict[str, Any]:
    """The ledger's invariants, job states, and images against their files."""
    by_status = dict(Job.objects.values_list("status").annotate(n=Count("pk")).order_by())
    report: dict[str, Any] = {
        "ledger_problems": credits.ledger_problems(),
        "jobs": {status: int(by_status.get(status, 0)) for status in JobStatus.values},
        "terminal_jobs_still_holding": Job.objects.filter(status__in=TERMINAL_STATUSES, hold_state=HoldState.HELD).count(),
        "jobs_charged_more_than_once": Transfer.objects.filter(kind=TransferKind.CHARGE, job__isnull=False)
        .values("job")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count(),
        # Charged for N images means N image rows: no duplicate rows, no charge without an image.
        "jobs_whose_images_do_not_match_the_charge": Job.objects.filter(status=JobStatus.SUCCEEDED, credits_per_image__gt=0)
        .annotate(n=Count("images"))
        .exclude(credits_charged=F("n") * F("credits_per_image"))
        .count(),
        "failed_jobs_with_images": Job.objects.filter(~Q(status=JobStatus.SUCCEEDED), images__isnull=False).distinct().count(),
    }
    if with_files:
        on_disk = _storage_files("images")
        referenced = set(Image.objects.values_list("file", flat=True))
        report["orphan_files"] = sorted(on_disk - referenced)[:50]
        report["orphan_file_count"] = len(on_disk - referenced)
        report["missing_file_count"] = len(referenced - on_disk)
    return report


def audit_failures(report: dict[str, Any]) -> list[str]:
    """What in an audit report is wrong (empty when all is well)."""
    failures = list(report["ledger_problems"])
    for key in (
        "terminal_jobs_still_holding",
        "jobs_charged_more_than_once",
        "jobs_whose_images_do_not_match_the_charge",
        "failed_jobs_with_images",
        "orphan_file_count",
        "missing_file_count",
    ):
        if report.get(key):
            failures.append(f"{key}: {report[key]}")
    return failures
