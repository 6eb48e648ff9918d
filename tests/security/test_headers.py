"""Security headers: CSP on every HTML page, Permissions-Policy, and production HTTPS defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_html_pages_carry_a_csp_without_inline_script(designer_client: Client):
    for url in (reverse("studio:home"), reverse("gallery:team"), reverse("team:overview"), reverse("login")):
        response = (designer_client if url != reverse("login") else Client()).get(url)
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert "camera=()" in response["Permissions-Policy"]
        assert b"<script>" not in response.content  # every script is a file (or carries the nonce)


@override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31_536_000)
def test_production_redirects_to_https_and_sends_hsts():
    assert Client().get("/accounts/login/").status_code == 301
    secure = Client().get("/accounts/login/", secure=True)
    assert "max-age=31536000" in secure["Strict-Transport-Security"]


def run_check(**extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="false", SECRET_KEY="k" * 20 + "-production-secret-with-enough-entropy-9f3a7", ALLOWED_HOSTS="studio.example.com")
    env.update(extra)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    result = run_check(STUDIO_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # Off only by explicit setting, and then Django says so.
    off = run_check(STUDIO_DATA_DIR=str(tmp_path), SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0")
    assert off.returncode != 0 and "W004" in off.stderr + off.stdout and "W008" in off.stderr + off.stdout
