"""A provider account out of credit: its own error code, never retried, credits returned, flagged."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from providers.errors import ErrorCode, ProviderError
from providers.models import ProviderStatus
from providers.status import billing_problems, record_provider_failure, record_provider_success
from studio.models import JobStatus, Membership, Role
from studio.services import credits, jobs
from tests.fakes.server import FakeProvider

pytestmark = pytest.mark.django_db


def billing_error() -> ProviderError:
    return ProviderError(ErrorCode.PROVIDER_BILLING, "openai: insufficient_quota", status=429, provider="openai")


def test_the_flag_is_set_by_a_billing_failure_and_cleared_by_the_next_success() -> None:
    record_provider_failure(family="openai", error=billing_error())
    assert ProviderStatus.objects.get(family="openai").billing_error_at is not None
    [problem] = billing_problems()
    assert problem.startswith("The OpenAI Images account is out of credit")

    record_provider_success(family="openai")
    assert ProviderStatus.objects.get(family="openai").billing_error_at is None
    assert billing_problems() == []


def test_a_402_fails_the_job_once_returns_the_credits_and_flags_the_provider(
    fake_provider: FakeProvider,
    settings: Any,
    designer: Membership,
    make_model: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake_provider.apply_to(settings)
    fake_provider.fail("bfl.submit", 402, times=5, message="Insufficient credits")
    make_model("flux", family="bfl", remote_model="flux-pro-1.1")

    spec = jobs.validate_job(membership=designer, model="flux", prompt="a kite")
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.submit_job(membership=designer, spec=spec)

    job.refresh_from_db()
    assert (job.status, job.error_code) == (JobStatus.FAILED, "provider_billing")
    # Never retried: one submit reached the provider.
    assert [r.route for r in fake_provider.requests] == ["bfl.submit"]
    assert credits.member_balance(membership=designer) == 1000
    assert ProviderStatus.objects.get(family="bfl").billing_error_at is not None


def test_team_admin_pages_say_which_account_is_out_of_credit(make_member: Any) -> None:
    record_provider_failure(family="openai", error=billing_error())
    admin = make_member("alice", role=Role.ADMIN, balance=0)
    designer = make_member("dora", role=Role.DESIGNER, balance=0)

    def page(who: Membership) -> str:
        client = Client()
        client.force_login(who.user)
        return client.get(reverse("team:overview")).content.decode()

    assert "The OpenAI Images account is out of credit" in page(admin)
    assert "out of credit" not in page(designer)


def test_the_admin_shows_the_flag(admin_client: Client) -> None:
    record_provider_failure(family="openai", error=billing_error())
    page = admin_client.get(reverse("admin:providers_providerstatus_changelist")).content.decode()
    assert "out of credit since" in page
    assert "The OpenAI Images account is out of credit" in page
