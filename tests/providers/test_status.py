"""Provider health: what the workers record after each call, and what the admin shows."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from providers.errors import ErrorCode, ProviderError
from providers.models import ProviderStatus
from providers.status import record_provider_error, record_provider_failure, record_provider_success
from studio.models import JobStatus
from studio.services import jobs
from tests.fakes.server import FakeProvider

pytestmark = pytest.mark.django_db


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move this process's clock on (the success memo's), as the row's own times are moved back."""
    clock = time.monotonic() + seconds
    monkeypatch.setattr("providers.status.time.monotonic", lambda: clock)


def test_a_success_creates_the_row_and_is_not_rewritten_within_seconds(monkeypatch) -> None:
    record_provider_success(family="openai")
    first = ProviderStatus.objects.get(family="openai").last_success_at

    later(monkeypatch, 2)  # past this process's memo, within the row's resolution
    record_provider_success(family="openai")

    assert first is not None
    assert ProviderStatus.objects.get(family="openai").last_success_at == first
    ProviderStatus.objects.filter(family="openai").update(last_success_at=first - timedelta(seconds=10))
    later(monkeypatch, 4)
    record_provider_success(family="openai")
    assert ProviderStatus.objects.get(family="openai").last_success_at > first


def test_a_success_just_written_by_this_process_costs_no_statement(django_assert_num_queries, monkeypatch) -> None:
    record_provider_success(family="openai")
    with django_assert_num_queries(0):
        record_provider_success(family="openai")
    # Another process flags the account out of credit: the next success after the memo clears it.
    ProviderStatus.objects.filter(family="openai").update(billing_error_at=timezone.now())
    later(monkeypatch, 1.5)
    record_provider_success(family="openai")
    assert ProviderStatus.objects.get(family="openai").billing_error_at is None


def test_an_error_seen_by_this_process_ends_the_success_memo(django_assert_num_queries) -> None:
    record_provider_success(family="bfl")
    record_provider_failure(family="bfl", error=ProviderError(ErrorCode.PROVIDER_BILLING, "out of credit", status=402))
    record_provider_success(family="bfl")  # within the memo, yet written: the error came between
    assert ProviderStatus.objects.get(family="bfl").billing_error_at is None


def test_an_error_keeps_the_last_success_and_a_success_keeps_the_last_error() -> None:
    record_provider_success(family="bfl")
    record_provider_error(family="bfl", message="x" * 600)
    ProviderStatus.objects.update(last_success_at=timezone.now() - timedelta(minutes=1))
    record_provider_success(family="bfl")

    status = ProviderStatus.objects.get(family="bfl")
    assert status.last_error == "x" * 500
    assert status.last_error_at is not None and status.last_success_at > status.last_error_at


def test_failures_are_recorded_with_code_and_status_but_refusals_are_not() -> None:
    record_provider_failure(
        family="gemini", error=ProviderError(ErrorCode.CONTENT_POLICY, "gemini: refused", status=200)
    )
    assert not ProviderStatus.objects.exists()

    record_provider_failure(
        family="gemini", error=ProviderError(ErrorCode.UNAVAILABLE, "gemini: overloaded", status=503)
    )

    assert ProviderStatus.objects.get(family="gemini").last_error == "unavailable (HTTP 503): gemini: overloaded"


def test_the_local_renderer_is_not_a_provider(designer: Any, ai_model: Any, django_capture_on_commit_callbacks: Any) -> None:
    spec = jobs.validate_job(membership=designer, model="test-model", prompt="[[fail:unavailable]] a cat")
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.submit_job(membership=designer, spec=spec)
    record_provider_success(family="local")

    assert job.provider_family == "local"
    assert not ProviderStatus.objects.exists()


def test_a_failed_poll_is_recorded_and_the_next_one_counts_as_a_success(
    fake_provider: FakeProvider, settings: Any, designer: Any, make_model: Any, django_capture_on_commit_callbacks: Any
) -> None:
    fake_provider.apply_to(settings)
    fake_provider.bfl_seconds = 0
    fake_provider.fail("bfl.poll", 503)
    make_model("flux", family="bfl", remote_model="flux-pro-1.1")

    spec = jobs.validate_job(membership=designer, model="flux", prompt="a kite")
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.submit_job(membership=designer, spec=spec)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message)
    assert [r.route for r in fake_provider.requests] == ["bfl.submit", "bfl.poll", "bfl.poll", "file"]
    status = ProviderStatus.objects.get(family="bfl")
    assert status.last_error.startswith("unavailable (HTTP 503)")
    assert status.last_success_at is not None


def test_admin_lists_each_provider_with_its_key_state_and_health(admin_client: Any, settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-set"
    settings.BFL_API_KEY = ""
    record_provider_success(family="openai")
    record_provider_error(family="bfl", message="auth (HTTP 403): bfl: invalid key")

    page = admin_client.get("/admin/providers/providerstatus/").content.decode()

    assert "Key set" in page and "Last success at" in page and "Last error" in page
    assert "auth (HTTP 403): bfl: invalid key" in page
    # One row each, with the boolean icon for the key: set for openai, not for bfl.
    assert page.count('alt="True"') == 1 and page.count('alt="False"') == 1
