"""Structured logs: one JSON object per line carrying request_id, job_id, team, user and
provider, the same ids on a job's lines in the web process and in the worker; no prompt
text and no key material."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from studio.models import Job
from studio.ops import logs
from studio.ops.logs import ContextFilter, JsonFormatter, PlainFormatter
from tests.worker import running_worker, wait_until, worker_log

PROMPT = "a secret lighthouse drawn in violet ink"


@pytest.fixture
def web_log() -> Iterator[io.StringIO]:
    """What this (web) process logs, as the production handler formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_jobs_lines_in_web_and_worker_share_its_ids(designer, make_model, web_log, tmp_path: Path):
    make_model("log-model", credits_per_image=5)
    client = Client()
    client.force_login(designer.user)
    worker_file = tmp_path / "worker.log"
    with running_worker(log=worker_file):
        response = client.post(reverse("studio:home"), {"model": "log-model", "prompt": PROMPT},
                               HTTP_X_REQUEST_ID="req-0123456789")
        assert response["X-Request-ID"] == "req-0123456789"
        job = Job.objects.get()
        assert wait_until(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout=90), worker_log()
        assert wait_until(lambda: "succeeded" in worker_file.read_text(), timeout=10)
    web = [line for line in json_lines(web_log.getvalue()) if line.get("job_id") == job.pk]
    worker = [line for line in json_lines(worker_file.read_text()) if line.get("job_id") == job.pk]
    assert web and worker, (web_log.getvalue(), worker_file.read_text())
    expected = {"request_id": "req-0123456789", "job_id": job.pk, "team": designer.team_id,
                "user": designer.user_id, "provider": "local"}
    for line in web + worker:
        assert {k: line.get(k) for k in expected} == expected, line
        assert {"time", "level", "logger", "message"} <= set(line)
    assert any("created" in line["message"] for line in web)
    assert any(f"job {job.pk} succeeded" in line["message"] for line in worker)
    # The request's own access line carries the request id and the user too.
    access = [line for line in json_lines(web_log.getvalue()) if line["logger"] == "studio.requests"]
    assert any(line["request_id"] == "req-0123456789" and line["user"] == designer.user_id for line in access)
    # Celery's own records come out as JSON too (only its start-up banner is printed, not logged).
    worker_text = worker_file.read_text()
    print("\n".join(worker_text.splitlines()[-12:]))
    assert not re.search(r"^\[\d{4}-\d\d-\d\d", worker_text, re.MULTILINE)
    assert any(line["logger"].startswith("celery") for line in json_lines(worker_text))
    # The prompt is in no line of either process.
    assert PROMPT not in web_log.getvalue() and PROMPT not in worker_file.read_text()


def test_a_request_without_an_id_gets_one_and_a_bad_one_is_replaced(client, db):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"] != "bad id\nwith newline"


def test_key_material_is_masked_in_any_line():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s secret %s auth %s", (
        "stu_0123456789ab_SECRETPARTSECRETPART", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0", "Bearer sk-abcdefghijklmnop"), None)
    for formatter in (JsonFormatter(), PlainFormatter()):
        text = formatter.format(record)
        assert "SECRETPART" not in text and "c2VjcmV0" not in text and "abcdefghijklmnop" not in text


def test_plain_lines_for_make_run_carry_the_context():
    record = logging.LogRecord("studio.jobs", logging.INFO, __file__, 1, "job %s created", (7,), None)
    with logs.bound(request_id="r1", job_id=7):
        ContextFilter().filter(record)
    text = PlainFormatter().format(record)
    assert text.endswith("job 7 created [request_id=r1 job_id=7]")
