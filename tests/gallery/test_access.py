"""The access matrix: owner, team member, member of another team, anonymous and share-link
holder × page, original, thumbnail and board ZIP. Anything not allowed answers 404 (or,
for an anonymous visitor on a signed-in URL, a redirect to sign in), and never bytes."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gallery import services
from gallery.models import Visibility
from tests.gallery.conftest import body_of

pytestmark = pytest.mark.django_db

WHO = ("owner", "teammate", "outsider", "anonymous", "share_holder")
RESOURCES = ("page", "original", "thumbnail", "zip")

# visibility -> who -> what they get on every resource
EXPECTED = {
    Visibility.TEAM: {"owner": "ok", "teammate": "ok", "outsider": "404", "anonymous": "login", "share_holder": "ok"},
    Visibility.PRIVATE: {"owner": "ok", "teammate": "404", "outsider": "404", "anonymous": "login", "share_holder": "ok"},
}


@pytest.fixture
def world(cast, make_image):
    """An image of alice's on a board of hers with the same visibility, and a share link."""
    def build(visibility: str):
        image = make_image(cast.owner, visibility=visibility, prompt="matrix image")
        board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Matrix", visibility=visibility)
        services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[image.pk])
        link = services.create_share_link(image=image, user=cast.owner.user)
        return image, board, link

    return build


def _url(resource: str, *, who: str, image, board, link) -> str:
    if who == "share_holder" and resource != "zip":
        # A share link opens the shared page and files, nothing else.
        name = {"page": "gallery:shared", "original": "gallery:shared_original", "thumbnail": "gallery:shared_thumbnail"}[resource]
        return reverse(name, args=[link.token])
    if resource == "zip":
        return reverse("gallery:board_zip", args=[board.pk])
    name = {"page": "gallery:detail", "original": "gallery:original", "thumbnail": "gallery:thumbnail"}[resource]
    return reverse(name, args=[image.pk])


@pytest.mark.parametrize("visibility", [Visibility.TEAM, Visibility.PRIVATE])
@pytest.mark.parametrize("who", WHO)
def test_access_matrix(cast, world, who, visibility):
    image, board, link = world(visibility)
    original = services.load_image_bytes(image)
    client = cast.client(who)
    for resource in RESOURCES:
        expected = EXPECTED[visibility][who]
        if who == "share_holder" and resource == "zip":
            expected = "login"  # a share link grants one image, never a board
        response = client.get(_url(resource, who=who, image=image, board=board, link=link))
        body = body_of(response)
        context = f"{who} × {resource} ({visibility})"
        if expected == "ok":
            assert response.status_code == 200, context
            if resource == "original":
                assert body == original, context
            if resource == "thumbnail":
                assert body[8:12] == b"WEBP", context
            if resource == "zip":
                with zipfile.ZipFile(io.BytesIO(body)) as archive:
                    assert archive.read(image.download_name) == original, context
            if resource == "page":
                assert b"matrix image" in body, context
        elif expected == "404":
            assert response.status_code == 404, context
            assert original not in body, context
        else:
            assert response.status_code == 302, context
            assert response["Location"].startswith(reverse("login")), context
            assert original not in body and not body.startswith(b"PK"), context


def test_team_board_zip_leaves_out_images_the_member_cannot_see(cast, make_image):
    shared = make_image(cast.owner, prompt="for everyone")
    private = make_image(cast.owner, prompt="just mine", visibility=Visibility.PRIVATE)
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Mixed")
    services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[shared.pk, private.pk])
    body = body_of(cast.client("teammate").get(reverse("gallery:board_zip", args=[board.pk])))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [shared.download_name]
    body = body_of(cast.client("owner").get(reverse("gallery:board_zip", args=[board.pk])))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == sorted([shared.download_name, private.download_name])


@pytest.mark.parametrize("change", ["revoked", "expired", "deleted"])
def test_a_dead_share_link_answers_404_everywhere(cast, make_image, change):
    image = make_image(cast.owner, prompt="short-lived")
    link = services.create_share_link(image=image, user=cast.owner.user, expires_in_days=1)
    if change == "revoked":
        services.revoke_share_link(link=link, user=cast.owner.user)
    elif change == "expired":
        type(link).objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        services.delete_image(image=image, user=cast.owner.user)
    anonymous = cast.client("anonymous")
    for name in ("gallery:shared", "gallery:shared_original", "gallery:shared_thumbnail"):
        response = anonymous.get(reverse(name, args=[link.token]))
        assert response.status_code == 404, name
    assert anonymous.get(reverse("gallery:shared", args=["not-a-token"])).status_code == 404


