"""`manage.py seed_gallery`: synthetic rows that browse like real ones."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from gallery.models import Board, Favourite, Image
from studio.models import Job, User

pytestmark = pytest.mark.django_db


def test_seed_gallery_creates_browsable_rows(capsys):
    call_command("seed_gallery", images=250, users=3, files=2, batch_size=100)
    assert "Seeded 250 images for 3 members" in capsys.readouterr().out
    images = Image.objects.all()
    assert images.count() == 250
    assert Job.objects.filter(source="bench").count() == 3  # 100 images per job
    assert images.values("sha256").distinct().count() <= 2
    for image in images[:5]:
        assert default_storage.exists(image.file.name) and default_storage.exists(image.thumbnail.name)
    assert images.filter(visibility="private").exists() and images.filter(visibility="team").exists()
    assert Board.objects.count() == 3 and Favourite.objects.exists()
    client = Client()
    client.force_login(User.objects.get(username="bench-01"))
    response = client.get(reverse("gallery:team"))
    assert response.status_code == 200 and response.content.decode().count('class="tile"') == 60


def test_seed_gallery_refuses_nonsense():
    with pytest.raises(CommandError, match="--images"):
        call_command("seed_gallery", images=0)
