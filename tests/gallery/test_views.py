from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from gallery.models import Image, Visibility
from studio.services import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_job(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        spec = jobs.validate_job(membership=designer, model="test-model", prompt="a blue whale", count=2)
        job = jobs.submit_job(membership=designer, spec=spec)
    return job


def test_my_images_grid_and_detail(designer_client, finished_job):
    html = designer_client.get(reverse("gallery:mine")).content.decode()
    images = list(Image.objects.filter(job=finished_job))
    for image in images:
        assert reverse("gallery:thumbnail", args=[image.pk]) in html
        assert f'width="{image.thumb_width}"' in html
    detail = designer_client.get(reverse("gallery:detail", args=[images[0].pk])).content.decode()
    assert "a blue whale" in detail and "Demo render" in detail and images[0].sha256 in detail


def test_original_is_byte_exact_and_thumbnail_is_webp(designer_client, finished_job):
    image = Image.objects.filter(job=finished_job).first()
    response = designer_client.get(reverse("gallery:original", args=[image.pk]), {"download": "1"})
    body = b"".join(response.streaming_content)
    import hashlib

    assert hashlib.sha256(body).hexdigest() == image.sha256 and len(body) == image.byte_size
    assert "attachment" in response["Content-Disposition"]
    thumb = designer_client.get(reverse("gallery:thumbnail", args=[image.pk]))
    assert thumb["Content-Type"] == "image/webp" and b"".join(thumb.streaming_content)[8:12] == b"WEBP"


@pytest.mark.parametrize("view", ["gallery:detail", "gallery:original", "gallery:thumbnail"])
def test_images_of_another_account_answer_404(finished_job, make_member, view, team):
    from studio.models import User
    from studio.services import teams

    image = Image.objects.filter(job=finished_job).first()
    Image.objects.filter(pk=image.pk).update(visibility=Visibility.PRIVATE)
    teammate = make_member("teammate")
    outsider_user = User.objects.create_user(username="outsider", password="pw-outsider-1")
    teams.create_team(name="Other", owner=outsider_user)
    for user in (teammate.user, outsider_user):
        client = Client()
        client.force_login(user)
        assert client.get(reverse(view, args=[image.pk])).status_code == 404
    anonymous = Client().get(reverse(view, args=[image.pk]))
    assert anonymous.status_code == 302
    Image.objects.filter(pk=image.pk).update(visibility=Visibility.TEAM)
    client = Client()
    client.force_login(teammate.user)
    assert client.get(reverse(view, args=[image.pk])).status_code == 200


def test_keyset_pagination_walks_every_image_once(designer_client, designer, finished_job, monkeypatch):
    from gallery import browse

    monkeypatch.setattr(browse, "PAGE_SIZE", 3)
    source = Image.objects.get(job=finished_job, index=0)
    for i in range(5):
        source.pk = None
        source.index = 10 + i
        source.save()
    seen: list[int] = []
    url = reverse("gallery:mine")
    params: dict[str, str] = {}
    for _ in range(10):
        response = designer_client.get(url, params, HTTP_HX_REQUEST="true")
        html = response.content.decode()
        seen += [int(chunk.split("/")[0]) for chunk in html.split('href="/gallery/')[1:] if chunk.split("/")[0].isdigit()]
        if "?after=" not in html:
            break
        params = {"after": html.split("?after=")[1].split('"')[0]}
    assert sorted(seen) == sorted(Image.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 7


def test_grid_page_query_count_is_constant(designer_client, finished_job, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        designer_client.get(reverse("gallery:mine"), HTTP_HX_REQUEST="true")


# -- detail page and its actions ---------------------------------------------------------
def test_detail_shows_every_parameter_and_the_actions(cast, make_image):
    from urllib.parse import parse_qs, urlparse

    image = make_image(cast.owner, prompt="a fox & a hound", aspect_ratio="16:9")
    html = cast.client("owner").get(reverse("gallery:detail", args=[image.pk])).content.decode()
    # Names people read, not the stored identifiers (issue 15): model, tier and provider display names.
    for text in ("a fox &amp; a hound", "Test Model · Standard · OpenAI Images", "16:9", "alice", "20 credits per image", image.sha256):
        assert text in html, text
    assert "<dt>Seed</dt><dd>7</dd>" in html
    remix = re.search(r'href="(/\?[^"]*model=[^"]+)">Remix', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlparse(remix).query) == {"model": ["test-model"], "prompt": ["a fox & a hound"], "aspect_ratio": ["16:9"]}
    assert f'href="/?reference={image.pk}">Use as reference' in html
    assert 'data-copy="#prompt-text"' in html and 'id="prompt-text" readonly' in html
    for fmt in ("png", "jpeg", "webp"):
        assert reverse("gallery:convert", args=[image.pk, fmt]) in html
    assert reverse("gallery:share", args=[image.pk]) in html and reverse("gallery:delete", args=[image.pk]) in html
    teammate_view = cast.client("teammate").get(reverse("gallery:detail", args=[image.pk])).content.decode()
    assert reverse("gallery:share", args=[image.pk]) not in teammate_view
    assert reverse("gallery:delete", args=[image.pk]) not in teammate_view
    assert reverse("gallery:favourite", args=[image.pk]) in teammate_view


def test_lineage_across_refinement(cast, make_image):
    parent = make_image(cast.owner, prompt="first try")
    child = make_image(cast.owner, prompt="second try", parent=parent.job)
    grandchild_private = make_image(cast.owner, prompt="third try", parent=child.job, visibility=Visibility.PRIVATE)
    html = cast.client("owner").get(reverse("gallery:detail", args=[child.pk])).content.decode()
    assert "Refined from" in html and reverse("gallery:detail", args=[parent.pk]) in html
    assert "Refinements" in html and reverse("gallery:detail", args=[grandchild_private.pk]) in html
    teammate_html = cast.client("teammate").get(reverse("gallery:detail", args=[child.pk])).content.decode()
    assert reverse("gallery:detail", args=[grandchild_private.pk]) not in teammate_html


@pytest.mark.parametrize(("fmt", "mime", "magic"), [("png", "image/png", b"\x89PNG"), ("jpeg", "image/jpeg", b"\xff\xd8"), ("webp", "image/webp", b"RIFF")])
def test_conversions_download_in_each_format(cast, make_image, fmt, mime, magic):
    image = make_image(cast.owner)
    response = cast.client("teammate").get(reverse("gallery:convert", args=[image.pk, fmt]))
    assert response.status_code == 200 and response["Content-Type"] == mime
    assert response.content.startswith(magic) and "attachment" in response["Content-Disposition"]
    assert cast.client("teammate").get(reverse("gallery:convert", args=[image.pk, "bmp"])).status_code == 404


def test_favourite_toggles_with_and_without_htmx(cast, make_image):
    from gallery.models import Favourite

    image = make_image(cast.owner)
    client = cast.client("teammate")
    url = reverse("gallery:favourite", args=[image.pk])
    response = client.post(url, {"favourite": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "★ Favourite" in response.content.decode() and "<html" not in response.content.decode()
    client.post(url, {"favourite": "1"}, HTTP_HX_REQUEST="true")  # twice is still once
    assert Favourite.objects.filter(image=image, user=cast.teammate.user).count() == 1
    response = client.post(url, {"favourite": "0"})
    assert response.status_code == 302 and not Favourite.objects.filter(image=image).exists()


def test_visibility_change_takes_an_image_out_of_the_team_gallery(cast, make_image):
    image = make_image(cast.owner)
    owner = cast.client("owner")
    assert image.pk in _tiles(cast.client("teammate").get(reverse("gallery:team")))
    owner.post(reverse("gallery:visibility", args=[image.pk]), {"visibility": "private"})
    assert image.pk not in _tiles(cast.client("teammate").get(reverse("gallery:team")))
    response = owner.post(reverse("gallery:visibility", args=[image.pk]), {"visibility": "public"}, follow=True)
    assert "Choose" in response.content.decode()
    image.refresh_from_db()
    assert image.visibility == Visibility.PRIVATE


def test_delete_moves_to_trash_and_restore_brings_it_back(cast, make_image):
    image = make_image(cast.owner)
    owner = cast.client("owner")
    response = owner.post(reverse("gallery:delete", args=[image.pk]))
    assert response.status_code == 302
    assert owner.get(reverse("gallery:detail", args=[image.pk])).status_code == 404
    assert owner.get(reverse("gallery:original", args=[image.pk])).status_code == 404
    trash = owner.get(reverse("gallery:trash")).content.decode()
    assert reverse("gallery:restore", args=[image.pk]) in trash
    assert cast.client("teammate").post(reverse("gallery:restore", args=[image.pk])).status_code == 404
    owner.post(reverse("gallery:restore", args=[image.pk]))
    assert owner.get(reverse("gallery:detail", args=[image.pk])).status_code == 200
    htmx = owner.post(reverse("gallery:delete", args=[image.pk]), HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"] == reverse("gallery:mine")


def test_share_link_made_and_revoked_from_the_page(cast, make_image):
    image = make_image(cast.owner)
    owner = cast.client("owner")
    owner.post(reverse("gallery:share", args=[image.pk]), {"expires_in_days": "7"})
    link = image.share_links.get()
    assert link.expires_at is not None
    page = owner.get(reverse("gallery:detail", args=[image.pk])).content.decode()
    assert reverse("gallery:shared", args=[link.token]) in page
    assert Client().get(reverse("gallery:shared", args=[link.token])).status_code == 200
    owner.post(reverse("gallery:share_revoke", args=[link.pk]))
    assert Client().get(reverse("gallery:shared", args=[link.token])).status_code == 404
    bad = owner.post(reverse("gallery:share", args=[image.pk]), {"expires_in_days": "soon"}, follow=True)
    assert "number of days" in bad.content.decode() and image.share_links.count() == 1
    too_long = owner.post(reverse("gallery:share", args=[image.pk]), {"expires_in_days": "999"}, follow=True)
    assert "between 1 and 365" in too_long.content.decode() and image.share_links.count() == 1


def test_boards_create_rename_delete(cast, make_image):
    from gallery.models import Board

    image = make_image(cast.owner)
    owner = cast.client("owner")
    response = owner.post(reverse("gallery:boards"), {"name": "  Campaign   spring ", "visibility": "team"})
    board = Board.objects.get()
    assert response["Location"] == reverse("gallery:board", args=[board.pk]) and board.name == "Campaign spring"
    duplicate = owner.post(reverse("gallery:boards"), {"name": "Campaign spring"})
    assert duplicate.status_code == 400 and "already have a board" in duplicate.content.decode()
    empty = owner.post(reverse("gallery:boards"), {"name": "   "})
    assert empty.status_code == 400 and "Give the board a name" in empty.content.decode()
    owner.post(reverse("gallery:add_to_board", args=[image.pk]), {"board": board.pk})
    assert list(board.items.values_list("image_id", flat=True)) == [image.pk]
    owner.post(reverse("gallery:add_to_board", args=[image.pk]), {"new_board": "Fresh"})
    assert Board.objects.get(name="Fresh").items.filter(image=image).exists()
    owner.post(reverse("gallery:board_update", args=[board.pk]), {"name": "Summer", "visibility": "private"})
    board.refresh_from_db()
    assert board.name == "Summer" and board.visibility == "private"
    listing = owner.get(reverse("gallery:boards")).content.decode()
    assert "Summer" in listing and "1 image" in listing
    owner.post(reverse("gallery:board_delete", args=[board.pk]))
    assert not Board.objects.filter(pk=board.pk).exists()
    assert Image.objects.filter(pk=image.pk).exists()


def test_bulk_selection_adds_removes_and_zips(cast, make_image):
    import io
    import zipfile

    from gallery import services

    mine = [make_image(cast.owner, prompt=f"pick {n}") for n in range(3)]
    hidden = make_image(cast.teammate, prompt="bob's private", visibility=Visibility.PRIVATE)
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Bulk")
    owner = cast.client("owner")
    ids = [i.pk for i in mine] + [hidden.pk]
    back = reverse("gallery:team") + "?q=pick"
    response = owner.post(reverse("gallery:selection"), {"action": "add", "board": board.pk, "image": ids, "next": back})
    assert response["Location"] == back
    assert set(board.items.values_list("image_id", flat=True)) == {i.pk for i in mine}
    owner.post(reverse("gallery:selection"), {"action": "remove", "board": board.pk, "image": [mine[0].pk]})
    assert set(board.items.values_list("image_id", flat=True)) == {mine[1].pk, mine[2].pk}
    zipped = owner.post(reverse("gallery:selection"), {"action": "zip", "image": ids})
    assert zipped.streaming and zipped["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content))) as archive:
        assert sorted(archive.namelist()) == sorted(i.download_name for i in mine)
        for image in mine:
            from gallery.services import load_image_bytes

            assert archive.read(image.download_name) == load_image_bytes(image)
    nothing = owner.post(reverse("gallery:selection"), {"action": "zip"}, follow=True)
    assert "Tick at least one image" in nothing.content.decode()
    outside = owner.post(reverse("gallery:selection"), {"action": "add", "board": board.pk, "image": [mine[0].pk], "next": "https://evil.example/"})
    assert outside["Location"] == reverse("gallery:team")


def test_svg_original_is_an_attachment_under_a_strict_policy(cast, make_image):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="red"/></svg>'
    image = make_image(cast.owner, data=svg, mime_type="image/svg+xml")
    for url in (reverse("gallery:original", args=[image.pk]), reverse("gallery:original", args=[image.pk]) + "?download=1"):
        response = cast.client("owner").get(url)
        assert response["Content-Type"] == "image/svg+xml"
        assert response["Content-Disposition"].startswith("attachment")
        assert response["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        assert response["X-Content-Type-Options"] == "nosniff"
    thumb = cast.client("owner").get(reverse("gallery:thumbnail", args=[image.pk]))
    assert thumb["Content-Type"] == "image/webp"
    png = cast.client("owner").get(reverse("gallery:convert", args=[image.pk, "png"]))
    assert png.content.startswith(b"\x89PNG")


def test_thumbnail_falls_back_to_the_original_until_made(cast, make_image):
    image = make_image(cast.owner, thumbnail=False)
    response = cast.client("owner").get(reverse("gallery:thumbnail", args=[image.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("gallery:original", args=[image.pk])
    assert response["Cache-Control"] == "private, no-store"


def _tiles(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="tile-(\d+)"', response.content.decode())]
