"""Idempotency-Key (IETF draft semantics): replay, 409 in flight, 422 on another body, 24 h, scope."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from studio.api import idempotency
from studio.api.models import IdempotencyRecord, IdempotencyStatus
from studio.api.tasks import purge_idempotency_records_task
from studio.models import Job, Transfer, TransferKind
from studio.services import credits
from tests.api.helpers import error_of

pytestmark = pytest.mark.django_db

BODY = {"model": "gpt-image-test", "prompt": "a paper boat"}


def post(client: Client, body: dict[str, Any], key: str | None = "key-1") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v2/images/generate", body, content_type="application/json", headers=headers)


def test_the_same_key_and_body_replay_the_first_answer(api, designer, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        first = post(api, BODY)
        second = post(api, BODY)
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Job.objects.count() == 1
    assert credits.member_balance(membership=designer) == 980


def test_key_order_and_spacing_do_not_change_the_fingerprint(api, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        post(api, {"model": "gpt-image-test", "prompt": "a paper boat"})
        replay = api.post(
            "/v2/images/generate",
            '{ "prompt": "a paper boat",   "model": "gpt-image-test" }',
            content_type="application/json",
            headers={"Idempotency-Key": "key-1"},
        )
    assert replay.status_code == 202 and replay["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1


def test_the_same_key_with_another_body_is_422(api, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        post(api, BODY)
        response = post(api, {**BODY, "prompt": "a different boat"})
    error = error_of(response, 422)
    assert (error["code"], error["param"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert Job.objects.count() == 1


def test_a_retry_while_the_first_runs_is_409(api, key_pair, gpt_model):
    key, _ = key_pair
    body = idempotency.fingerprint(
        method="POST", path="/v2/images/generate", canonical_body=b'{"model":"gpt-image-test","prompt":"a paper boat"}'
    )
    now = timezone.now()
    IdempotencyRecord.objects.create(
        api_key=key, key="key-1", fingerprint=body, method="POST", path="/v2/images/generate",
        status=IdempotencyStatus.IN_PROGRESS, created_at=now, expires_at=now + timedelta(hours=24),
    )
    response = post(api, BODY)
    error = error_of(response, 409)
    assert error["code"] == "idempotency_in_progress"
    assert response["Retry-After"] == "1"
    assert Job.objects.count() == 0


def test_keys_are_scoped_to_the_api_key(api, make_key, designer, gpt_model, django_capture_on_commit_callbacks):
    _, other_plain = make_key(designer, name="second key")
    other = Client(HTTP_AUTHORIZATION=f"Bearer {other_plain}")
    with django_capture_on_commit_callbacks():
        first = post(api, BODY)
        second = post(other, BODY)
    assert first.status_code == second.status_code == 202
    assert "Idempotent-Replayed" not in second
    assert first.json()["jobId"] != second.json()["jobId"]
    assert Job.objects.count() == 2


def test_after_24_hours_the_key_is_new_again_and_purged(api, gpt_model, django_capture_on_commit_callbacks, monkeypatch):
    with django_capture_on_commit_callbacks():
        first = post(api, BODY).json()
    record = IdempotencyRecord.objects.get()
    assert record.expires_at - record.created_at == timedelta(hours=24)
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(hours=25), expires_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks():
        again = post(api, BODY)
    assert again.status_code == 202 and "Idempotent-Replayed" not in again
    assert again.json()["jobId"] != first["jobId"]
    assert Job.objects.count() == 2
    # The purge task removes only expired records.
    IdempotencyRecord.objects.create(
        api_key=record.api_key, key="old", fingerprint="x", method="POST", path="/",
        created_at=timezone.now() - timedelta(hours=30), expires_at=timezone.now() - timedelta(hours=6),
    )
    purge_idempotency_records_task()
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["key-1"]


def test_refusals_before_a_job_are_not_kept(api, designer, gpt_model, django_capture_on_commit_callbacks):
    error_of(post(api, {**BODY, "params": {"aspectRatio": "7:1"}}), 400)
    assert IdempotencyRecord.objects.count() == 0
    # Fixed and sent again under the same key: it runs.
    with django_capture_on_commit_callbacks():
        assert post(api, BODY).status_code == 202
    assert Job.objects.count() == 1


def test_a_bad_key_header_is_400(api, gpt_model):
    for bad in ("", "x" * 256, "has space"):
        response = api.post(
            "/v2/images/generate", BODY, content_type="application/json", headers={"Idempotency-Key": bad}
        )
        error = error_of(response, 400)
        assert error["param"] == "Idempotency-Key"


def test_a_cancel_is_replayed_too(api, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job_id = post(api, BODY, key=None).json()["jobId"]
    first = api.post(f"/v2/jobs/{job_id}/cancel", headers={"Idempotency-Key": "cancel-1"})
    again = api.post(f"/v2/jobs/{job_id}/cancel", headers={"Idempotency-Key": "cancel-1"})
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["status"] == "CANCELED"


def test_twenty_sequential_posts_with_one_key_make_one_job(api, designer, gpt_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        answers = [post(api, BODY, key="seq") for _ in range(20)]
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["jobId"] for a in answers}) == 1
    assert Job.objects.count() == 1
    assert Transfer.objects.filter(kind=TransferKind.HOLD).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite serialises writers, so the race cannot happen there (set DATABASE_URL)",
)
def test_l7_twenty_concurrent_posts_with_one_key_make_one_job_and_one_hold(key_pair, designer, gpt_model):
    _, plaintext = key_pair
    count = 20
    barrier = threading.Barrier(count)
    answers: list[tuple[int, dict[str, Any], str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def fire() -> None:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        try:
            barrier.wait(timeout=30)
            response = post(client, BODY, key="race")
            with lock:
                answers.append((response.status_code, response.json(), response.get("Idempotent-Replayed", "")))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[0]
    assert len(answers) == count
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) <= {202, 409}, statuses
    accepted = [body for status, body, _ in answers if status == 202]
    assert len({body["jobId"] for body in accepted}) == 1
    assert sum(1 for status, _, replayed in answers if status == 202 and not replayed) == 1
    assert Job.objects.count() == 1
    job = Job.objects.get()
    assert Transfer.objects.filter(kind=TransferKind.HOLD, job=job).count() == 1
    assert credits.member_balance(membership=designer) == 1000 - gpt_model.credits_per_image
