"""/healthz and /readyz: each dependency reported with its state and latency; 503 names what is down."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from studio.celery import app as celery_app
from studio.ops import health
from studio.ops.models import WorkerHeartbeat
from tests.worker import running_worker, wait_until, worker_log

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_worker_row() -> WorkerHeartbeat:
    now = timezone.now()
    return WorkerHeartbeat.objects.create(hostname="celery@test", pid=1, slots=8, active=2, started_at=now,
                                          last_seen_at=now)


def ready(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


def test_readyz_is_ok_with_every_dependency_and_a_live_worker(client, live_worker_row):
    status, body = ready(client)
    assert status == 200, body
    assert body["status"] == "ok" and body["down"] == []
    assert set(body["checks"]) == {"database", "broker", "storage", "workers"}
    for check in body["checks"].values():
        assert check["state"] == "up" and check["latency_ms"] >= 0
    assert body["checks"]["workers"] | {"latency_ms": 0} == {
        "state": "up", "latency_ms": 0, "alive": 1, "slots": 8, "busy": 2
    }


def test_no_worker_is_503_naming_the_workers(client):
    status, body = ready(client)
    assert status == 503
    assert body["down"] == ["workers"]
    assert "no worker heartbeat" in body["checks"]["workers"]["detail"]


def test_a_stale_heartbeat_is_no_worker(client, live_worker_row, settings):
    WorkerHeartbeat.objects.update(last_seen_at=timezone.now() - timezone.timedelta(minutes=5))
    status, body = ready(client)
    assert status == 503 and body["down"] == ["workers"]


class DownConnection:
    def cursor(self) -> Any:
        raise OperationalError('connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused')


def test_a_down_database_is_503_naming_the_database(client, monkeypatch, settings):
    monkeypatch.setattr(health, "connection", DownConnection())
    status, body = ready(client)
    assert status == 503
    assert body["down"] == ["database", "workers"]
    assert body["checks"]["database"]["state"] == "down"
    assert body["checks"]["database"]["detail"] == "OperationalError"
    assert "unknown" in body["checks"]["workers"]["detail"]
    # Where the database lives is for the operator's eyes only.
    assert "10.0.0.5" not in json.dumps(body)
    settings.STUDIO_METRICS_TOKEN = "t0ken"
    body = client.get("/readyz", HTTP_AUTHORIZATION="Bearer t0ken").json()
    assert "10.0.0.5" in body["checks"]["database"]["error"]


def test_a_down_broker_is_503_naming_the_broker(client, live_worker_row, monkeypatch):
    # Nothing listens on port 1: the connection is refused at once.
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    status, body = ready(client)
    assert status == 503
    assert body["down"] == ["broker"]
    assert body["checks"]["broker"]["latency_ms"] < 5000


def test_a_missing_broker_folder_is_down(client, live_worker_row, monkeypatch, tmp_path):
    if not celery_app.conf.broker_url.startswith("filesystem"):
        pytest.skip("the embedded broker only")
    options = {**celery_app.conf.broker_transport_options, "data_folder_in": str(tmp_path / "gone")}
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", options)
    assert ready(client)[1]["down"] == ["broker"]


def test_unwritable_storage_is_503_naming_the_storage(client, live_worker_row, monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(health, "default_storage", FileSystemStorage(location=str(blocked / "media")))
    status, body = ready(client)
    assert status == 503 and body["down"] == ["storage"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_real_worker_makes_readyz_ok_through_its_heartbeat(client, settings):
    assert ready(client)[0] == 503
    with running_worker(concurrency=3, STUDIO_WORKER_HEARTBEAT_SECONDS="0.5"):
        assert wait_until(lambda: ready(client)[0] == 200, timeout=60), worker_log()
        body = ready(client)[1]
        assert body["checks"]["workers"]["alive"] == 1 and body["checks"]["workers"]["slots"] == 3
    # A clean shutdown removes the row at once.
    assert wait_until(lambda: not WorkerHeartbeat.objects.exists(), timeout=10)
