"""`manage.py verify_restore [--checksums]`: exit 1 unless the restored data is whole."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from studio.ops.backup import verify_restore


class Command(BaseCommand):
    help = "Check a restored backup: the ledger is balanced and every image row's file is present."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--checksums", action="store_true", help="Also compare each file's sha256 with its row.")

    def handle(self, *args: Any, checksums: bool = False, **options: Any) -> None:
        report = verify_restore(checksums=checksums)
        self.stdout.write(f"ledger balanced: {'yes' if report.ledger_balanced else 'NO'}")
        self.stdout.write(f"image rows: {report.images}; files missing: {len(report.missing)}"
                          + (f"; checksum mismatches: {len(report.corrupt)}" if checksums else ""))
        for name in report.missing[:20]:
            self.stdout.write(f"  missing: {name}")
        for name in report.corrupt[:20]:
            self.stdout.write(f"  corrupt: {name}")
        if not report.ok:
            raise CommandError("The restore is not whole; see above.")
        self.stdout.write(self.style.SUCCESS("The restore is whole."))
