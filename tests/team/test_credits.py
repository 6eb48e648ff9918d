"""Credits: grants and revokes, bad input, one-time keys, caps, monthly refills, staff top-ups."""

from __future__ import annotations

from datetime import datetime
from io import StringIO

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from studio.models import AccountKind, AuditAction, AuditEvent, Job, RefillRecord, Transfer, TransferKind, User
from studio.services import credits, jobs
from studio.services import team as team_services
from studio.services.credits import CapExceeded
from studio.services.errors import InsufficientCredits, PermissionDenied, ValidationFailed
from studio.tasks import run_monthly_refills_task
from tests.team.conftest import client_for

pytestmark = pytest.mark.django_db


def pool_balance(team) -> int:
    return credits.team_account(team=team, kind=AccountKind.POOL).balance


def snapshot(team, *members) -> tuple[int, int, tuple[int, ...]]:
    return Transfer.objects.count(), pool_balance(team), tuple(credits.member_balance(membership=m) for m in members)


# -- grant and revoke -------------------------------------------------------------------------
def test_grant_and_revoke_through_the_page_with_actor_memo_and_audit(admin_client_, admin_member, designer, team):
    pool_before = pool_balance(team)
    response = admin_client_.post(
        reverse("team:credits_grant"), {"member": designer.pk, "amount": "250", "memo": "campaign"}, follow=True
    )
    assert response.status_code == 200 and b"Granted 250 credits to designer" in response.content
    assert credits.member_balance(membership=designer) == 1250 and pool_balance(team) == pool_before - 250
    grant = Transfer.objects.filter(kind=TransferKind.GRANT).latest("id")
    assert grant.actor == admin_member.user and grant.memo == "campaign" and grant.amount == 250
    event = AuditEvent.objects.get(action=AuditAction.GRANTED)
    assert event.transfer == grant and event.actor == admin_member.user
    assert event.before == {"member_balance": 1000, "pool_balance": pool_before}
    assert event.after == {"member_balance": 1250, "pool_balance": pool_before - 250, "amount": 250}

    response = admin_client_.post(reverse("team:credits_revoke"), {"member": designer.pk, "amount": "50", "memo": ""})
    assert response.status_code == 302
    assert credits.member_balance(membership=designer) == 1200 and pool_balance(team) == pool_before - 200
    revoke = Transfer.objects.filter(kind=TransferKind.REVOKE).latest("id")
    assert revoke.actor == admin_member.user and revoke.memo == "revoked from designer"
    assert credits.ledger_is_balanced()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-5", "above zero"),
        ("0", "above zero"),
        ("2.5", "whole number"),
        ("ten", "whole number"),
        ("", "Enter an amount"),
        ("1e3", "whole number"),
        ("98501", "pool holds 98,500 credits; you cannot grant 98,501"),  # beyond the pool
    ],
)
def test_bad_grant_amounts_show_an_error_beside_the_field_and_change_nothing(admin_client_, designer, team, amount, message):
    before = snapshot(team, designer)
    response = admin_client_.post(reverse("team:credits_grant"), {"member": designer.pk, "amount": amount, "memo": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    field_error = html.split('id="id_grant_amount"', 1)[1].split("</label>", 1)[0]
    assert 'class="error"' in field_error, "the error should sit right under the amount field"
    assert snapshot(team, designer) == before
    assert not AuditEvent.objects.filter(action=AuditAction.GRANTED).exists()


def test_revoking_more_than_the_member_holds_is_refused(admin_client_, designer, team):
    before = snapshot(team, designer)
    response = admin_client_.post(reverse("team:credits_revoke"), {"member": designer.pk, "amount": "1001"})
    assert response.status_code == 400 and "designer holds 1,000 credits" in response.content.decode()
    assert snapshot(team, designer) == before


def test_services_refuse_non_admins_other_teams_and_bad_amounts(designer, viewer, admin_member, outsider, team):
    before = snapshot(team, designer, admin_member)
    for actor in (designer, viewer):
        with pytest.raises(PermissionDenied):
            team_services.grant(actor=actor, target=admin_member, amount=10)
    with pytest.raises(PermissionDenied):
        team_services.grant(actor=outsider, target=designer, amount=10)
    for bad in (0, -1, 2.5, True, "10", None):
        with pytest.raises(ValidationFailed):
            team_services.grant(actor=admin_member, target=designer, amount=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed, match="pool holds"):
        team_services.grant(actor=admin_member, target=designer, amount=10**9)
    with pytest.raises(ValidationFailed, match="under 200"):
        team_services.grant(actor=admin_member, target=designer, amount=5, memo="m" * 201)
    assert snapshot(team, designer, admin_member) == before
    assert not AuditEvent.objects.exists()


def test_a_double_submitted_grant_is_done_once(admin_client_, designer, team):
    """L13: the form's one-time key makes a repeated grant a no-op."""
    form = admin_client_.get(reverse("team:credits")).content.decode()
    key = form.split('name="request_key" value="', 1)[1].split('"', 1)[0]
    data = {"member": designer.pk, "amount": "100", "memo": "once", "request_key": key}
    assert admin_client_.post(reverse("team:credits_grant"), data).status_code == 302
    second = admin_client_.post(reverse("team:credits_grant"), data, follow=True)
    assert b"already submitted" in second.content
    assert credits.member_balance(membership=designer) == 1100
    assert Transfer.objects.filter(kind=TransferKind.GRANT, memo="once").count() == 1


def test_a_tampered_request_key_is_refused(admin_client_, designer, team):
    before = snapshot(team, designer)
    data = {"member": designer.pk, "amount": "100", "request_key": "<script>alert(1)</script>xx"}
    response = admin_client_.post(reverse("team:credits_grant"), data)
    assert response.status_code == 400 and b"tampered" in response.content
    assert snapshot(team, designer) == before


def test_htmx_grant_returns_the_credits_panel(admin_client_, designer):
    response = admin_client_.post(
        reverse("team:credits_grant"), {"member": designer.pk, "amount": "5"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="credits-panel">')
    assert "Granted 5 credits" in html
    error = admin_client_.post(reverse("team:credits_grant"), {"member": designer.pk, "amount": "-1"}, HTTP_HX_REQUEST="true")
    assert error.status_code == 200 and b"above zero" in error.content


# -- caps -----------------------------------------------------------------------------------------
def submit(membership, model_slug: str = "test-model", count: int = 1) -> Job:
    spec = jobs.validate_job(membership=membership, model=model_slug, prompt="capped", count=count)
    return jobs.submit_job(membership=membership, spec=spec)


def test_monthly_cap_refuses_the_job_that_would_pass_it(admin_member, designer, ai_model, django_capture_on_commit_callbacks):
    team_services.set_limits(actor=admin_member, target=designer, monthly_cap=50, monthly_refill=None)
    designer.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        submit(designer)  # 20, charged
    with django_capture_on_commit_callbacks(execute=False):
        submit(designer)  # 20, still held: counts too
    balance = credits.member_balance(membership=designer)
    with pytest.raises(CapExceeded) as caught:
        submit(designer)
    assert caught.value.code == "insufficient_credits"
    assert caught.value.message == "This would pass your monthly cap of 50 credits (40 used, this job needs 20)."
    assert isinstance(caught.value, InsufficientCredits)
    assert credits.member_balance(membership=designer) == balance and Job.objects.count() == 2


def test_cap_counts_only_this_calendar_month(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submit(designer, count=2)
    assert credits.month_spend(team=designer.team, user=designer.user) == 40
    # Seen from next month, today's charge belongs to a past month.
    next_month = credits.month_start() + timezone.timedelta(days=40)
    assert credits.month_spend(team=designer.team, user=designer.user, now=next_month) == 0


def test_cap_error_shows_in_the_studio(designer_client, designer, admin_member, ai_model):
    team_services.set_limits(actor=admin_member, target=designer, monthly_cap=10, monthly_refill=None)
    response = designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "x", "count": "1"})
    assert response.status_code == 400
    assert "This would pass your monthly cap of 10 credits (0 used, this job needs 20)." in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"monthly_cap": "-1", "monthly_refill": ""}, "monthly_cap", "at least 0"),
        ({"monthly_cap": "1.5", "monthly_refill": ""}, "monthly_cap", "whole number"),
        ({"monthly_cap": "", "monthly_refill": "0"}, "monthly_refill", "at least 1"),
        ({"monthly_cap": "", "monthly_refill": "lots"}, "monthly_refill", "whole number"),
    ],
)
def test_bad_limits_are_refused_beside_the_field(admin_client_, designer, data, field, message):
    response = admin_client_.post(reverse("team:member_limits", args=[designer.pk]), data)
    assert response.status_code == 400
    html = response.content.decode()
    row = html.split(f'id="limits-{designer.pk}"', 1)[1].split("</tr>", 1)[0]
    assert message in row
    designer.refresh_from_db()
    assert designer.monthly_cap is None and designer.monthly_refill is None
    assert not AuditEvent.objects.exists()


