"""The picker's "Auto" card: the model it would pick and why, shown before submit, and the submit
running on the same choice as the API's (studio/services/auto_model.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from studio.models import Job
from studio.services.auto_model import choose_auto_model
from tests.images import make_png

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def models(make_model: Any) -> dict[str, Any]:
    square = make_model(
        "cheap-square", display_name="Cheap Square", credits_per_image=2,
        capabilities={"text_to_image": True, "edit": False, "max_references": 0, "mask": False, "max_count": 1,
                      "aspect_ratios": ["1:1"], "output_formats": ["png"]},
        sizes={"default": {"1:1": [64, 64]}},
    )
    wide = make_model(
        "mid-wide", display_name="Mid Wide", credits_per_image=10,
        capabilities={"text_to_image": True, "edit": True, "max_references": 2, "mask": True, "max_count": 4,
                      "aspect_ratios": ["1:1", "16:9"], "output_formats": ["png"]},
        sizes={"default": {"1:1": [64, 64], "16:9": [96, 54]}},
    )
    return {"square": square, "wide": wide}


def options(client: Any, **values: str) -> str:
    response = client.get(reverse("studio:home"), values, HTTP_HX_TARGET="composer-options", **HX)
    assert response.status_code == 200
    return response.content.decode()


def test_the_picker_offers_an_auto_card_first(designer_client, models):
    html = designer_client.get(reverse("studio:home")).content.decode()
    auto = html.index('<fieldset class="tier" data-tier="auto"><legend>Auto</legend>')
    assert auto < html.index("<legend>Standard</legend>")
    assert '<input type="radio" name="model" value="auto">' in html  # not chosen by default
    chosen = designer_client.get(reverse("studio:home"), {"model": "auto"}).content.decode()
    assert '<input type="radio" name="model" value="auto" checked>' in chosen
    assert 'value="cheap-square" checked' not in chosen
    assert 'id="st-model">Auto: Cheap Square</span>' in chosen


def test_choosing_auto_shows_the_model_it_picks_and_why(designer_client, designer, models):
    html = options(designer_client, model="auto", count="1", aspect_ratio="1:1")
    assert 'data-name="Cheap Square"' in html
    assert ("Auto: Cheap Square, the cheapest model you may use that takes 1:1 (2 credits per image).") in html
    assert "1 × 2 = </span><strong>2 credits</strong>" in html
    # The ratio re-picks too while Auto is chosen (a named model's ratio does not re-render).
    assert 'name="aspect_ratio" hx-get=' in html
    assert 'name="aspect_ratio" hx-get=' not in options(designer_client, model="cheap-square")

    # Three images, or 16:9: the cheap model cannot, so Auto moves on and says why.
    three = options(designer_client, model="auto", count="3", aspect_ratio="1:1")
    assert "Auto: Mid Wide, the cheapest model you may use that takes 3 images, 1:1 (10 credits per image)." in three
    assert "3 × 10 = </span><strong>30 credits</strong>" in three
    wide = options(designer_client, model="auto", aspect_ratio="16:9")
    assert 'data-name="Mid Wide"' in wide and "16:9 → 96×54" in wide
    # The same pick as the API's service makes for the same request.
    assert choose_auto_model(membership=designer, count=3, aspect_ratio="1:1").model == models["wide"]


def test_auto_says_when_no_model_can_do_it(designer_client, models):
    html = options(designer_client, model="auto", count="9")
    assert 'id="auto-reason" role="alert">No model you may use offers 9 images' in html


def test_submitting_auto_runs_on_the_auto_choice(designer_client, designer, models, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = designer_client.post(
            reverse("studio:home"), {"model": "auto", "prompt": "a harbour", "aspect_ratio": "1:1", "count": "1"}, **HX
        )
    assert response.status_code == 200
    assert Job.objects.get().model_slug == "cheap-square"

    # A mask (known only at submit) needs a model that paints masks: Auto takes it into account.
    png = make_png(64, 64)
    with django_capture_on_commit_callbacks(execute=False):
        designer_client.post(reverse("studio:home"), {
            "model": "auto", "prompt": "repaint the sky", "aspect_ratio": "1:1", "count": "1",
            "references": [_file("ref.png", png)], "mask": _file("mask.png", png),
        }, **HX)
    assert Job.objects.order_by("-pk").first().model_slug == "mid-wide"


def test_submitting_auto_that_no_model_can_serve_is_refused_with_the_reason(designer_client, models):
    response = designer_client.post(reverse("studio:home"), {"model": "auto", "prompt": "x", "count": "9"})
    assert response.status_code == 400
    assert "No model you may use offers 9 images" in response.content.decode()
    assert not Job.objects.exists()


def _file(name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/png")