def test_share_page_shows_that_image_only(cast, make_image):
    image = make_image(cast.owner, prompt="the shared one")
    make_image(cast.owner, prompt="a neighbour that must not show")
    link = services.create_share_link(image=image, user=cast.owner.user)
    response = cast.client("anonymous").get(reverse("gallery:shared", args=[link.token]))
    html = response.content.decode()
    assert response.status_code == 200 and "the shared one" in html
    assert "a neighbour" not in html and reverse("gallery:detail", args=[image.pk]) not in html
    assert response["Referrer-Policy"] == "no-referrer"
    download = cast.client("anonymous").get(reverse("gallery:shared_original", args=[link.token]), {"download": "1"})
    assert body_of(download) == services.load_image_bytes(image)
    assert "attachment" in download["Content-Disposition"]


def test_only_the_owner_manages_an_image(cast, make_image):
    image = make_image(cast.owner)
    teammate = cast.client("teammate")
    for name, data in (
        ("gallery:visibility", {"visibility": "private"}),
        ("gallery:share", {}),
        ("gallery:delete", {}),
    ):
        assert teammate.post(reverse(name, args=[image.pk]), data).status_code == 404, name
    image.refresh_from_db()
    assert image.visibility == Visibility.TEAM and image.deleted_at is None and not image.share_links.exists()
    link = services.create_share_link(image=image, user=cast.owner.user)
    assert teammate.post(reverse("gallery:share_revoke", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None
    # The outsider cannot even favourite or board it.
    outsider = cast.client("outsider")
    assert outsider.post(reverse("gallery:favourite", args=[image.pk]), {"favourite": "1"}).status_code == 404


def test_boards_of_others_cannot_be_changed(cast, make_image):
    image = make_image(cast.owner)
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Alice's")
    teammate = cast.client("teammate")
    assert teammate.get(reverse("gallery:board", args=[board.pk])).status_code == 200
    assert teammate.post(reverse("gallery:board_update", args=[board.pk]), {"name": "Bob's now"}).status_code == 404
    assert teammate.post(reverse("gallery:board_delete", args=[board.pk])).status_code == 404
    response = teammate.post(
        reverse("gallery:selection"), {"action": "add", "board": board.pk, "image": [image.pk]}
    )
    assert response.status_code == 302
    assert not board.items.exists()
    board.refresh_from_db()
    assert board.name == "Alice's"
    assert cast.client("outsider").get(reverse("gallery:board", args=[board.pk])).status_code == 404


def test_private_board_is_hidden_from_the_team(cast):
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Secret", visibility=Visibility.PRIVATE)
    assert cast.client("teammate").get(reverse("gallery:board", args=[board.pk])).status_code == 404
    assert cast.client("teammate").get(reverse("gallery:board_zip", args=[board.pk])).status_code == 404
    assert cast.client("owner").get(reverse("gallery:board", args=[board.pk])).status_code == 200


def test_references_follow_the_image_rules(cast, ai_model, django_capture_on_commit_callbacks):
    from gallery.models import Image
    from studio.services import jobs
    from tests.images import make_png

    with django_capture_on_commit_callbacks(execute=True):
        spec = jobs.validate_job(
            membership=cast.owner,
            model="test-model",
            prompt="edit this",
            references=[jobs.Upload(make_png(40, 40, "green"), "ref.png")],
        )
        job = jobs.submit_job(membership=cast.owner, spec=spec)
    image = Image.objects.get(job=job)
    reference = job.inputs.get()
    url = reverse("gallery:input", args=[image.pk, reference.pk])
    expected = reference.file.open("rb").read()
    assert body_of(cast.client("owner").get(url)) == expected
    assert body_of(cast.client("teammate").get(url)) == expected
    assert cast.client("outsider").get(url).status_code == 404
    assert cast.client("anonymous").get(url).status_code == 302
    Image.objects.filter(pk=image.pk).update(visibility=Visibility.PRIVATE)
    assert cast.client("teammate").get(url).status_code == 404
    # An input of another job is not reachable through this image.
    other = cast.client("owner").get(reverse("gallery:input", args=[image.pk, reference.pk + 999]))
    assert other.status_code == 404
    detail = cast.client("owner").get(reverse("gallery:detail", args=[image.pk])).content.decode()
    assert url in detail
