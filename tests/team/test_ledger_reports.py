"""Ledger view (filters, pages, streamed CSV) and spend reports that reconcile with the ledger."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from studio.models import AccountKind, Job, JobStatus, Transfer, TransferKind
from studio.services import credits, reports
from studio.services import team as team_services
from studio.team import charts

pytestmark = pytest.mark.django_db


def run_job(membership, model, *, count: int = 1, delivered: int | None = None, fail: bool = False) -> Job:
    """A job through the ledger's real hold and settle, without rendering images."""
    with transaction.atomic():
        job = Job.objects.create(
            team=membership.team, user=membership.user, catalog_model=model, model_slug=model.slug,
            prompt="report", count=count, credits_per_image=model.credits_per_image,
            credits_held=model.credits_per_image * count, provider_family="local",
        )
        credits.hold_credits(job=job)
    if fail:
        Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, finished_at=timezone.now())
        return credits.release_job_credits(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    return credits.settle_job_credits(job_id=job.pk, delivered=count if delivered is None else delivered)


@pytest.fixture
def busy_team(team, owner, designer, admin_member, make_member, make_model):
    """A day of varied use: three tiers, three members, a failure and a partial delivery."""
    cheap = make_model("cheap", tier="standard", credits_per_image=2)
    mid = make_model("mid", tier="advanced", credits_per_image=20)
    top = make_model("top", tier="ultra", credits_per_image=120)
    ana = make_member("ana", balance=2000)
    run_job(designer, cheap, count=4)
    run_job(designer, mid, count=2)
    run_job(ana, top)
    run_job(ana, mid, count=3, delivered=2)  # one image refused: 20 returned
    run_job(ana, mid, fail=True)  # failed: all returned
    run_job(admin_member, cheap, count=1)
    team_services.grant(actor=owner, target=ana, amount=100, memo="=HYPERLINK(\"http://evil\")")
    team_services.revoke(actor=owner, target=designer, amount=10, memo="tidy")
    return {"designer": designer, "ana": ana, "admin": admin_member, "cheap": cheap, "mid": mid, "top": top}


# -- reports --------------------------------------------------------------------------------
def test_report_totals_reconcile_exactly_with_the_ledger(team, busy_team):
    report = reports.spend_report(team=team, days=30)
    charged = Transfer.objects.filter(kind=TransferKind.CHARGE, job__team=team).aggregate(t=Sum("amount"))["t"]
    spent_account = credits.team_system_balance(team=team, kind=AccountKind.SPENT)
    assert report.total == charged == spent_account == 8 + 40 + 120 + 40 + 2
    assert report.reconciles
    assert {r.label: r.credits for r in report.by_member} == {"designer": 48, "ana": 160, "alice": 2}
    assert {r.label: r.credits for r in report.by_model} == {"cheap": 10, "mid": 80, "top": 120}
    assert {r.label: r.credits for r in report.by_tier} == {"standard": 10, "advanced": 80, "ultra": 120}
    assert sum(d.credits for d in report.by_day) == report.total and len(report.by_day) == 30
    assert report.by_day[-1].day == timezone.localdate() and report.by_day[-1].credits == report.total
    assert report.returned == 20 + 20 and report.jobs_failed == 1 and report.jobs_charged == 5
    assert round(sum(r.share for r in report.by_member), 6) == 100.0
    assert credits.ledger_is_balanced()


def test_ninety_day_report_and_older_spend_left_out(team, busy_team):
    assert reports.spend_report(team=team, days=90).total == 210
    # Seen from 31 days later, today's spend is outside the last 30 days but inside 90.
    later = timezone.now() + timedelta(days=31)
    assert reports.spend_report(team=team, days=30, now=later).total == 0
    assert reports.spend_report(team=team, days=90, now=later).total == 210
    with pytest.raises(ValueError):
        reports.spend_report(team=team, days=7)


def test_reports_of_one_team_never_include_another(team, busy_team, outsider, other_team):
    credits.grant_credits(membership=outsider, amount=500)
    run_job(outsider, busy_team["top"])
    assert reports.spend_report(team=team, days=30).total == 210
    other = reports.spend_report(team=other_team, days=30)
    assert other.total == 120 and [r.label for r in other.by_member] == ["oscar"] and other.reconciles


def test_reports_page_draws_server_side_svg_charts(admin_client_, busy_team):
    response = admin_client_.get(reverse("team:reports"), {"days": "90"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<svg") == 4 and "<rect" in html and "Credits spent per day" in html
    assert "Reconciled" in html and 'id="report-total">210<' in html
    assert "<script" not in html.split("<main", 1)[1] and "cdn" not in html.lower()
    partial = admin_client_.get(reverse("team:reports"), {"days": "30"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="report")
    assert partial.content.decode().lstrip().startswith('<div id="report">')
    assert admin_client_.get(reverse("team:reports"), {"days": "7"}).status_code == 400


def test_chart_geometry_scales_to_the_largest_value():
    chart = charts.bar_chart([("a", 50), ("b", 100), ("c", 0)])
    widths = [bar.width for bar in chart.bars]
    assert widths[1] == chart.plot_right - chart.plot_left and widths[0] == widths[1] / 2 and widths[2] == 0
    column = charts.column_chart([("d1", 0), ("d2", 130)])
    assert column.ticks[-1].text == "200" and column.bars[1].height == pytest.approx(0.65 * (220 - 38))
    assert charts.column_chart([("d", 0)]).empty


# -- ledger --------------------------------------------------------------------------------------
def test_ledger_filters_by_member_kind_model_and_date(admin_client_, busy_team):
    url = reverse("team:ledger")
    everything = admin_client_.get(url).context["page"].paginator.count
    ana = busy_team["ana"]
    mine = admin_client_.get(url, {"member": ana.user_id}).context["page"]
    assert 0 < mine.paginator.count < everything
    assert all(
        t.debit.user_id == ana.user_id or t.credit.user_id == ana.user_id or (t.job and t.job.user_id == ana.user_id)
        for t in mine.object_list
    )
    charges = admin_client_.get(url, {"kind": "charge"}).context["page"]
    assert charges.paginator.count == 5 and {t.kind for t in charges.object_list} == {"charge"}
    top = admin_client_.get(url, {"model": "top"}).context["page"]
    assert {t.kind for t in top.object_list} == {"hold", "charge"}
    today = timezone.localdate()
    assert admin_client_.get(url, {"date_from": today, "date_to": today}).context["page"].paginator.count == everything
    assert admin_client_.get(url, {"date_to": today - timedelta(days=1)}).context["page"].paginator.count == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "yesterday"}, "Enter a valid date"),
        ({"date_from": "2025-05-02", "date_to": "2025-05-01"}, "before the start date"),
        ({"kind": "gift"}, "Select a valid choice"),
        ({"model": "no-such"}, "Select a valid choice"),
    ],
)
def test_bad_ledger_filters_are_reported_beside_the_field(admin_client_, busy_team, params, message):
    response = admin_client_.get(reverse("team:ledger"), params)
    assert response.status_code == 400 and message in response.content.decode()


