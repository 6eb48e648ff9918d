"""`manage.py simulate_day` plays a day on the demo team and prints a report that reconciles."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from studio.celery import app as celery_app
from studio.models import AuditAction, AuditEvent, Job, JobStatus, Team, TransferKind
from studio.services import credits, reports

pytestmark = pytest.mark.django_db


def test_simulated_day_runs_jobs_locally_and_the_report_reconciles(settings):
    settings.STUDIO_DATA_DIR = settings.MEDIA_ROOT.parent  # setup_demo keeps its passwords there
    call_command("sync_catalog", stdout=StringIO())
    call_command("setup_demo", stdout=StringIO())
    borrowed = (settings.STUDIO_DEMO_RENDER, settings.STUDIO_DEMO_DELAY, celery_app.conf.task_always_eager)
    out = StringIO()
    call_command("simulate_day", "--team", "demo", stdout=out)
    text = out.getvalue()
    # The command renders locally and eagerly, then gives the settings back.
    assert (settings.STUDIO_DEMO_RENDER, settings.STUDIO_DEMO_DELAY, celery_app.conf.task_always_eager) == borrowed

    team = Team.objects.get(slug="demo")
    assert Job.objects.filter(team=team, status=JobStatus.SUCCEEDED).count() == 9
    assert Job.objects.filter(team=team, status=JobStatus.FAILED).count() == 2
    assert not Job.objects.filter(status__in=["queued", "running"]).exists()
    assert "Jobs today: 9 succeeded, 2 failed (refunded), 3 refused at submit" in text
    assert "This would pass your monthly cap of 150 credits" in text
    assert "Blocked by your team: the ultra tier is not allowed." in text
    assert "does not allow generating images" in text
    report = reports.spend_report(team=team, days=30)
    assert report.reconciles and f"total spent: {report.total:,} credits" in text
    charged = sum(t.amount for t in credits.team_account(team=team, kind="holds").debits.filter(kind=TransferKind.CHARGE))
    assert report.total == charged == 332
    assert "reconciles with every breakdown: yes" in text and "ledger balanced" in text and ": NO" not in text
    assert AuditEvent.objects.filter(team=team, action=AuditAction.REVOKED).exists()
    assert credits.ledger_is_balanced()


def test_simulate_day_needs_the_team():
    with pytest.raises(CommandError, match="setup_demo"):
        call_command("simulate_day", "--team", "nope")

