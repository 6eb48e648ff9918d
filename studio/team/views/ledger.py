"""The ledger: every credit movement of the team (or one's own), on a page and as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from studio.models import Transfer
from studio.services import reports
from studio.team.forms import LedgerFilterForm
from studio.team.views.common import TeamRequest, member_required

LEDGER_PAGE_SIZE = 50


def _ledger_filters(request: TeamRequest) -> tuple[LedgerFilterForm, dict[str, Any]]:
    """Managers see the whole team; everyone else only their own entries."""
    membership = request.membership
    form = LedgerFilterForm(request.GET or None, team=membership.team)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    if not membership.can_manage:
        filters["member"] = membership.user_id
    return form, filters


@require_GET
@member_required
def ledger(request: TeamRequest) -> HttpResponse:
    form, filters = _ledger_filters(request)
    valid = not form.is_bound or form.is_valid()
    entries = reports.ledger_entries(team=request.membership.team, **filters) if valid else Transfer.objects.none()
    page = Paginator(entries, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "own_only": not request.membership.can_manage}
    if request.htmx and request.htmx.target == "ledger-results":
        # htmx swaps only 2xx answers: a bad filter comes back as a 200 that says what is wrong.
        return render(request, "team/ledger.html#ledger-results", context)
    return render(request, "team/ledger.html", context, status=200 if valid else 400)


class _Echo:
    """csv.writer writes into this and gets the line back, so rows stream one by one."""

    def write(self, value: str) -> str:
        return value


def _csv_safe(value: Any) -> Any:
    # Spreadsheet apps run cells that start like a formula; memos are user text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@require_GET
@member_required
def ledger_csv(request: TeamRequest) -> HttpResponse:
    form, filters = _ledger_filters(request)
    if form.is_bound and not form.is_valid():
        empty = Paginator(Transfer.objects.none(), 1).get_page(1)
        context = {"form": form, "page": empty, "own_only": not request.membership.can_manage}
        return render(request, "team/ledger.html", context, status=400)
    rows = reports.ledger_rows(team=request.membership.team, **filters)
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield writer.writerow(reports.LEDGER_CSV_HEADER)
        for row in rows:
            yield writer.writerow([_csv_safe(v) for v in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="ledger-{request.membership.team.slug}-{stamp}.csv"'
    return response
