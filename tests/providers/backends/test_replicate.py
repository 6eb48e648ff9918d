"""Replicate predictions: create, poll urls.get, download the output (no network: respx)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx

from providers.backends.replicate import ReplicateAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_png, make_webp
from tests.providers.backends.helpers import reloaded

BASE = "https://api.replicate.com/v1"
OUTPUT = "https://replicate.delivery/xezq/abc/out-0.webp"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "flux-1-quick",
        "remote_model": "black-forest-labs/flux-schnell",
        "prompt": "a cat on a mat",
        "aspect_ratio": "1:1",
        "width": 1024,
        "height": 1024,
        "output_format": "webp",
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def prediction(pred_id: str, status: str, **extra: Any) -> dict[str, Any]:
    urls = {"get": f"{BASE}/predictions/{pred_id}", "cancel": f"{BASE}/predictions/{pred_id}/cancel"}
    return {"id": pred_id, "status": status, "urls": urls, "output": None, "error": None, **extra}


def test_submit_poll_processing_then_succeeded(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/models/black-forest-labs/flux-schnell/predictions").respond(
        201, json=prediction("p1", "starting")
    )
    respx_mock.get(f"{BASE}/predictions/p1").mock(
        side_effect=[
            httpx.Response(200, json=prediction("p1", "processing")),
            httpx.Response(200, json=prediction("p1", "succeeded", output=[OUTPUT])),
        ]
    )
    respx_mock.get(OUTPUT).respond(content=make_webp(1024, 1024))
    replicate = ReplicateAdapter(api_key="r8_key")

    submission = reloaded(replicate.submit(make_request(seed=3)))
    pending = replicate.poll(submission)
    done = replicate.poll(submission)

    sent = create.calls[0].request
    assert sent.headers["authorization"] == "Bearer r8_key"
    assert json.loads(sent.content) == {
        "input": {"prompt": "a cat on a mat", "aspect_ratio": "1:1", "seed": 3, "output_format": "webp"}
    }
    assert (submission.provider_job_id, submission.poll_url) == ("p1", f"{BASE}/predictions/p1")
    assert not pending.done and 10 <= pending.progress < 100
    assert done.result is not None
    image = done.result.images[0]
    assert (image.mime_type, image.width, image.height) == ("image/webp", 1024, 1024)


def test_a_string_output_is_one_image(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/models/black-forest-labs/flux-schnell/predictions").respond(
        201, json=prediction("p1", "starting")
    )
    respx_mock.get(f"{BASE}/predictions/p1").respond(json=prediction("p1", "succeeded", output=OUTPUT))
    respx_mock.get(OUTPUT).respond(content=make_webp(1024, 1024))
    replicate = ReplicateAdapter(api_key="k")

    result = replicate.poll(replicate.submit(make_request())).result

    assert result is not None and len(result.images) == 1


def test_pinned_version_uses_the_generic_endpoint(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/predictions").respond(201, json=prediction("p1", "starting"))

    ReplicateAdapter(api_key="k").submit(make_request(remote_model="owner/model:" + "a" * 64))

    assert json.loads(create.calls[0].request.content)["version"] == "a" * 64


def test_count_fans_out_unless_the_model_takes_num_outputs(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/models/black-forest-labs/flux-schnell/predictions").mock(
        side_effect=[httpx.Response(201, json=prediction(f"p{i}", "starting")) for i in range(3)]
    )
    replicate = ReplicateAdapter(api_key="k")

    fanned = replicate.submit(make_request(count=2, seed=10))
    batched = replicate.submit(make_request(count=2, options={"images_per_call": 4}))

    inputs = [json.loads(c.request.content)["input"] for c in create.calls]
    assert [i.get("seed") for i in inputs[:2]] == [10, 11]
    assert "num_outputs" not in inputs[0]
    assert inputs[2]["num_outputs"] == 2
    assert len(fanned.state["tasks"]) == 2 and len(batched.state["tasks"]) == 1


def test_edit_sends_references_as_data_uris_to_the_edit_model(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/models/black-forest-labs/flux-kontext-pro/predictions").respond(
        201, json=prediction("p1", "starting")
    )
    source = InputImage(make_png(16, 16), "image/png", 16, 16)

    ReplicateAdapter(api_key="k").submit(
        make_request(
            references=(source,),
            options={
                "edit_remote_model": "black-forest-labs/flux-kontext-pro",
                "reference_field": "input_image",
            },
        )
    )

    inputs = json.loads(create.calls[0].request.content)["input"]
    prefix = "data:image/png;base64,"
    assert inputs["input_image"].startswith(prefix)
    assert base64.b64decode(inputs["input_image"][len(prefix) :]) == source.data


def test_several_references_default_to_a_list(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/models/black-forest-labs/flux-schnell/predictions").respond(
        201, json=prediction("p1", "starting")
    )
    refs = tuple(InputImage(make_png(8, 8), "image/png", 8, 8) for _ in range(2))

    ReplicateAdapter(api_key="k").submit(make_request(references=refs))

    assert len(json.loads(create.calls[0].request.content)["input"]["input_images"]) == 2


def test_e005_failure_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/models/black-forest-labs/flux-schnell/predictions").respond(
        201, json=prediction("p1", "starting")
    )
    respx_mock.get(f"{BASE}/predictions/p1").respond(
        json=prediction("p1", "failed", error="Prediction failed. (E005)")
    )
    replicate = ReplicateAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        replicate.poll(replicate.submit(make_request()))

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY
    assert "E005" in excinfo.value.message


def test_a_model_failure_is_upstream_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/models/black-forest-labs/flux-schnell/predictions").respond(
        201, json=prediction("p1", "starting")
    )
    respx_mock.get(f"{BASE}/predictions/p1").respond(json=prediction("p1", "canceled"))
    replicate = ReplicateAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        replicate.poll(replicate.submit(make_request()))

    assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR


def test_problem_json_errors(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{BASE}/models/black-forest-labs/flux-schnell/predictions")
    route.side_effect = [
        httpx.Response(
            429,
            headers={"Retry-After": "9"},
            json={"title": "Too Many Requests", "detail": "slow", "status": 429},
        ),
        httpx.Response(500, json={"title": "Internal", "detail": "oops", "status": 500}),
        httpx.Response(422, json={"title": "Invalid input", "detail": "prompt is required", "status": 422}),
    ]
    replicate = ReplicateAdapter(api_key="k")
    errors = []
    for _ in range(3):
        with pytest.raises(ProviderError) as excinfo:
            replicate.submit(make_request())
        errors.append(excinfo.value)

    assert (errors[0].code, errors[0].retry_after) == (ErrorCode.RATE_LIMITED, 9.0)
    assert errors[1].code is ErrorCode.UPSTREAM_ERROR and errors[1].retryable
    assert errors[2].code is ErrorCode.INVALID_REQUEST and "prompt is required" in errors[2].message
