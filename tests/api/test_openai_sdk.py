"""The official `openai` SDK, unchanged, against a live server's /v1."""

from __future__ import annotations

import base64
import io

import openai
import pytest

from gallery.models import Image
from studio.models import Job
from studio.services import credits
from tests.images import make_png, open_image

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(live_server, key_pair) -> openai.OpenAI:
    # No SDK-side retries: every request the test makes is exactly one request.
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key_pair[1], max_retries=0, timeout=60)


def test_sdk_generates_with_b64_json(sdk, designer, gpt_model):
    result = sdk.images.generate(
        model="gpt-image-test", prompt="a lighthouse at dusk", n=2, size="1024x1536", response_format="b64_json"
    )
    assert len(result.data) == 2
    picture = open_image(base64.b64decode(result.data[0].b64_json))
    assert picture.size == (54, 96)
    assert result.size == "54x96"
    assert result.output_format == "png"
    assert result.quality == "medium"
    assert Image.objects.count() == 2
    assert credits.member_balance(membership=designer) == 1000 - 2 * gpt_model.credits_per_image


def test_sdk_edits_with_an_image_file(sdk, gpt_model):
    source = io.BytesIO(make_png(64, 64, "blue"))
    source.name = "source.png"
    result = sdk.images.edit(model="gpt-image-test", image=source, prompt="add a moon")
    assert len(result.data) == 1
    assert base64.b64decode(result.data[0].b64_json).startswith(b"\x89PNG")
    assert Job.objects.get().inputs.count() == 1


def test_sdk_lists_models(sdk, gpt_model, gemini_model):
    ids = [model.id for model in sdk.models.list()]
    assert set(ids) == {"gpt-image-test", "gemini-test-image"}
    assert sdk.models.retrieve("nano-test").id == "gemini-test-image"


def test_sdk_raises_its_own_exception_classes(sdk, live_server, designer, gpt_model):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="gpt-image-test", prompt="[[fail:content_policy]] a cat")
    assert caught.value.status_code == 400
    assert caught.value.code == "content_policy"
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="gpt-image-test", prompt="x", size="huge")
    assert caught.value.param == "size"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no-such-model")
    bad_key = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="stu_nope_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.images.generate(model="gpt-image-test", prompt="x")
    assert credits.member_balance(membership=designer) == 1000
