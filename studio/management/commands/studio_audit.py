"""`manage.py studio_audit [--json] [--no-files]`: check the ledger, the jobs and the image files."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from studio.services.audit_jobs import audit, audit_failures


class Command(BaseCommand):
    help = "Check the credit ledger's invariants, job holds and image files; exit 1 on any problem."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
        parser.add_argument("--no-files", action="store_true", help="skip listing the storage (large buckets)")

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit(with_files=not options["no_files"])
        failures = audit_failures(report)
        if options["json"]:
            self.stdout.write(json.dumps(report, sort_keys=True))
        else:
            self.stdout.write(f"jobs: {report['jobs']}")
            for line in failures:
                self.stdout.write(f"PROBLEM {line}")
        if failures:
            raise CommandError(f"{len(failures)} problem(s) found")
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS("ledger balanced; every hold settled once; images match their files"))