def test_ledger_pages_and_query_count_does_not_grow_with_entries(admin_client_, owner, designer, django_assert_num_queries):
    url = reverse("team:ledger")
    for _ in range(10):
        team_services.grant(actor=owner, target=designer, amount=1)
    with django_assert_num_queries(_queries(admin_client_, url)) as captured:
        admin_client_.get(url)
    for _ in range(110):
        team_services.grant(actor=owner, target=designer, amount=1)
    with django_assert_num_queries(len(captured)):
        page = admin_client_.get(url).context["page"]
    assert len(page.object_list) == 50 and page.paginator.num_pages == 3
    second = admin_client_.get(url, {"page": 2, "member": designer.user_id})
    assert second.context["page"].number == 2 and "member=" in second.content.decode().split("Download CSV")[0]


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return len(ctx)


def test_csv_export_is_streamed_filtered_and_safe_for_spreadsheets(admin_client_, busy_team, team):
    response = admin_client_.get(reverse("team:ledger_csv"), {"member": busy_team["ana"].user_id})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="ledger-{team.slug}-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(reports.LEDGER_CSV_HEADER)
    body = rows[1:]
    page = admin_client_.get(reverse("team:ledger"), {"member": busy_team["ana"].user_id}).context["page"]
    assert len(body) == page.paginator.count
    assert {r[6] for r in body} == {"ana"}
    memo = next(r[10] for r in body if r[2] == "grant")
    assert memo.startswith("'=HYPERLINK")  # a formula would run in a spreadsheet
    charged = sum(int(r[3]) for r in body if r[2] == "charge")
    assert charged == 160


def test_members_see_their_own_ledger_only(designer_client, busy_team):
    page = designer_client.get(reverse("team:ledger"))
    html = page.content.decode()
    assert page.status_code == 200 and "Your ledger" in html and 'name="member"' not in html
    designer = busy_team["designer"]
    for t in page.context["page"].object_list:
        assert designer.user_id in (t.debit.user_id, t.credit.user_id, t.job.user_id if t.job else None)
    forced = designer_client.get(reverse("team:ledger"), {"member": busy_team["ana"].user_id}).context["page"]
    assert all("ana" not in (t.debit.user and t.debit.user.username or "") for t in forced.object_list)


def test_member_pages_show_this_months_spend(admin_client_, busy_team):
    html = admin_client_.get(reverse("team:members")).content.decode()
    ana_row = html.split(">ana<", 1)[1].split("</tr>", 1)[0]
    # Ana: 120 + 40 charged this month; balance 2000 + 100 granted - 160.
    assert ">160<" in ana_row.replace(" ", "") and "1,940" in ana_row
    usage = reports.month_usage(team=busy_team["ana"].team)[busy_team["ana"].user_id]
    assert (usage.balance, usage.charged, usage.held) == (1940, 160, 0)


def test_htmx_filter_swaps_the_results_and_explains_a_bad_filter(admin_client_, busy_team):
    hx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "ledger-results"}
    good = admin_client_.get(reverse("team:ledger"), {"kind": "charge"}, **hx)
    assert good.status_code == 200 and good.content.decode().lstrip().startswith('<div id="ledger-results">')
    bad = admin_client_.get(reverse("team:ledger"), {"date_from": "soon"}, **hx)
    assert bad.status_code == 200 and "Check the filters: From: Enter a valid date." in bad.content.decode()
