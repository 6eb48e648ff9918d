"""The API keys page (create once, revoke), the delivery log and the docs page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from studio.api.auth import create_api_key, hash_key
from studio.api.models import ApiKey, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_creating_a_key_shows_it_once_and_stores_only_its_hash(designer_client, designer):
    response = designer_client.post("/settings/api-keys/", {"name": "build server"})
    assert response.status_code == 200
    html = response.content.decode()
    plaintext = re.search(r'id="new-key">(stu_[^<]+)<', html).group(1)
    key = ApiKey.objects.get()
    assert (key.user, key.team, key.name) == (designer.user, designer.team, "build server")
    assert key.key_hash == hash_key(plaintext)
    assert key.webhook_secret in html
    again = designer_client.get("/settings/api-keys/").content.decode()
    assert plaintext not in again and key.display_prefix in again
    # The new key works at once.
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/v1/models").status_code == 200


def test_a_key_needs_a_name(designer_client):
    response = designer_client.post("/settings/api-keys/", {"name": "  "})
    assert response.status_code == 400
    assert "Give the key a name" in response.content.decode()
    assert ApiKey.objects.count() == 0


def test_htmx_create_returns_the_fragment(designer_client):
    response = designer_client.post("/settings/api-keys/", {"name": "ci"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="key-list"' in html and "<html" not in html
    assert 'id="new-key"' in html


def test_revoking_a_key_makes_it_401(designer_client, designer):
    key, plaintext = create_api_key(membership=designer, name="old")
    response = designer_client.post(f"/settings/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/v1/models").status_code == 401


def test_a_member_cannot_revoke_someone_elses_key_but_an_admin_can(make_member, designer):
    key, _ = create_api_key(membership=designer, name="mine")
    other = make_member("other")
    client = Client()
    client.force_login(other.user)
    client.post(f"/settings/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is None
    admin = make_member("boss", role="admin")
    client.force_login(admin.user)
    page = client.get("/settings/api-keys/").content.decode()
    assert "mine" in page  # an admin sees the team's keys
    assert key.webhook_secret not in page  # but not other people's secrets
    client.post(f"/settings/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_the_delivery_log_lists_the_users_deliveries(designer_client, designer, gpt_model, make_member):
    from studio.models import Job

    key, _ = create_api_key(membership=designer, name="hooks")
    job = Job.objects.create(
        team=designer.team, user=designer.user, catalog_model=gpt_model, model_slug=gpt_model.slug, prompt="p",
        credits_per_image=1, credits_held=1, provider_family="local",
    )
    WebhookDelivery.objects.create(
        job=job, api_key=key, url="https://hooks.example.com/x", event="completed", event_type="job.completed",
        webhook_id="msg_abc", payload="{}", attempts=2, last_status_code=500, last_error="answered HTTP 500",
        next_attempt_at=timezone.now(),
    )
    html = designer_client.get("/settings/api-keys/deliveries/").content.decode()
    assert "msg_abc" in html and "HTTP 500" in html and "job.completed" in html
    outsider = make_member("outsider")
    client = Client()
    client.force_login(outsider.user)
    assert "msg_abc" not in client.get("/settings/api-keys/deliveries/").content.decode()


def test_the_docs_page_is_public_and_lists_every_endpoint():
    html = Client().get("/v1/docs").content.decode()
    for operation in ("GET /v1/models", "POST /v1/images/generations", "POST /v2/images/generate", "GET /v2/jobs/{job_id}"):
        assert operation in html
    assert "Idempotency-Key" in html and "webhook-signature" in html
    assert "cdn" not in html.lower()


def test_the_nav_links_to_the_keys_page(designer_client):
    assert 'href="/settings/api-keys/"' in designer_client.get("/settings/api-keys/").content.decode()


def test_the_keys_page_needs_a_login():
    response = Client().get("/settings/api-keys/")
    assert response.status_code == 302 and "/accounts/login" in response["Location"]
