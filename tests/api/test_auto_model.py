"""The "Auto" model (seed 000): no model, or "auto", runs on the cheapest model that does what is asked."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from studio.models import Job
from studio.services.auto_model import choose_auto_model, is_auto
from studio.services.errors import ValidationFailed
from tests.api.helpers import error_of
from tests.images import make_png

pytestmark = pytest.mark.django_db


def v2(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/v2/images/generate", body, content_type="application/json")


def v1(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/v1/images/generations", body, content_type="application/json")


@pytest.fixture
def cheap_text_only(make_model: Any) -> Any:
    return make_model(
        "cheap-text",
        credits_per_image=2,
        capabilities={
            "text_to_image": True, "edit": False, "max_references": 0, "mask": False, "max_count": 1,
            "qualities": [], "aspect_ratios": ["1:1"], "output_formats": ["png"],
        },
        sizes={"default": {"1:1": [64, 64]}},
    )


def test_is_auto() -> None:
    assert is_auto(None) and is_auto("") and is_auto(" AUTO ") and not is_auto("gpt-image-2")


def test_the_cheapest_model_that_does_what_is_asked(designer: Any, gpt_model: Any, gemini_model: Any, cheap_text_only: Any) -> None:
    assert choose_auto_model(membership=designer).model == cheap_text_only
    # Two images: the cheap one draws one per request; gpt (20) is cheaper than gemini (30).
    choice = choose_auto_model(membership=designer, count=2)
    assert choice.model == gpt_model
    assert choice.reason == (
        "Auto: Gpt Image Test, the cheapest model you may use that takes 2 images (20 credits per image)."
    )
    assert choose_auto_model(membership=designer, references=6).model == gemini_model
    assert choose_auto_model(membership=designer, references=1, mask=True).model == gpt_model
    with pytest.raises(ValidationFailed, match="No model you may use offers 20 reference images"):
        choose_auto_model(membership=designer, references=20)


def test_a_model_the_member_may_not_use_is_never_picked(designer: Any, cheap_text_only: Any, gpt_model: Any) -> None:
    cheap_text_only.enabled = False
    cheap_text_only.save()
    assert choose_auto_model(membership=designer).model == gpt_model


def test_v2_without_a_model_runs_on_the_auto_pick(api: Client, gpt_model: Any, gemini_model: Any) -> None:
    response = v2(api, {"prompt": "a koi pond", "params": {"count": 2, "aspectRatio": "16:9"}})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["model"] == "gpt-image-test"
    assert body["autoReason"].startswith("Auto: Gpt Image Test, the cheapest model you may use that takes 2 images, 16:9")
    assert Job.objects.get().model_slug == "gpt-image-test"
    assert v2(api, {"model": "auto", "prompt": "x"}).json()["model"] == "gpt-image-test"


def test_v2_auto_says_what_no_model_offers(api: Client, gpt_model: Any) -> None:
    error = error_of(v2(api, {"prompt": "x", "params": {"aspectRatio": "21:9"}}), 400)
    assert error["param"] == "model" and "21:9" in error["message"]


@pytest.mark.django_db(transaction=True)  # v1 waits for the job: the on-commit enqueue must fire
def test_v1_without_a_model_answers_which_model_and_why(api: Client, gpt_model: Any, gemini_model: Any) -> None:
    edit = make_png(64, 64)
    response = v1(api, {"prompt": "a red fox", "image": base64.b64encode(edit).decode()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "gpt-image-test"
    assert body["auto_reason"].startswith("Auto: Gpt Image Test")
