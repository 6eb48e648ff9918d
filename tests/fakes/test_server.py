"""The fake provider speaks each protocol the way our adapters expect (real HTTP, no worker)."""

from __future__ import annotations

import json
import time

import pytest

from providers.backends.bfl import BFLAdapter
from providers.backends.gemini import GeminiAdapter
from providers.backends.openai import OpenAIAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage, Part, Submission, Turn
from tests.fakes.server import FakeProvider, decode_inline
from tests.images import make_png, open_image


def openai(fake: FakeProvider, key: str | None = None) -> OpenAIAdapter:
    return OpenAIAdapter(api_key=key or fake.keys["openai"], base_url=fake.env()["OPENAI_BASE_URL"])


def gemini(fake: FakeProvider) -> GeminiAdapter:
    return GeminiAdapter(api_key=fake.keys["gemini"], base_url=fake.env()["GEMINI_BASE_URL"])


def bfl(fake: FakeProvider) -> BFLAdapter:
    return BFLAdapter(api_key=fake.keys["bfl"], base_url=fake.env()["BFL_BASE_URL"])


def request(**fields: object) -> GenerationRequest:
    values: dict[str, object] = {"model": "m", "remote_model": "gpt-image-1", "prompt": "a lighthouse"}
    values.update(fields)
    return GenerationRequest(**values)  # type: ignore[arg-type]


def reloaded(submission: Submission) -> Submission:
    # The job layer stores the state as JSON between polls.
    return Submission(submission.provider_job_id, submission.poll_url, json.loads(json.dumps(submission.state)))


def test_openai_generations_answer_n_images_at_the_requested_size(fake_provider: FakeProvider) -> None:
    result = openai(fake_provider).generate(request(count=3, width=1536, height=1024, quality="low"))

    assert [(i.mime_type, i.width, i.height) for i in result.images] == [("image/png", 1536, 1024)] * 3
    assert len({i.data for i in result.images}) == 3  # distinct bytes: storage keeps each one
    (sent,) = fake_provider.requests_to("openai.generations")
    assert sent.headers["authorization"] == "Bearer sk-fake-openai"
    assert sent.json == {
        "model": "gpt-image-1", "prompt": "a lighthouse", "n": 3, "size": "1536x1024",
        "quality": "low", "output_format": "png",
    }
    assert fake_provider.crashes == []


def test_openai_edits_take_multipart_images_and_mask(fake_provider: FakeProvider) -> None:
    source = InputImage(make_png(64, 64, "blue"), "image/png", 64, 64)
    mask = InputImage(make_png(64, 64, "white"), "image/png", 64, 64)

    result = openai(fake_provider).generate(request(references=(source,), mask=mask, output_format="jpeg"))

    assert (result.images[0].mime_type, result.images[0].width) == ("image/jpeg", 1024)
    (sent,) = fake_provider.requests_to("openai.edits")
    assert sent.field("prompt") == "a lighthouse" and sent.field("output_format") == "jpeg"
    assert sent.files("image")[0][1] == source.data
    assert open_image(sent.files("mask")[0][1]).mode == "RGBA"


def test_gemini_answers_text_and_an_inline_image_with_a_thought_signature(fake_provider: FakeProvider) -> None:
    history = (
        Turn("user", (Part(text="a fox"),)),
        Turn("model", (Part(image=InputImage(make_png(8, 8), "image/png", 8, 8), thought_signature="c2ln"),)),
    )
    result = gemini(fake_provider).generate(
        request(remote_model="gemini-3-pro-image", aspect_ratio="16:9", resolution="2K", history=history)
    )

    assert [(i.width, i.height) for i in result.images] == [(2752, 1536)]
    assert result.text == "Here is your image (2752x1536)."
    assert [p.thought_signature for p in result.parts if p.image] != [None]
    (sent,) = fake_provider.requests_to("gemini")
    assert sent.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    assert sent.headers["x-goog-api-key"] == "fake-gemini-key"
    model_turn = sent.json["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == "c2ln"
    assert decode_inline(model_turn["parts"][0]) == history[1].parts[0].image.data  # type: ignore[union-attr]
    assert sent.json["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}


def test_bfl_is_pending_with_progress_then_ready_with_a_download(fake_provider: FakeProvider) -> None:
    fake_provider.bfl_seconds = 0.3
    adapter = bfl(fake_provider)
    submission = reloaded(adapter.submit(request(remote_model="flux-pro-1.1", width=1376, height=768)))

    first = adapter.poll(submission)
    time.sleep(0.35)
    done = adapter.poll(submission)

    assert not first.done
    assert done.result is not None and [(i.width, i.height) for i in done.result.images] == [(1376, 768)]
    (submit,) = fake_provider.requests_to("bfl.submit")
    assert submit.path == "/v1/flux-pro-1.1" and submit.headers["x-key"] == "fake-bfl-key"
    assert submit.json["width"] == 1376 and submit.json["prompt"] == "a lighthouse"
    assert [r.route for r in fake_provider.requests] == ["bfl.submit", "bfl.poll", "bfl.poll", "file"]
    assert "x-key" not in fake_provider.requests_to("file")[0].headers  # the key never goes to result URLs


def test_scripted_faults_are_answered_once_each(fake_provider: FakeProvider) -> None:
    fake_provider.fail("openai", 429, retry_after=7)
    fake_provider.fail("openai", 503)
    adapter = openai(fake_provider)

    with pytest.raises(ProviderError) as limited:
        adapter.generate(request())
    with pytest.raises(ProviderError) as down:
        adapter.generate(request())
    adapter.generate(request())

    assert (limited.value.code, limited.value.retry_after) == (ErrorCode.RATE_LIMITED, 7.0)
    assert down.value.code is ErrorCode.UNAVAILABLE
    assert len(fake_provider.requests_to("openai")) == 3


@pytest.mark.parametrize("family", ["openai", "gemini", "bfl"])
def test_each_family_refuses_content_in_its_own_shape(fake_provider: FakeProvider, family: str) -> None:
    fake_provider.moderate(family)
    fake_provider.bfl_seconds = 0
    with pytest.raises(ProviderError) as refused:
        if family == "openai":
            openai(fake_provider).generate(request())
        elif family == "gemini":
            gemini(fake_provider).generate(request(remote_model="gemini-2.5-flash-image"))
        else:
            adapter = bfl(fake_provider)
            adapter.poll(reloaded(adapter.submit(request(remote_model="flux-pro-1.1"))))
    assert refused.value.code is ErrorCode.CONTENT_POLICY


def test_a_wrong_key_is_refused(fake_provider: FakeProvider) -> None:
    with pytest.raises(ProviderError) as refused:
        openai(fake_provider, key="sk-wrong").generate(request())
    assert refused.value.code is ErrorCode.AUTH


def test_latency_delays_the_work_but_not_polls(fake_provider: FakeProvider) -> None:
    fake_provider.latency = 0.3
    fake_provider.bfl_seconds = 0
    adapter = bfl(fake_provider)
    started = time.monotonic()
    submission = reloaded(adapter.submit(request(remote_model="flux-pro-1.1")))
    submitted = time.monotonic()
    adapter.poll(submission)
    polled = time.monotonic()

    assert submitted - started >= 0.3
    assert polled - submitted < 0.25
