"""Provider health as the workers see it: last success, last error (shown in the admin).

Called right after each provider call, outside any transaction. Each write is one short
statement in autocommit, and a success is written at most every few seconds per family (and
looked at at most once a second per process) so hundreds of concurrent jobs do not queue on
one hot row. A failure to write health never fails the job it was about.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from providers.errors import ErrorCode, ProviderError
from providers.models import Family, ProviderStatus

logger = logging.getLogger(__name__)

# A "last success" older than this is refreshed; newer ones are left alone.
SUCCESS_RESOLUTION = timedelta(seconds=5)
KNOWN_FAMILIES = frozenset(Family.values)


def record_provider_success(*, family: str) -> None:
    """Note that `family` just answered a call properly."""
    if family not in KNOWN_FAMILIES:
        return  # the local demo renderer is not a provider
    if time.monotonic() - _success_written.get(family, -SUCCESS_MEMO) < SUCCESS_MEMO:
        return  # this process brought the row up to date a moment ago
    now = timezone.now()
    # Rows that fail the condition are not written (nor locked): the common case is one
    # statement that writes nothing. A success means the account has money again, so a
    # billing flag is cleared with it.
    due = Q(billing_error_at__isnull=False) | Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - SUCCESS_RESOLUTION)
    try:
        written = ProviderStatus.objects.filter(due, family=family).update(last_success_at=now, billing_error_at=None)
        if written or family in _STATUS_ROWS:
            # Written, or a fresh row this process has seen (rows are never deleted).
            _success_written[family] = time.monotonic()
            return
        # No row yet, or a fresh one: create it; an existing row is left as it is.
        ProviderStatus.objects.bulk_create(
            [ProviderStatus(family=family, last_success_at=now)], ignore_conflicts=True
        )
        _STATUS_ROWS.add(family)
        _success_written[family] = time.monotonic()
    except DatabaseError:
        logger.warning("could not record a success of %s", family, exc_info=True)


# Families whose status row this process knows exists: the insert is then never needed.
_STATUS_ROWS: set[str] = set()
# When this process last wrote a family's success, which then stands for SUCCESS_MEMO
# seconds without a statement (a busy gateway answers many calls a second). An error this
# process sees forgets it; a billing flag another process sets is cleared by the next
# success after that.
SUCCESS_MEMO = 1.0
_success_written: dict[str, float] = {}


def record_provider_error(*, family: str, message: str) -> None:
    """Note a failed call to `family` with a short reason (never a key or a payload)."""
    if family not in KNOWN_FAMILIES:
        return
    _success_written.pop(family, None)
    try:
        ProviderStatus.objects.bulk_create(
            [ProviderStatus(family=family, last_error_at=timezone.now(), last_error=message[:500])],
            update_conflicts=True,
            unique_fields=["family"],
            update_fields=["last_error_at", "last_error"],
        )
    except DatabaseError:
        logger.warning("could not record an error of %s", family, exc_info=True)


def record_provider_failure(*, family: str, error: ProviderError) -> None:
    """Record a provider error from the taxonomy.

    A refusal (content_policy) is the provider doing its job on a prompt it will not
    draw, so it says nothing about the provider's health and is not recorded.
    """
    if error.code is ErrorCode.CONTENT_POLICY:
        return
    status = f" (HTTP {error.status})" if error.status else ""
    record_provider_error(family=family, message=f"{error.code.value}{status}: {error.message}")
    if error.code is ErrorCode.PROVIDER_BILLING:
        try:
            ProviderStatus.objects.filter(family=family).update(billing_error_at=timezone.now())
        except DatabaseError:
            logger.warning("could not flag the billing of %s", family, exc_info=True)


def billing_problems() -> list[str]:
    """Sentences for the admin pages: "The OpenAI Images account is out of credit", one per family."""
    flagged = ProviderStatus.objects.filter(billing_error_at__isnull=False).order_by("family")
    labels = dict(Family.choices)
    return [
        f"The {labels.get(s.family, s.family)} account is out of credit (since {s.billing_error_at:%d %b %H:%M}); "
        "jobs sent to it fail and return their credits until it is topped up."
        for s in flagged
    ]
