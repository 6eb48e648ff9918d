"""Checking a restored backup: the ledger sums to zero and every image row has its file.

Run after restoring a PostgreSQL dump and the media (folder or bucket), before letting
traffic in: `python manage.py verify_restore` (README, "Backups").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.core.files.storage import default_storage


@dataclass
class RestoreReport:
    ledger_balanced: bool
    images: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ledger_balanced and not self.missing and not self.corrupt


def _sha256(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_restore(*, checksums: bool = False) -> RestoreReport:
    """Every image row, live or soft-deleted (both keep their file), is checked once per file."""
    from gallery.models import Image
    from studio.services.credits import ledger_is_balanced

    report = RestoreReport(ledger_balanced=ledger_is_balanced())
    seen: set[str] = set()
    for name, sha in Image.objects.order_by("pk").values_list("file", "sha256").iterator(chunk_size=2000):
        report.images += 1
        if name in seen:
            continue
        seen.add(name)
        if not name or not default_storage.exists(name):
            report.missing.append(name or "(empty name)")
        elif checksums and _sha256(name) != sha:
            report.corrupt.append(name)
    return report