def test_limits_saved_and_audited(admin_client_, designer):
    data = {"monthly_cap": "300", "monthly_refill": "200"}
    response = admin_client_.post(reverse("team:member_limits", args=[designer.pk]), data)
    assert response.status_code == 302
    designer.refresh_from_db()
    assert (designer.monthly_cap, designer.monthly_refill) == (300, 200)
    event = AuditEvent.objects.get(action=AuditAction.LIMITS_CHANGED)
    assert event.before == {"monthly_cap": None, "monthly_refill": None}
    assert event.after == {"monthly_cap": 300, "monthly_refill": 200}


# -- monthly refills --------------------------------------------------------------------------------
def test_refill_tops_up_to_the_target_once_per_month_however_often_it_runs(admin_member, designer, make_member, team):
    low = make_member("lou", balance=30)
    rich = make_member("ria", balance=900)
    for member in (low, rich):
        team_services.set_limits(actor=admin_member, target=member, monthly_cap=None, monthly_refill=500)
    pool_before = pool_balance(team)

    first = team_services.run_monthly_refills()
    again = team_services.run_monthly_refills()
    run_monthly_refills_task.delay()  # the beat task: same service

    assert (first.refilled, first.credits, first.already_full) == (1, 470, 1)
    assert (again.refilled, again.already_done) == (0, 2)
    assert credits.member_balance(membership=low) == 500 and credits.member_balance(membership=rich) == 900
    assert pool_balance(team) == pool_before - 470
    assert RefillRecord.objects.count() == 2
    refill = Transfer.objects.get(kind=TransferKind.REFILL)
    assert refill.amount == 470 and "monthly refill" in refill.memo
    assert AuditEvent.objects.filter(action=AuditAction.REFILLED).count() == 2


