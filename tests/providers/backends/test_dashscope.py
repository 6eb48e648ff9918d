"""Alibaba DashScope: async task API, and the multimodal route for edits (no network: respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from providers.backends.dashscope import DashScopeAdapter
from providers.errors import ErrorCode, ProviderError
from providers.types import GenerationRequest, InputImage
from tests.images import make_png
from tests.providers.backends.helpers import reloaded

BASE = "https://dashscope-intl.aliyuncs.com/api/v1"
OSS = "https://dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com/1/a.png"


def make_request(**overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "model": "qwen-image",
        "remote_model": "qwen-image",
        "prompt": "a flower shop window",
        "aspect_ratio": "1:1",
        "width": 1328,
        "height": 1328,
    }
    fields.update(overrides)
    return GenerationRequest(**fields)


def task(task_id: str, status: str, **output: Any) -> dict[str, Any]:
    return {"request_id": "req", "output": {"task_id": task_id, "task_status": status, **output}}


def test_submit_poll_running_then_succeeded(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").respond(
        json=task("t1", "PENDING")
    )
    respx_mock.get(f"{BASE}/tasks/t1").mock(
        side_effect=[
            httpx.Response(200, json=task("t1", "RUNNING")),
            httpx.Response(200, json=task("t1", "SUCCEEDED", results=[{"url": OSS, "actual_prompt": "…"}])),
        ]
    )
    respx_mock.get(OSS).respond(content=make_png(1328, 1328))
    dashscope = DashScopeAdapter(api_key="sk-ds")

    submission = reloaded(dashscope.submit(make_request(seed=9, negative_prompt="text")))
    running = dashscope.poll(submission)
    done = dashscope.poll(submission)

    sent = create.calls[0].request
    assert sent.headers["authorization"] == "Bearer sk-ds"
    assert sent.headers["x-dashscope-async"] == "enable"
    assert json.loads(sent.content) == {
        "model": "qwen-image",
        "input": {"prompt": "a flower shop window", "negative_prompt": "text"},
        "parameters": {"n": 1, "watermark": False, "seed": 9, "size": "1328*1328"},
    }
    assert (submission.provider_job_id, submission.poll_url) == ("t1", f"{BASE}/tasks/t1")
    assert not running.done and running.progress >= 10
    assert done.result is not None
    image = done.result.images[0]
    assert (image.mime_type, image.width, image.height) == ("image/png", 1328, 1328)


def test_more_than_four_images_is_two_tasks(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").mock(
        side_effect=[
            httpx.Response(200, json=task("a", "PENDING")),
            httpx.Response(200, json=task("b", "PENDING")),
        ]
    )

    submission = DashScopeAdapter(api_key="k").submit(make_request(model="wanx-v1", remote_model="wanx-v1", count=6))

    assert [json.loads(c.request.content)["parameters"]["n"] for c in create.calls] == [4, 2]
    assert [t["id"] for t in submission.state["tasks"]] == ["a", "b"]


def test_qwen_image_takes_one_image_per_task_whatever_the_options(respx_mock: respx.MockRouter) -> None:
    # qwen-image answers n > 1 with InvalidParameter; the 2.0 series (multimodal route) takes 1-6.
    create = respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").mock(
        side_effect=[httpx.Response(200, json=task(t, "PENDING")) for t in ("a", "b", "c")]
    )

    DashScopeAdapter(api_key="k").submit(make_request(count=3, options={"images_per_call": 4}))

    assert [json.loads(c.request.content)["parameters"]["n"] for c in create.calls] == [1, 1, 1]


def multimodal_answer(*urls: str) -> dict[str, Any]:
    content = [{"image": url} for url in urls]
    return {
        "request_id": "req-9",
        "output": {"choices": [{"message": {"role": "assistant", "content": content}}]},
    }


def test_edit_goes_to_the_edit_model_on_the_multimodal_route(respx_mock: respx.MockRouter) -> None:
    create = respx_mock.post(f"{BASE}/services/aigc/multimodal-generation/generation").respond(
        json=multimodal_answer(OSS)
    )
    respx_mock.get(OSS).respond(content=make_png(1328, 1328))
    source = InputImage(make_png(32, 32), "image/png", 32, 32)
    dashscope = DashScopeAdapter(api_key="k")

    submission = reloaded(
        dashscope.submit(make_request(references=(source,), options={"edit_remote_model": "qwen-image-edit"}))
    )
    done = dashscope.poll(submission)

    sent = create.calls[0].request
    body = json.loads(sent.content)
    assert body["model"] == "qwen-image-edit"
    content = body["input"]["messages"][0]["content"]
    assert content[0]["image"].startswith("data:image/png;base64,")
    assert content[1] == {"text": "a flower shop window"}
    assert "size" not in body["parameters"]
    assert "x-dashscope-async" not in sent.headers
    assert submission.poll_after == 0.0
    assert done.done and done.result is not None and len(done.result.images) == 1


def test_newer_models_generate_on_the_multimodal_route_one_image_per_call(
    respx_mock: respx.MockRouter,
) -> None:
    create = respx_mock.post(f"{BASE}/services/aigc/multimodal-generation/generation").respond(
        json=multimodal_answer(OSS)
    )
    respx_mock.get(OSS).respond(content=make_png(1328, 1328))
    dashscope = DashScopeAdapter(api_key="k")

    submission = reloaded(dashscope.submit(make_request(remote_model="qwen-image-2.0", count=2, seed=1)))
    result = dashscope.poll(submission).result

    bodies = [json.loads(call.request.content) for call in create.calls]
    assert [b["parameters"]["seed"] for b in bodies] == [1, 2]
    assert all(b["parameters"]["size"] == "1328*1328" and b["parameters"]["n"] == 1 for b in bodies)
    assert bodies[0]["input"]["messages"][0]["content"] == [{"text": "a flower shop window"}]
    assert result is not None and len(result.images) == 2


def test_data_inspection_failed_on_submit_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").respond(
        400,
        json={
            "request_id": "r",
            "code": "DataInspectionFailed",
            "message": "Input data may contain inappropriate content.",
        },
    )

    with pytest.raises(ProviderError) as excinfo:
        DashScopeAdapter(api_key="k").submit(make_request())

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY
    assert "DataInspectionFailed" in excinfo.value.message


def test_task_failed_with_data_inspection_is_content_policy(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").respond(json=task("t1", "PENDING"))
    respx_mock.get(f"{BASE}/tasks/t1").respond(
        json=task(
            "t1",
            "FAILED",
            code="DataInspectionFailed",
            message="Output data may contain inappropriate content.",
        )
    )
    dashscope = DashScopeAdapter(api_key="k")

    with pytest.raises(ProviderError) as excinfo:
        dashscope.poll(dashscope.submit(make_request()))

    assert excinfo.value.code is ErrorCode.CONTENT_POLICY


def test_a_refused_sub_image_is_a_refusal(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").respond(json=task("t1", "PENDING"))
    respx_mock.get(f"{BASE}/tasks/t1").respond(
        json=task(
            "t1",
            "SUCCEEDED",
            results=[
                {"url": OSS},
                {"code": "DataInspectionFailed", "message": "Output may be inappropriate."},
            ],
        )
    )
    respx_mock.get(OSS).respond(content=make_png(1328, 1328))
    dashscope = DashScopeAdapter(api_key="k")

    # Two images in one task: a wanx model (qwen-image takes one image per task).
    result = dashscope.poll(dashscope.submit(make_request(model="wanx-v1", remote_model="wanx-v1", count=2))).result

    assert result is not None
    assert len(result.images) == 1
    assert result.refusals == ("Output may be inappropriate.",)


def test_failed_and_unknown_tasks_are_upstream_errors(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").respond(json=task("t1", "PENDING"))
    respx_mock.get(f"{BASE}/tasks/t1").mock(
        side_effect=[
            httpx.Response(200, json=task("t1", "FAILED", code="InternalError", message="Algorithm error")),
            httpx.Response(200, json=task("t1", "UNKNOWN")),
        ]
    )
    dashscope = DashScopeAdapter(api_key="k")
    submission = dashscope.submit(make_request())

    for expected in ("InternalError", "UNKNOWN"):
        with pytest.raises(ProviderError) as excinfo:
            dashscope.poll(submission)
        assert excinfo.value.code is ErrorCode.UPSTREAM_ERROR
        assert expected in excinfo.value.message


def test_throttling_invalid_key_and_5xx(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{BASE}/services/aigc/text2image/image-synthesis").mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"Retry-After": "5"},
                json={"code": "Throttling.RateQuota", "message": "Requests rate limit exceeded"},
            ),
            httpx.Response(401, json={"code": "InvalidApiKey", "message": "Invalid API-key provided."}),
            httpx.Response(500, json={"code": "InternalError", "message": "oops"}),
        ]
    )
    dashscope = DashScopeAdapter(api_key="k")
    errors = []
    for _ in range(3):
        with pytest.raises(ProviderError) as excinfo:
            dashscope.submit(make_request())
        errors.append(excinfo.value)

    assert (errors[0].code, errors[0].retry_after) == (ErrorCode.RATE_LIMITED, 5.0)
    assert errors[1].code is ErrorCode.AUTH
    assert errors[2].code is ErrorCode.UPSTREAM_ERROR and errors[2].retryable
