"""/v2: async generate, jobs, cancel, keyset list, signed links, and the queue-down path."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from django.core import signing
from django.test import Client
from kombu.exceptions import OperationalError

from studio.api import services as api_services
from studio.api.models import ApiKey
from studio.models import Job, JobStatus, Transfer, TransferKind
from studio.services import credits
from tests.api.helpers import error_of
from tests.images import make_png

pytestmark = pytest.mark.django_db


def post(client: Client, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/v2/images/generate", body, content_type="application/json", headers=headers)


def balance(membership) -> int:
    return credits.member_balance(membership=membership)


def test_generate_answers_202_and_holds_the_price(api, designer, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api, {"model": "gpt-image-test", "prompt": "a red kite", "params": {"count": 2}})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "QUEUED"
    job = Job.objects.get(public_id=body["jobId"])
    assert response["Location"] == f"/v2/jobs/{job.public_id}"
    assert job.source == "api" and job.count == 2 and job.user == designer.user
    assert balance(designer) == 1000 - 2 * gpt_model.credits_per_image
    assert len(callbacks) == 1  # the enqueue waits for the commit


def test_a_job_runs_and_shows_signed_links_that_serve_the_original(api, designer, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api, {"model": "gpt-image-test", "prompt": "a red kite", "aspectRatio": "16:9"}).json()["jobId"]
    body = api.get(f"/v2/jobs/{job_id}").json()
    assert body["status"] == "SUCCEEDED" and body["progress"] == 100
    assert body["cost"] == {"held": 20, "charged": 20, "returned": 0}
    assert body["error"] is None
    [image] = body["images"]
    assert (image["width"], image["height"]) == (96, 54)
    # The link is the grant: it works without the key (an anonymous client).
    fetched = Client().get(image["url"].removeprefix("http://testserver"))
    assert fetched.status_code == 200
    assert fetched["Content-Type"] == "image/png"
    data = b"".join(fetched.streaming_content)
    assert data.startswith(b"\x89PNG")


def test_signed_links_outlive_an_hour_but_not_their_max_age(api, gpt_model, settings, django_capture_on_commit_callbacks, monkeypatch):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api, {"model": "gpt-image-test", "prompt": "dunes"}).json()["jobId"]
    url = api.get(f"/v2/jobs/{job_id}").json()["images"][0]["url"].removeprefix("http://testserver")
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 6 * 24 * 3600)
    assert Client().get(url).status_code == 200
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + settings.STUDIO_API_IMAGE_URL_MAX_AGE + 60)
    assert error_of(Client().get(url), 403)["code"] == "link_expired"
    tampered = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert error_of(Client().get(tampered), 403)["code"] in ("bad_signature", "link_expired")


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": 7, "prompt": "x"}, 400, "validation_error", "model"),
        ({"model": "gpt-image-test"}, 400, "validation_error", "prompt"),
        ({"model": "gpt-image-test", "prompt": "  "}, 400, "validation_error", "prompt"),
        ({"model": "gpt-image-test", "prompt": "x" * 2001}, 400, "validation_error", "prompt"),
        ({"model": "no-such-model", "prompt": "x"}, 400, "validation_error", "model"),
        ({"model": "gpt-image-test", "prompt": "x", "params": {"aspectRatio": "5:1"}}, 400, "validation_error", "aspectRatio"),
        ({"model": "gpt-image-test", "prompt": "x", "params": {"count": 9}}, 400, "validation_error", "count"),
        ({"model": "gpt-image-test", "prompt": "x", "images": ["not base64!"]}, 400, "validation_error", "images"),
        ({"model": "gpt-image-test", "prompt": "x", "webhookUrl": "ftp://example.com/"}, 400, "validation_error", "webhookUrl"),
        ({"model": "gpt-image-test", "prompt": "x", "webhookUrl": "http://127.0.0.1/hook"}, 400, "validation_error", "webhookUrl"),
        ({"model": "gpt-image-test", "prompt": "x", "webhookUrl": "http://93.184.216.34/", "webhookEvents": ["done"]}, 400, "validation_error", "webhookEvents"),
    ],
)
def test_bad_requests_are_400_with_the_field_and_hold_nothing(api, designer, gpt_model, body, status, code, param):
    error = error_of(post(api, body), status)
    assert (error["code"], error["param"]) == (code, param)
    assert Job.objects.count() == 0
    assert balance(designer) == 1000


def test_not_json_and_not_an_object_are_400(api, gpt_model):
    response = api.post("/v2/images/generate", "{nope", content_type="application/json")
    assert error_of(response, 400)["code"] == "validation_error"
    response = api.post("/v2/images/generate", "[1, 2]", content_type="application/json")
    assert error_of(response, 400)["code"] == "validation_error"
    response = api.post("/v2/images/generate", "prompt", content_type="text/plain")
    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_insufficient_credits_is_402_and_nothing_is_held(make_member, make_key, gpt_model):
    poor = make_member("poor", balance=5)
    _, plaintext = make_key(poor)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    error = error_of(post(client, {"model": "gpt-image-test", "prompt": "x"}), 402)
    assert error["code"] == "insufficient_credits"
    assert Job.objects.count() == 0
    assert balance(poor) == 5


def test_a_disabled_model_is_403(api, gpt_model):
    gpt_model.enabled = False
    gpt_model.save()
    error = error_of(post(api, {"model": "gpt-image-test", "prompt": "x"}), 403)
    assert error["code"] == "model_not_allowed"


def test_a_viewer_key_may_read_but_not_generate(make_member, make_key, gpt_model):
    viewer = make_member("viewer", role="viewer", balance=100)
    _, plaintext = make_key(viewer)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get("/v2/jobs").status_code == 200
    assert error_of(post(client, {"model": "gpt-image-test", "prompt": "x"}), 403)["code"] in (
        "model_not_allowed", "permission_denied",
    )


def test_payload_too_large_is_413_before_parsing(api, gpt_model, settings):
    settings.STUDIO_API_MAX_BODY_BYTES = 10_000
    image = base64.b64encode(make_png(200, 200) + b"\0" * 20_000).decode()
    error = error_of(post(api, {"model": "gpt-image-test", "prompt": "x", "images": [image]}), 413)
    assert error["code"] == "payload_too_large"


def test_base64_references_are_stored_as_job_inputs(api, gpt_model, django_capture_on_commit_callbacks):
    png = base64.b64encode(make_png(40, 40, "blue")).decode()
    with django_capture_on_commit_callbacks():
        response = post(api, {"model": "gpt-image-test", "prompt": "tint it", "params": {"images": [f"data:image/png;base64,{png}", png]}})
    assert response.status_code == 202, response.content
    job = Job.objects.get(public_id=response.json()["jobId"])
    assert job.inputs.count() == 2


def test_jobs_of_another_user_or_team_are_404(api, make_member, make_key, gpt_model, django_capture_on_commit_callbacks):
    other = make_member("someone-else")
    _, other_plain = make_key(other)
    other_client = Client(HTTP_AUTHORIZATION=f"Bearer {other_plain}")
    with django_capture_on_commit_callbacks():
        job_id = post(other_client, {"model": "gpt-image-test", "prompt": "mine"}).json()["jobId"]
    assert error_of(api.get(f"/v2/jobs/{job_id}"), 404)["code"] == "not_found"
    assert error_of(api.post(f"/v2/jobs/{job_id}/cancel"), 404)["code"] == "not_found"
    assert error_of(api.get("/v2/jobs/not-a-uuid"), 404)["code"] == "not_found"
    assert api.get("/v2/jobs").json()["data"] == []


def test_cancel_returns_the_credits_and_a_second_cancel_is_409(api, designer, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():  # not executed: the job stays queued
        job_id = post(api, {"model": "gpt-image-test", "prompt": "stop me"}).json()["jobId"]
    assert balance(designer) == 980
    response = api.post(f"/v2/jobs/{job_id}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "CANCELED"
    assert body["cost"] == {"held": 20, "charged": 0, "returned": 20}
    assert balance(designer) == 1000
    assert error_of(api.post(f"/v2/jobs/{job_id}/cancel"), 409)["code"] == "job_finished"


def test_failed_job_shows_the_error_and_returns_the_hold(api, designer, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(api, {"model": "gpt-image-test", "prompt": "[[fail:content_policy]] nope"}).json()["jobId"]
    body = api.get(f"/v2/jobs/{job_id}").json()
    assert body["status"] == "FAILED"
    assert body["error"]["code"] == "content_policy"
    assert body["cost"]["charged"] == 0 and body["cost"]["returned"] == 20
    assert balance(designer) == 1000


def test_job_list_is_newest_first_with_a_keyset_cursor(api, designer, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        ids = [post(api, {"model": "gpt-image-test", "prompt": f"p{i}"}).json()["jobId"] for i in range(5)]
    # Same timestamps must not lose or repeat rows: the id breaks ties.
    Job.objects.update(created_at=Job.objects.first().created_at)
    seen: list[str] = []
    cursor = None
    while True:
        page = api.get("/v2/jobs", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [job["jobId"] for job in page["data"]]
        if not page["hasMore"]:
            assert page["nextCursor"] is None
            break
        cursor = page["nextCursor"]
    assert seen == list(reversed(ids))
    assert error_of(api.get("/v2/jobs", {"cursor": "!!bad"}), 400)["param"] == "cursor"
    assert error_of(api.get("/v2/jobs", {"limit": 0}), 400)["param"] == "limit"
    queued = api.get("/v2/jobs", {"status": "QUEUED"}).json()["data"]
    assert len(queued) == 5 and all(job["status"] == "QUEUED" for job in queued)


def test_broker_down_before_submit_is_503_and_holds_nothing(api, designer, gpt_model, monkeypatch):
    monkeypatch.setattr(api_services, "broker_available", lambda: False)
    response = post(api, {"model": "gpt-image-test", "prompt": "x"})
    error = error_of(response, 503)
    assert error["code"] == "unavailable"
    assert response["Retry-After"] == "5"
    assert Job.objects.count() == 0
    assert balance(designer) == 1000


@pytest.mark.django_db(transaction=True)
def test_broker_failing_at_publish_fails_the_job_and_releases_the_hold(api, designer, gpt_model, monkeypatch):
    def refuse(**_: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("studio.services.jobs.queue.enqueue_run", refuse)
    response = post(api, {"model": "gpt-image-test", "prompt": "x"})
    assert error_of(response, 503)["code"] == "unavailable"
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED and job.error_code == "unavailable"
    assert balance(designer) == 1000
    kinds = sorted(Transfer.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds == [TransferKind.HOLD, TransferKind.RELEASE]
    assert credits.ledger_is_balanced()


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_the_broker_refused_runs_anew_instead_of_replaying_a_202(api, designer, gpt_model, monkeypatch):
    # The 503 tells the client to retry; the retry (same key) must not get back the 202 of
    # the job that was failed for the outage.
    def refuse(**_: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("studio.services.jobs.queue.enqueue_run", refuse)
    body = {"model": "gpt-image-test", "prompt": "x"}
    assert error_of(post(api, body, **{"Idempotency-Key": "outage-1"}), 503)["code"] == "unavailable"
    monkeypatch.undo()
    monkeypatch.setattr(api_services, "broker_available", lambda: True)
    monkeypatch.setattr("studio.services.jobs.queue.enqueue_run", lambda **_: None)

    retried = post(api, body, **{"Idempotency-Key": "outage-1"})

    assert retried.status_code == 202 and "Idempotent-Replayed" not in retried
    assert Job.objects.get(public_id=retried.json()["jobId"]).status == JobStatus.QUEUED
    assert Job.objects.filter(status=JobStatus.FAILED).count() == 1
    assert balance(designer) == 1000 - gpt_model.credits_per_image


def test_broker_check_connects_when_not_eager(monkeypatch):
    from kombu import Connection

    from studio.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    monkeypatch.setattr(api_services._BrokerHealth, "last_ok", float("-inf"))
    try:
        assert api_services.broker_available() is True  # the configured broker answers
        monkeypatch.setattr(app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0"))
        assert api_services.broker_available() is True  # a recent success is trusted briefly
        monkeypatch.setattr(api_services._BrokerHealth, "last_ok", float("-inf"))
        assert api_services.broker_available() is False
    finally:
        app.conf.task_always_eager = eager


def test_revoked_key_gets_401(api, key_pair):
    key, _ = key_pair
    key.revoked_at = key.created_at + timedelta(seconds=1)
    key.save()
    assert error_of(api.get("/v2/jobs"), 401)["code"] == "unauthorized"
    assert ApiKey.objects.get().revoked_at is not None


def test_a_disabled_model_has_one_answer_on_v1_and_v2(api, gpt_model):
    gpt_model.enabled = False
    gpt_model.save()
    generate = error_of(post(api, {"model": "gpt-image-test", "prompt": "x"}), 403)
    detail = error_of(api.get("/v1/models/gpt-image-test"), 403)
    assert detail["code"] == generate["code"] == "model_not_allowed"
    assert detail["message"] == generate["message"]


def test_a_queued_job_shows_its_fair_position_and_what_it_waits_for(
    api, designer, make_member, gpt_model, django_capture_on_commit_callbacks
):
    from studio.models import ProviderLimit
    from studio.services import jobs

    ProviderLimit.objects.create(family=gpt_model.family, max_concurrent=1)
    other = make_member("other")
    with django_capture_on_commit_callbacks(execute=False):
        theirs = [jobs.submit_job(membership=other, spec=jobs.validate_job(membership=other, model="gpt-image-test", prompt=f"p{i}"))
                  for i in range(3)]
        mine = post(api, {"model": "gpt-image-test", "prompt": "a red kite"}).json()["jobId"]
    Job.objects.update(provider_family=gpt_model.family, is_demo=False)
    # Round-robin: after the other member's first job, this one is next, not fourth.
    assert api.get(f"/v2/jobs/{mine}").json()["queuePosition"] == 2
    assert jobs.claim_job(job_id=theirs[0].pk) is not None
    body = api.get(f"/v2/jobs/{mine}").json()
    assert body["queuePosition"] == 1 and body["waitingFor"].startswith("Waiting for ")


def test_priority_low_marks_the_job_and_anything_else_is_refused(api, designer, gpt_model):
    from studio.models import JobPriority

    low = post(api, {"model": "gpt-image-test", "prompt": "a backfill", "priority": "low"})
    assert low.status_code == 202
    assert Job.objects.get(public_id=low.json()["jobId"]).priority == JobPriority.LOW
    normal = post(api, {"model": "gpt-image-test", "prompt": "now"})
    assert Job.objects.get(public_id=normal.json()["jobId"]).priority == JobPriority.NORMAL
    assert error_of(post(api, {"model": "gpt-image-test", "prompt": "x", "priority": "urgent"}), 400)["param"] == "priority"
    assert Job.objects.count() == 2


def test_a_free_demo_render_says_so_and_costs_nothing(api, designer, gpt_model, settings, django_capture_on_commit_callbacks):
    # No OPENAI_API_KEY in the suite: the local renderer draws, and by default a placeholder is free.
    settings.STUDIO_DEMO_CHARGE = False
    with django_capture_on_commit_callbacks(execute=True):
        accepted = post(api, {"model": "gpt-image-test", "prompt": "a red kite", "params": {"count": 2}})
    assert accepted.status_code == 202 and accepted.json()["isDemo"] is True
    body = api.get(f"/v2/jobs/{accepted.json()['jobId']}").json()
    assert body["status"] == "SUCCEEDED" and body["isDemo"] is True
    assert body["cost"] == {"held": 0, "charged": 0, "returned": 0}
    assert balance(designer) == 1000 and not Transfer.objects.filter(job__public_id=body["jobId"]).exists()


def test_a_real_provider_job_does_not_claim_to_be_a_demo(api, gpt_model, settings, django_capture_on_commit_callbacks):
    settings.OPENAI_API_KEY = "sk-test"  # configured: the model's own provider serves it (not run here)
    with django_capture_on_commit_callbacks(execute=False):
        accepted = post(api, {"model": "gpt-image-test", "prompt": "a red kite"})
    assert accepted.status_code == 202 and "isDemo" not in accepted.json()
    assert api.get(f"/v2/jobs/{accepted.json()['jobId']}").json()["isDemo"] is False