def test_next_month_refills_again(admin_member, designer):
    team_services.set_limits(actor=admin_member, target=designer, monthly_cap=None, monthly_refill=1500)
    now = timezone.now()
    team_services.run_monthly_refills(now=now)
    next_month = (credits.month_start(now) + timezone.timedelta(days=40)).replace(day=2)
    summary = team_services.run_monthly_refills(now=next_month)
    assert summary.already_full == 1  # balance already at 1500: recorded, no transfer
    assert RefillRecord.objects.filter(user=designer.user).count() == 2


def test_a_short_pool_records_nothing_so_the_next_run_retries(admin_member, designer, team, owner):
    team_services.set_limits(actor=admin_member, target=designer, monthly_cap=None, monthly_refill=10**9)
    summary = team_services.run_monthly_refills()
    assert summary.pool_short == 1 and not RefillRecord.objects.exists()
    assert credits.member_balance(membership=designer) == 1000


# -- staff top-ups ---------------------------------------------------------------------------------
def test_top_up_command_adds_to_the_pool_with_a_memo(team):
    out = StringIO()
    call_command("top_up_team", team.slug, "5000", "--memo", "invoice 2024-117", stdout=out)
    assert "the pool now holds 105,000" in out.getvalue()
    topup = Transfer.objects.filter(kind=TransferKind.TOPUP).latest("id")
    assert topup.amount == 5000 and topup.memo == "invoice 2024-117"
    event = AuditEvent.objects.get(action=AuditAction.TOPPED_UP)
    assert event.actor_label == "site staff" and event.after["pool_balance"] == 105_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "10", "--memo", "x"], "No team"),
        (["acme", "-10", "--memo", "x"], "above zero"),
        (["acme", "2.5", "--memo", "x"], "whole number"),
        (["acme", "0", "--memo", "x"], "above zero"),
        (["acme", "10", "--memo", "  "], "memo"),
    ],
)
def test_top_up_command_refuses_bad_input(team, args, message):
    before = pool_balance(team), Transfer.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("top_up_team", *args)
    assert (pool_balance(team), Transfer.objects.count()) == before


def test_admin_action_tops_up_one_team(team):
    staff = User.objects.create_superuser(username="staff", email="staff@example.com", password="pw-staff-123")
    client = client_for(staff)
    url = reverse("admin:studio_team_changelist")
    form = client.post(url, {"action": "top_up_pool", ACTION_CHECKBOX_NAME: [team.pk]})
    assert form.status_code == 200 and b"Credits to add" in form.content
    bad = client.post(url, {"action": "top_up_pool", ACTION_CHECKBOX_NAME: [team.pk], "apply": "1", "amount": "-3", "memo": "x"})
    assert bad.status_code == 400 and pool_balance(team) == 100_000
    done = client.post(
        url, {"action": "top_up_pool", ACTION_CHECKBOX_NAME: [team.pk], "apply": "1", "amount": "2500", "memo": "PO 77"}
    )
    assert done.status_code == 302 and pool_balance(team) == 102_500
    topup = Transfer.objects.filter(kind=TransferKind.TOPUP).latest("id")
    assert topup.actor == staff and topup.memo == "PO 77"


def test_month_start_is_local_midnight_on_the_first(settings):
    moment = timezone.make_aware(datetime(2025, 3, 15, 12, 30))
    start = credits.month_start(moment)
    assert (start.year, start.month, start.day, start.hour, start.minute) == (2025, 3, 1, 0, 0)
