"""Sentry is off without SENTRY_DSN and on, with its Django and Celery integrations, with one;
events leave without request bodies, cookies or credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from studio.ops.sentry import _scrub
from tests.worker import ROOT

PROBE = """
import json, django, sentry_sdk
django.setup()
client = sentry_sdk.get_client()
print(json.dumps({"active": client.is_active(), "integrations": sorted(client.integrations)}))
"""


def probe(**env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT), **env},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sentry_is_off_without_a_dsn():
    assert probe(SENTRY_DSN="")["active"] is False


def test_sentry_is_on_with_django_and_celery_integrations_with_a_dsn():
    state = probe(SENTRY_DSN="https://public@sentry.invalid/1")
    assert state["active"] is True
    assert {"django", "celery"} <= set(state["integrations"])


def test_events_carry_no_body_cookies_or_credentials():
    event = {"request": {"data": {"prompt": "secret"}, "cookies": {"sessionid": "x"}, "query_string": "q=secret",
                         "headers": {"Authorization": "Bearer stu_x", "Cookie": "a=b", "User-Agent": "ua"}}}
    scrubbed = _scrub(event, {})["request"]
    assert set(scrubbed) == {"headers"}
    assert scrubbed["headers"] == {"Authorization": "[redacted]", "Cookie": "[redacted]", "User-Agent": "ua"}
