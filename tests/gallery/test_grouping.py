"""Grouping the gallery by day or by refinement thread: headings, paging, HTMX and query counts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gallery import browse, grouping
from gallery.models import Visibility

pytestmark = pytest.mark.django_db

HEADING = re.compile(r'<h2 class="group-h">([^<]*)</h2>')
TILE = re.compile(r'id="tile-(\d+)"')


def headings(response) -> list[str]:
    return HEADING.findall(response.content.decode())


def test_day_heading_names_today_yesterday_then_the_date():
    today = date(2026, 12, 2)
    assert grouping.day_heading(today, today=today) == "Today"
    assert grouping.day_heading(date(2026, 12, 1), today=today) == "Yesterday"
    assert grouping.day_heading(date(2026, 11, 30), today=today) == "Mon 30 Nov"
    assert grouping.day_heading(date(2025, 11, 30), today=today) == "Sun 30 Nov 2025"


@override_settings(TIME_ZONE="America/New_York")
def test_days_follow_the_site_time_zone(cast, make_image):
    # 03:00 UTC on 2 Dec is still 1 Dec in New York.
    late = make_image(cast.owner, created_at=datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    noon = make_image(cast.owner, created_at=datetime(2026, 12, 2, 17, 0, tzinfo=UTC))
    groups = grouping.by_day([noon, late], now=datetime(2026, 12, 2, 18, 0, tzinfo=UTC))
    assert [(g.heading, [i.pk for i in g.images]) for g in groups] == [("Today", [noon.pk]), ("Yesterday", [late.pk])]


def test_group_by_day_headings_and_the_flat_grid_without_it(cast, make_image):
    now = timezone.now()
    make_image(cast.owner, created_at=now - timedelta(days=9))
    make_image(cast.owner, created_at=now - timedelta(days=1))
    make_image(cast.owner, created_at=now)
    client = cast.client("owner")
    older = timezone.localdate(now - timedelta(days=9))
    expected = ["Today", "Yesterday", grouping.day_heading(older, today=timezone.localdate(now))]
    page = client.get(reverse("gallery:mine"), {"group": "day"})
    assert headings(page) == expected
    assert '<option value="day" selected>' in page.content.decode()
    # The HTMX filter swap gets the same grouped results, and the flat grid has no headings.
    fragment = client.get(reverse("gallery:mine"), {"group": "day"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery-results")
    assert headings(fragment) == expected
    assert 'class="grouped" id="grid"' in fragment.content.decode()
    assert headings(client.get(reverse("gallery:mine"))) == []


def test_a_day_split_across_pages_repeats_its_heading_and_the_pager_keeps_the_grouping(cast, make_image, monkeypatch):
    monkeypatch.setattr(browse, "PAGE_SIZE", 2)
    made = [make_image(cast.owner, prompt=f"whale {n}") for n in range(3)]
    client = cast.client("owner")
    first = client.get(reverse("gallery:mine"), {"group": "day", "q": "whale"})
    html = first.content.decode()
    assert headings(first) == ["Today"]
    pager = re.search(r'class="pager-more" href="\?([^"]*)"', html).group(1).replace("&amp;", "&")
    assert "group=day" in pager and "q=whale" in pager
    # Without JS the pager is a link to the next full page; with HTMX it fetches the tiles only.
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        following = client.get(reverse("gallery:mine") + "?" + pager, **headers)
        assert headings(following) == ["Today"]
        assert [int(pk) for pk in TILE.findall(following.content.decode())] == [made[0].pk]


def test_group_by_thread_puts_a_refinement_chain_under_its_first_prompt(cast, make_image):
    start = make_image(cast.owner, prompt="a lighthouse at dusk")
    second = make_image(cast.owner, prompt="make it stormy", parent=start.job)
    third = make_image(cast.owner, prompt="add a ship", parent=second.job)
    other = make_image(cast.owner, prompt="a red fox")
    response = cast.client("owner").get(reverse("gallery:mine"), {"group": "thread"})
    html = response.content.decode()
    assert headings(response) == ["a red fox", "a lighthouse at dusk"]
    fox, lighthouse = html.split('<h2 class="group-h">')[1:]
    assert TILE.findall(fox) == [str(other.pk)]
    assert TILE.findall(lighthouse) == [str(third.pk), str(second.pk), str(start.pk)]


def test_a_thread_is_not_titled_with_a_prompt_the_viewer_may_not_see(cast, make_image):
    secret = make_image(cast.teammate, prompt="secret start", visibility=Visibility.PRIVATE)
    make_image(cast.teammate, prompt="public turn", parent=secret.job)
    response = cast.client("owner").get(reverse("gallery:team"), {"group": "thread"})
    assert headings(response) == ["public turn"]
    assert "secret start" not in response.content.decode()


def test_thread_grouping_costs_the_same_queries_for_deep_and_many_threads(cast, make_image, django_assert_max_num_queries):
    client = cast.client("owner")
    make_image(cast.owner)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("gallery:mine"), {"group": "thread"}, HTTP_HX_REQUEST="true").status_code == 200
        return len(captured)

    few = count()
    for thread in range(4):
        parent = None
        for turn in range(5):
            parent = make_image(cast.owner, prompt=f"thread {thread} turn {turn}", parent=parent).job
    assert count() == few
    with django_assert_max_num_queries(10):
        assert len(headings(client.get(reverse("gallery:mine"), {"group": "thread"}))) == 5
    with django_assert_max_num_queries(10):
        client.get(reverse("gallery:mine"), {"group": "day"})


def test_an_unknown_grouping_gets_a_message(cast, make_image):
    make_image(cast.owner)
    response = cast.client("owner").get(reverse("gallery:mine"), {"group": "colour"})
    assert response.status_code == 200
    assert "Unknown grouping." in response.content.decode()
    assert headings(response) == []


def test_clearing_the_filters_keeps_the_grouping(cast, make_image):
    make_image(cast.owner, prompt="a blue whale")
    client = cast.client("owner")
    html = client.get(reverse("gallery:mine"), {"group": "thread", "q": "zebra"}).content.decode()
    assert '<a href="?group=thread">Clear them</a>' in html
    assert '<a href="?group=thread" class="chip-clear">Clear all</a>' in html
    assert headings(client.get(reverse("gallery:mine"), {"group": "thread"})) == ["a blue whale"]
