"""Gallery services: byte-exact content-addressed storage, thumbnails in a task, soft delete
and purge with shared files, boards, favourites and share links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from gallery import services
from gallery.files import thumbnail_name
from gallery.imaging import average_colour
from gallery.models import Board, BoardItem, Favourite, Image, ShareLink, Visibility
from gallery.services import DEFAULT_PLACEHOLDER, GalleryError, NotAllowed, load_image_bytes
from providers.types import GeneratedImage, GenerationResult
from studio.models import JobStatus
from studio.services import credits, jobs
from tests.images import make_image as encode_image
from tests.images import make_png

pytestmark = pytest.mark.django_db


def test_save_keeps_bytes_exactly_and_stores_identical_bytes_once():
    data = make_png(30, 20, "purple")
    first = services.save_image_file(data=data, mime_type="image/png")
    second = services.save_image_file(data=data, mime_type="image/png")
    assert first == second
    assert first.name == f"images/{first.sha256[:2]}/{first.sha256}.png"
    assert (first.width, first.height, first.byte_size) == (30, 20, len(data))
    assert default_storage.open(first.name).read() == data
    _, names = default_storage.listdir(f"images/{first.sha256[:2]}")
    assert names == [f"{first.sha256}.png"]
    assert first.placeholder_colour == "#800080"


def test_thumbnail_is_made_by_a_task_after_commit(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="a cat"))
    # Run the job itself without running what its completion enqueues.
    with django_capture_on_commit_callbacks(execute=False) as after_completion:
        jobs.run_job(job_id=job.pk)
    image = Image.objects.get(job=job)
    # A provider's result is stored undecoded (issue 12): its mean colour comes with the thumbnail.
    assert image.thumbnail.name == "" and image.placeholder_colour == DEFAULT_PLACEHOLDER
    for callback in after_completion:
        callback()  # the thumbnail task among them, as the worker would run it
    image.refresh_from_db()
    assert image.thumbnail.name == thumbnail_name(image.sha256)
    assert 0 < image.thumb_width <= 512 and 0 < image.thumb_height <= 512
    # The mean of the thumbnail's reduced copy: the full image's mean to a unit or two per channel.
    measured, full = image.placeholder_colour, average_colour(load_image_bytes(image))
    assert measured != DEFAULT_PLACEHOLDER
    assert all(abs(int(measured[i:i + 2], 16) - int(full[i:i + 2], 16)) <= 2 for i in (1, 3, 5)), (measured, full)
    assert default_storage.open(image.thumbnail.name).read()[8:12] == b"WEBP"
    services.make_thumbnail(image_id=image.pk)  # a second delivery changes nothing
    services.make_thumbnail(image_id=999_999)  # a vanished row is ignored


def test_rows_with_the_same_bytes_share_the_thumbnail(cast, make_image):
    data = make_png(64, 64, "orange")
    first = make_image(cast.owner, data=data, thumbnail=False)
    second = make_image(cast.teammate, data=data, thumbnail=False)
    assert first.file.name == second.file.name
    services.make_thumbnail(image_id=first.pk)
    second.refresh_from_db()
    assert second.thumbnail.name == thumbnail_name(first.sha256)


def test_missing_thumbnails_are_enqueued_again(cast, make_image, monkeypatch):
    old = make_image(cast.owner, thumbnail=False, created_at=timezone.now() - timedelta(hours=1))
    make_image(cast.owner, thumbnail=False)  # too recent: its task may still be on the way
    enqueued: list[int] = []
    monkeypatch.setattr(services, "enqueue_thumbnail", lambda image_id: enqueued.append(image_id))
    assert services.enqueue_missing_thumbnails() == 1
    assert enqueued == [old.pk]


def test_svg_output_is_sanitised_stored_and_thumbnailed(designer, ai_model, django_capture_on_commit_callbacks):
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" onload="alert(1)">'
        b'<script>alert(1)</script><rect width="120" height="60" fill="#0000ff"/></svg>'
    )
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="a logo"))
    jobs.claim_job(job_id=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.complete_job(job_id=job.pk, result=GenerationResult(images=(GeneratedImage(svg, "image/svg+xml", 0, 0),)))
    image = Image.objects.get(job=job)
    stored = default_storage.open(image.file.name).read()
    assert b"script" not in stored and b"onload" not in stored and b"#0000ff" in stored
    assert image.sha256 == services.imaging.sha256_hex(stored) and image.file.name.endswith(".svg")
    assert (image.width, image.height, image.mime_type) == (120, 60, "image/svg+xml")
    assert image.thumbnail and (image.thumb_width, image.thumb_height) == (120, 60)


def test_an_svg_we_refuse_fails_the_job_and_returns_the_credits(designer, ai_model, django_capture_on_commit_callbacks):
    bomb = b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>'
    before = credits.member_balance(membership=designer)
    with django_capture_on_commit_callbacks(execute=False):
        job = jobs.submit_job(membership=designer, spec=jobs.validate_job(membership=designer, model="test-model", prompt="a logo", count=2))
    jobs.claim_job(job_id=job.pk)
    good = make_png(10, 10, "red")
    result = GenerationResult(images=(GeneratedImage(good, "image/png", 10, 10), GeneratedImage(bomb, "image/svg+xml", 0, 0)))
    job = jobs.complete_job(job_id=job.pk, result=result)
    assert job.status == JobStatus.FAILED and "DTD" in job.error_message
    assert credits.member_balance(membership=designer) == before
    assert not Image.objects.filter(job=job).exists()
    sha = services.imaging.sha256_hex(good)
    assert not default_storage.exists(f"images/{sha[:2]}/{sha}.png")


def test_gif_is_kept_without_a_thumbnail(cast, make_image):
    gif = encode_image("GIF", 20, 10, "green")
    image = make_image(cast.owner, data=gif, mime_type="image/gif")
    assert (image.width, image.height) == (20, 10)
    assert image.file.name.endswith(".gif") and image.thumbnail.name == ""
    assert default_storage.open(image.file.name).read() == gif


# -- delete, restore, purge --------------------------------------------------------
def test_soft_delete_restore_and_purge_keep_shared_files(cast, make_image):
    data = make_png(16, 16, "teal")
    shared_a = make_image(cast.owner, data=data)
    shared_b = make_image(cast.owner, data=data)
    alone = make_image(cast.owner, data=make_png(16, 16, "navy"))
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="B")
    services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[shared_a.pk, alone.pk])
    services.set_favourite(image=alone, user=cast.owner.user, favourite=True)
    services.create_share_link(image=alone, user=cast.owner.user)
    for image in (shared_a, alone):
        services.delete_image(image=image, user=cast.owner.user)
    assert set(Image.objects.live().values_list("pk", flat=True)) == {shared_b.pk}
    services.restore_image(image=shared_a, user=cast.owner.user)
    services.delete_image(image=shared_a, user=cast.owner.user)

    # Not yet 30 days: nothing goes.
    assert services.purge_deleted_images(now=timezone.now() + timedelta(days=29)) == 0
    later = timezone.now() + timedelta(days=31)
    assert services.purge_deleted_images(now=later) == 2
    assert set(Image.objects.values_list("pk", flat=True)) == {shared_b.pk}
    assert default_storage.exists(shared_b.file.name) and default_storage.exists(shared_b.thumbnail.name)
    assert not default_storage.exists(alone.file.name) and not default_storage.exists(alone.thumbnail.name)
    assert not BoardItem.objects.exists() and not Favourite.objects.exists() and not ShareLink.objects.exists()
    assert services.purge_deleted_images(now=later) == 0  # safe to re-run

    services.delete_image(image=shared_b, user=cast.owner.user)
    assert services.purge_deleted_images(now=timezone.now() + timedelta(days=31)) == 1
    assert not default_storage.exists(shared_b.file.name)


def test_a_soft_deleted_twin_keeps_the_file(cast, make_image):
    data = make_png(16, 16, "olive")
    old = make_image(cast.owner, data=data)
    twin = make_image(cast.teammate, data=data)
    services.delete_image(image=old, user=cast.owner.user)
    Image.objects.filter(pk=old.pk).update(deleted_at=timezone.now() - timedelta(days=40))
    services.delete_image(image=twin, user=cast.teammate.user)  # deleted, still restorable
    assert services.purge_deleted_images() == 1
    assert default_storage.exists(twin.file.name)
    services.restore_image(image=twin, user=cast.teammate.user)
    assert default_storage.open(twin.file.name).read() == data


def test_restore_after_the_window_is_refused(cast, make_image):
    image = make_image(cast.owner)
    Image.objects.filter(pk=image.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    image.refresh_from_db()
    with pytest.raises(GalleryError, match="30 days"):
        services.restore_image(image=image, user=cast.owner.user)


def test_only_the_owner_deletes_or_changes_visibility(cast, make_image):
    image = make_image(cast.owner)
    with pytest.raises(NotAllowed):
        services.delete_image(image=image, user=cast.teammate.user)
    with pytest.raises(NotAllowed):
        services.set_visibility(image=image, user=cast.teammate.user, visibility=Visibility.PRIVATE)
    with pytest.raises(GalleryError):
        services.set_visibility(image=image, user=cast.owner.user, visibility="world")
    services.set_visibility(image=image, user=cast.owner.user, visibility=Visibility.PRIVATE)
    image.refresh_from_db()
    assert image.visibility == Visibility.PRIVATE


# -- boards ------------------------------------------------------------------------
def test_board_rules(cast, make_image):
    visible = make_image(cast.teammate)
    hidden = make_image(cast.teammate, visibility=Visibility.PRIVATE)
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="  Launch  ")
    assert board.name == "Launch"
    with pytest.raises(GalleryError, match="already have"):
        services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="Launch")
    with pytest.raises(GalleryError, match="at most 100"):
        services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="x" * 101)
    # Someone else's private image cannot be put on a board, even by id.
    assert services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[visible.pk, hidden.pk, "junk"]) == 1
    assert services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[visible.pk]) == 0
    with pytest.raises(GalleryError, match="at least one"):
        services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[hidden.pk])
    with pytest.raises(NotAllowed):
        services.add_images_to_board(board=board, user=cast.teammate.user, image_ids=[visible.pk])
    with pytest.raises(NotAllowed):
        services.rename_board(board=board, user=cast.teammate.user, name="Mine")
    services.rename_board(board=board, user=cast.owner.user, name="Launch 2")
    assert services.remove_images_from_board(board=board, user=cast.owner.user, image_ids=[visible.pk]) == 1
    services.delete_board(board=board, user=cast.owner.user)
    assert not Board.objects.exists() and Image.objects.filter(pk=visible.pk).exists()


def test_zip_images_for_respects_visibility(cast, make_image):
    mine = make_image(cast.owner)
    theirs_private = make_image(cast.teammate, visibility=Visibility.PRIVATE)
    images = services.zip_images_for(user=cast.owner.user, image_ids=[mine.pk, theirs_private.pk])
    assert [i.pk for i in images] == [mine.pk]


# -- share links -------------------------------------------------------------------
def test_share_links(cast, make_image):
    image = make_image(cast.owner)
    with pytest.raises(NotAllowed):
        services.create_share_link(image=image, user=cast.teammate.user)
    with pytest.raises(GalleryError):
        services.create_share_link(image=image, user=cast.owner.user, expires_in_days=0)
    forever = services.create_share_link(image=image, user=cast.owner.user)
    week = services.create_share_link(image=image, user=cast.owner.user, expires_in_days=7)
    assert len(forever.token) >= 32 and forever.token != week.token
    assert services.shared_image(token=forever.token) == image
    ShareLink.objects.filter(pk=week.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.shared_image(token=week.token) is None
    services.revoke_share_link(link=forever, user=cast.owner.user)
    assert services.shared_image(token=forever.token) is None
    assert services.parse_expiry_days("") is None and services.parse_expiry_days(" 3 ") == 3
    with pytest.raises(GalleryError):
        services.parse_expiry_days("three")
