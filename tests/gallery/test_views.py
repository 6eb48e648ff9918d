from __future__ import annotations

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
    from gallery import views

    monkeypatch.setattr(views, "PAGE_SIZE", 3)
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
