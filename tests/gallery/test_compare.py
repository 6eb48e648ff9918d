"""Before and after on the image page: an edit beside (or, with JS, over) the gallery image it came from."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from gallery.models import Image, Visibility
from studio.models import Job, JobInput
from tests.images import make_png

pytestmark = pytest.mark.django_db


def with_reference(image: Image, name: str) -> Image:
    """Record `name` as the first reference of `image`'s job, as the composer stores it."""
    record = JobInput(job=image.job, position=0, mime_type="image/png", width=48, height=32, original_name=name)
    record.file.save("input.png", ContentFile(make_png(48, 32)), save=False)
    record.save()
    return image


def detail(client, image: Image) -> str:
    response = client.get(reverse("gallery:detail", args=[image.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_edit_made_through_the_composer_shows_its_source_before_and_after(cast, make_image, django_capture_on_commit_callbacks):
    source = make_image(cast.owner, prompt="a quiet harbour")
    client = cast.client("owner")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("studio:home"),
            {"model": "test-model", "prompt": "add a red boat", "reference_image": [str(source.pk)]},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200
    edit = Image.objects.filter(job=Job.objects.order_by("-id").first()).first()
    assert edit is not None and edit.pk != source.pk
    html = detail(client, edit)
    section = html[html.index('<section class="compare"'):html.index("</section>", html.index('<section class="compare"'))]
    # Without JS: both images, each captioned, the source linked; the slider waits for gallery.js.
    assert f'src="{reverse("gallery:original", args=[source.pk])}"' in section
    assert f'src="{reverse("gallery:original", args=[edit.pk])}"' in section
    assert f'Before: <a href="{reverse("gallery:detail", args=[source.pk])}">the source image</a>' in section
    assert "After: this edit" in section
    assert '<label for="compare-range">' in section and 'type="range" id="compare-range"' in section
    assert '<p class="compare-control" hidden>' in section
    # The source itself is no edit: no comparison on its page.
    assert 'class="compare"' not in detail(client, source)


def test_no_comparison_when_the_viewer_may_not_see_the_source(cast, make_image):
    source = make_image(cast.owner, prompt="private sketch", visibility=Visibility.PRIVATE)
    edit = with_reference(make_image(cast.owner, prompt="coloured in"), f"gallery-{source.pk}.png")
    assert 'class="compare"' in detail(cast.client("owner"), edit)
    teammate_view = detail(cast.client("teammate"), edit)
    assert 'class="compare"' not in teammate_view
    assert reverse("gallery:original", args=[source.pk]) not in teammate_view
    # Nor once the source is in the trash.
    Image.objects.filter(pk=source.pk).update(deleted_at=timezone.now())
    assert 'class="compare"' not in detail(cast.client("owner"), edit)


def test_an_uploaded_reference_is_not_a_gallery_source(cast, make_image):
    edit = with_reference(make_image(cast.owner, prompt="from a photo"), "gallery-1.png.jpg")
    other = with_reference(make_image(cast.owner, prompt="from another photo"), "holiday.png")
    for image in (edit, other):
        assert 'class="compare"' not in detail(cast.client("owner"), image)


def test_a_turn_without_references_compares_with_its_parent_image(cast, make_image):
    # A conversation turn (Gemini keeps the history) sends no reference: the parent's image is the source.
    parent = make_image(cast.owner, prompt="a castle")
    turn = make_image(cast.owner, prompt="now at night", parent=parent.job)
    html = detail(cast.client("teammate"), turn)
    assert 'class="compare"' in html and f'src="{reverse("gallery:original", args=[parent.pk])}"' in html


def test_the_comparison_costs_one_query(cast, make_image, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = cast.client("owner")
    plain = make_image(cast.owner, prompt="plain")
    with CaptureQueriesContext(connection) as without:
        detail(client, plain)
    source = make_image(cast.owner)
    edit = with_reference(make_image(cast.owner, prompt="edited"), f"gallery-{source.pk}.png")
    with django_assert_num_queries(len(without) + 1):
        detail(client, edit)
