"""Browsing: scopes, every filter, search, order, keyset paging, and a constant query count."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gallery import browse, services
from gallery.models import Image, Visibility

pytestmark = pytest.mark.django_db

TILE = re.compile(r'id="tile-(\d+)"')


def tiles(response) -> list[int]:
    return [int(pk) for pk in TILE.findall(response.content.decode())]


def test_team_gallery_shows_what_members_shared_and_nothing_else(cast, make_image, make_member):
    mine = make_image(cast.owner, prompt="alice shares")
    private = make_image(cast.owner, prompt="alice keeps", visibility=Visibility.PRIVATE)
    bobs = make_image(cast.teammate, prompt="bob shares")
    from studio.models import Membership

    outsider_membership = Membership.objects.get(user=cast.outsider)
    foreign = make_image(outsider_membership, prompt="other team")
    deleted = make_image(cast.teammate, prompt="bob deleted")
    services.delete_image(image=deleted, user=cast.teammate.user)

    team_page = cast.client("teammate").get(reverse("gallery:team"))
    assert team_page.status_code == 200
    assert set(tiles(team_page)) == {mine.pk, bobs.pk}
    mine_page = cast.client("owner").get(reverse("gallery:mine"))
    assert set(tiles(mine_page)) == {mine.pk, private.pk}
    assert tiles(cast.client("outsider").get(reverse("gallery:team"))) == [foreign.pk]


def test_tiles_have_sizes_and_a_placeholder_until_the_thumbnail_exists(cast, make_image):
    ready = make_image(cast.owner, prompt="ready")
    waiting = make_image(cast.owner, prompt="waiting", thumbnail=False)
    html = cast.client("owner").get(reverse("gallery:mine")).content.decode()
    ready_tile = html.split(f'id="tile-{ready.pk}"')[1].split("</figure>")[0]
    waiting_tile = html.split(f'id="tile-{waiting.pk}"')[1].split("</figure>")[0]
    assert f'width="{ready.thumb_width}" height="{ready.thumb_height}"' in ready_tile
    assert reverse("gallery:thumbnail", args=[ready.pk]) in ready_tile
    assert f'href="{reverse("gallery:detail", args=[ready.pk])}"' in ready_tile
    assert "<img" not in waiting_tile and 'class="placeholder"' in waiting_tile
    assert waiting.placeholder_colour != "#888888"  # the real mean colour, known before the thumbnail
    assert f"background:{waiting.placeholder_colour}" in html.split(f'id="tile-{waiting.pk}"')[1][:200]
    # The justified grid reserves each box from the image's proportions (issue 15): --w/--h on the
    # tile, and aspect-ratio: var(--w) / var(--h) in the stylesheet.
    assert f"--w:{waiting.width};--h:{waiting.height}" in html.split(f'id="tile-{waiting.pk}"')[1][:200]
    css = (Path(__file__).resolve().parents[2] / "gallery/static/gallery/gallery.css").read_text()
    assert "aspect-ratio: var(--w) / var(--h)" in css


def test_htmx_pager_and_filter_form_get_fragments(cast, make_image, monkeypatch):
    monkeypatch.setattr(browse, "PAGE_SIZE", 2)
    for n in range(3):
        make_image(cast.owner, prompt=f"image {n}")
    client = cast.client("owner")
    full = client.get(reverse("gallery:mine"))
    html = full.content.decode()
    assert "<html" in html and 'hx-trigger="revealed"' in html
    pager = re.search(r'<a class="pager-more" href="([^"]+)" hx-get="([^"]+)"', html)
    assert pager and pager.group(1) == pager.group(2)
    next_page = client.get(reverse("gallery:mine") + pager.group(1).replace("&amp;", "&"), HTTP_HX_REQUEST="true")
    fragment = next_page.content.decode()
    assert "<html" not in fragment and "gallery-results" not in fragment and len(tiles(next_page)) == 1
    results = client.get(reverse("gallery:mine"), {"q": "image"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="gallery-results")
    assert results.content.decode().lstrip().startswith('<div id="gallery-results">')


def test_keyset_pages_walk_every_image_once_with_filters(cast, make_image, monkeypatch):
    monkeypatch.setattr(browse, "PAGE_SIZE", 3)
    base = timezone.now()
    same_instant = base - timedelta(hours=1)
    wanted = []
    for n in range(8):
        # Several share one created_at: the id must break the tie.
        stamp = same_instant if n % 2 else base - timedelta(minutes=n)
        wanted.append(make_image(cast.owner, prompt=f"whale {n}", created_at=stamp).pk)
        make_image(cast.owner, prompt=f"other {n}", aspect_ratio="16:9", created_at=stamp)
    for sort in ("new", "old"):
        seen: list[int] = []
        params = {"ratio": "1:1", "sort": sort}
        for _ in range(10):
            response = cast.client("owner").get(reverse("gallery:mine"), params, HTTP_HX_REQUEST="true")
            seen += tiles(response)
            cursor = re.search(r"after=([\w-]+)", response.content.decode())
            if not cursor:
                break
            params = {**params, "after": cursor.group(1)}
            assert "ratio=1%3A1" in response.content.decode()  # filters ride along in the pager
        assert len(seen) == len(set(seen)) == 8 and set(seen) == set(wanted)
        ordered = list(Image.objects.filter(pk__in=wanted).order_by(*(("-created_at", "-id") if sort == "new" else ("created_at", "id"))).values_list("pk", flat=True))
        assert seen == ordered


def test_each_filter_narrows(cast, make_image, make_model):
    premium = make_model("premium-model", tier="premium", family="google")
    now = timezone.now()
    a = make_image(cast.owner, prompt="red lighthouse", created_at=now - timedelta(days=10))
    b = make_image(cast.teammate, prompt="green owl", model=premium, aspect_ratio="16:9")
    c = make_image(cast.teammate, prompt="green lighthouse", created_at=now - timedelta(days=3))
    services.set_favourite(image=c, user=cast.owner.user, favourite=True)
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Picks")
    services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[a.pk, b.pk])
    client = cast.client("owner")

    def found(**params: str) -> set[int]:
        response = client.get(reverse("gallery:team"), params)
        assert response.status_code == 200, params
        return set(tiles(response))

    assert found() == {a.pk, b.pk, c.pk}
    assert found(model="premium-model") == {b.pk}
    assert found(tier="premium") == {b.pk}
    assert found(provider="google") == {b.pk}
    assert found(provider="openai") == {a.pk, c.pk}
    assert found(author="bob") == {b.pk, c.pk}
    assert found(ratio="16:9") == {b.pk}
    assert found(fav="1") == {c.pk}
    assert found(board=str(board.pk)) == {a.pk, b.pk}
    day = lambda d: (now - timedelta(days=d)).date().isoformat()  # noqa: E731
    assert found(**{"from": day(5)}) == {b.pk, c.pk}
    assert found(**{"to": day(5)}) == {a.pk}
    assert found(**{"from": day(11), "to": day(9)}) == {a.pk}
    assert found(q="lighthouse") == {a.pk, c.pk}
    assert found(q="green lighthouse") == {c.pk}
    assert found(q="lighthouse", author="bob") == {c.pk}


def test_filter_form_is_bookmarkable_and_keeps_its_values(cast, make_image):
    make_image(cast.owner)
    html = cast.client("owner").get(reverse("gallery:team"), {"q": "whale", "ratio": "16:9", "fav": "1"}).content.decode()
    assert 'name="q" value="whale"' in html
    assert '<option value="16:9" selected>' in html
    assert 'name="fav" value="1" checked' in html
    assert 'hx-push-url="true"' in html


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "yesterday"}, "from", "YYYY-MM-DD"),
        ({"from": "2026-02-10", "to": "2026-02-01"}, "to", "before the start"),
        ({"sort": "sideways"}, "sort", "Unknown order"),
        ({"board": "x"}, "board", "Unknown board"),
        ({"after": "%%%not-a-cursor"}, "after", "damaged"),
    ],
)
def test_bad_filter_values_get_a_message_not_an_error(cast, make_image, params, field, message):
    image = make_image(cast.owner)
    response = cast.client("owner").get(reverse("gallery:mine"), params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert image.pk in tiles(response)


def test_damaged_cursor_on_the_pager_answers_400(cast, make_image):
    make_image(cast.owner)
    response = cast.client("owner").get(reverse("gallery:mine"), {"after": "bm9wZQ"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400


def test_cursor_of_another_order_is_refused():
    stamp = timezone.now()
    fake = Image(pk=5, created_at=stamp)
    cursor = browse.encode_cursor(fake, sort="new")
    assert browse.decode_cursor(cursor, sort="new")[:2] == (stamp, 5)
    with pytest.raises(browse.CursorError):
        browse.decode_cursor(cursor, sort="old")


def test_search_ranks_on_postgresql_and_matches_words_on_sqlite(cast, make_image):
    now = timezone.now()
    weak = make_image(cast.owner, prompt="a whale in a big painting of many things at sea", created_at=now)
    strong = make_image(cast.owner, prompt="whale whale whale", created_at=now - timedelta(days=2))
    make_image(cast.owner, prompt="a lighthouse", created_at=now - timedelta(days=1))
    response = cast.client("owner").get(reverse("gallery:mine"), {"q": "Whale"})
    order = tiles(response)
    if connection.vendor == "postgresql":
        assert order == [strong.pk, weak.pk]  # best match first, not newest
        assert '<option value="relevance" selected>' in response.content.decode()
        assert tiles(cast.client("owner").get(reverse("gallery:mine"), {"q": "whales"})) == [strong.pk, weak.pk]  # stemming
    else:
        assert order == [weak.pk, strong.pk]  # newest first
        assert "relevance" not in response.content.decode()
    newest = tiles(cast.client("owner").get(reverse("gallery:mine"), {"q": "whale", "sort": "new"}))
    assert newest == [weak.pk, strong.pk]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text ranking is PostgreSQL's")
def test_relevance_pages_walk_every_match_once(cast, make_image, monkeypatch):
    monkeypatch.setattr(browse, "PAGE_SIZE", 2)
    prompts = ["whale", "whale whale", "whale song", "a whale", "whale whale whale", "grey whale", "whale"]
    made = [make_image(cast.owner, prompt=p).pk for p in prompts]
    seen: list[int] = []
    params: dict[str, str] = {"q": "whale"}
    for _ in range(10):
        response = cast.client("owner").get(reverse("gallery:mine"), params, HTTP_HX_REQUEST="true")
        seen += tiles(response)
        cursor = re.search(r"after=([\w-]+)", response.content.decode())
        if not cursor:
            break
        params = {"q": "whale", "after": cursor.group(1)}
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


def test_page_query_count_is_constant_and_small(cast, make_image, django_assert_max_num_queries):
    client = cast.client("owner")
    make_image(cast.owner)
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="B")

    def count(url: str, **headers: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url, {"fav": "1", "q": "whale", "board": board.pk}, **headers).status_code == 200
        return len(captured)

    few = {url: (count(url), count(url, HTTP_HX_REQUEST="true")) for url in (reverse("gallery:team"), reverse("gallery:mine"))}
    for n in range(12):
        image = make_image(cast.owner, prompt=f"whale {n}", thumbnail=n % 2 == 0)
        services.set_favourite(image=image, user=cast.owner.user, favourite=True)
        services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[image.pk])
    many = {url: (count(url), count(url, HTTP_HX_REQUEST="true")) for url in few}
    assert many == few
    for url in few:
        with django_assert_max_num_queries(8):
            client.get(url)
        with django_assert_max_num_queries(8):
            client.get(url, HTTP_HX_REQUEST="true")
    with django_assert_max_num_queries(8):
        client.get(reverse("gallery:board", args=[board.pk]))


def test_board_page_lists_its_images_and_removes_one_by_one(cast, make_image):
    a, b = make_image(cast.owner, prompt="a"), make_image(cast.owner, prompt="b")
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Two")
    services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[a.pk, b.pk])
    client = cast.client("owner")
    page = client.get(reverse("gallery:board", args=[board.pk]))
    assert set(tiles(page)) == {a.pk, b.pk}
    assert reverse("gallery:board_remove", args=[board.pk, a.pk]) in page.content.decode()
    response = client.post(reverse("gallery:board_remove", args=[board.pk, a.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    assert set(tiles(client.get(reverse("gallery:board", args=[board.pk])))) == {b.pk}
    # The teammate sees the board but no remove buttons.
    html = cast.client("teammate").get(reverse("gallery:board", args=[board.pk])).content.decode()
    assert "board_remove" not in html and "/remove/" not in html and str(b.pk) in html
