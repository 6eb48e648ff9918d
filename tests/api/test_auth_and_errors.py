"""Bearer keys, the rate limit, and JSON errors everywhere under /v1 and /v2."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studio.api import views
from studio.api.auth import hash_key
from studio.api.models import ApiKey
from studio.models import Membership
from tests.api.helpers import error_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", "Bearer sk-not-ours", "Bearer stu_nope_nope", "Bearer stu_abc"],
)
def test_missing_or_unknown_keys_are_401(gpt_model, header):
    client = Client(**({"HTTP_AUTHORIZATION": header} if header is not None else {}))
    response = client.get("/v1/models")
    assert error_of(response, 401)["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_right_prefix_with_a_wrong_secret_is_401(key_pair, gpt_model):
    key, plaintext = key_pair
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {forged}").get("/v1/models")
    assert error_of(response, 401)["message"] == "Unknown API key."


def test_the_key_is_stored_hashed_and_records_use(api, key_pair, gpt_model):
    key, plaintext = key_pair
    assert plaintext.startswith(f"stu_{key.prefix}_")
    assert key.key_hash == hash_key(plaintext) and plaintext not in key.key_hash
    assert key.last_used_at is None
    assert api.get("/v1/models").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_revoked_keys_and_former_members_are_401(api, key_pair, designer, gpt_model):
    key, _ = key_pair
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert "revoked" in error_of(api.get("/v1/models"), 401)["message"]
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=None)
    Membership.objects.filter(pk=designer.pk).delete()
    assert "no longer a member" in error_of(api.get("/v1/models"), 401)["message"]


def test_api_posts_need_no_csrf_token_but_the_key(key_pair, gpt_model, django_capture_on_commit_callbacks):
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {key_pair[1]}")
    with django_capture_on_commit_callbacks():
        response = client.post(
            "/v2/images/generate", {"model": "gpt-image-test", "prompt": "x"}, content_type="application/json"
        )
    assert response.status_code == 202


def test_a_session_is_not_an_api_credential(designer_client, gpt_model):
    assert error_of(designer_client.get("/v1/models"), 401)["code"] == "unauthorized"


def test_the_rate_limit_is_per_key_with_retry_after(api, make_key, designer, gpt_model, settings):
    settings.STUDIO_API_RATE_LIMIT = 3
    settings.STUDIO_API_RATE_WINDOW = 60
    assert [api.get("/v1/models").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("/v1/models")
    assert error_of(response, 429)["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    _, other = make_key(designer, "other")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {other}").get("/v1/models").status_code == 200


def test_the_rate_limit_lets_requests_through_when_the_cache_is_down(api, gpt_model, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("cache down")

    monkeypatch.setattr("studio.api.ratelimit.cache.incr", broken)
    assert api.get("/v1/models").status_code == 200


@pytest.mark.parametrize(
    "path", ["/v1/nothing", "/v1/images", "/v2/jobs/x/y/z", "/v2/", "/v1/models/", "/v1/models/%24%0A", "/v2/x%0Ay"]
)
def test_unknown_paths_under_the_api_are_json_404(path):
    assert error_of(Client().get(path), 404)["code"] == "not_found"


def test_wrong_methods_are_json_405(api, gpt_model):
    response = api.get("/v1/images/generations")
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"
    assert error_of(api.delete("/v1/models"), 405)["code"] == "method_not_allowed"


def test_an_unexpected_failure_is_json_500(api, gpt_model, monkeypatch):
    def explode(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(views.v1, "list_models", explode)
    error = error_of(api.get("/v1/models"), 500)
    assert error["code"] == "server_error" and "boom" not in error["message"]


def test_models_list_has_every_enabled_model_with_sizes(api, designer, gpt_model, gemini_model, make_model):
    make_model("hidden-model", enabled=False)
    body = api.get("/v1/models", {"modality": "image"}).json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert set(by_id) == {"gpt-image-test", "gemini-test-image"}
    gemini = by_id["gemini-test-image"]
    assert gemini["aliases"] == ["nano-test"]
    assert gemini["tier"] == "standard" and gemini["credits_per_image"] == 30
    assert gemini["provider"] == "gemini" and gemini["available"] is True
    assert gemini["allowedParams"]["supported_sizes"] == ["64x64", "96x54", "80x60", "128x128", "192x108", "160x120"]
    assert gemini["capabilities"]["max_references"] == 14
    assert by_id["gpt-image-test"]["allowedParams"]["qualities"] == ["medium"]
    assert api.get("/v1/models", {"modality": "video"}).json()["data"] == []


def test_model_detail_by_id_or_alias(api, gpt_model):
    assert api.get("/v1/models/openai/gpt-image-test").json()["id"] == "gpt-image-test"
    assert api.get("/v1/models/GPT-IMAGE-TEST").json()["id"] == "gpt-image-test"
    assert error_of(api.get("/v1/models/nope"), 404)["param"] == "model"


def test_a_blocked_model_is_listed_as_unavailable_with_the_reason(make_member, make_key, gpt_model):
    viewer = make_member("viewer", role="viewer")
    _, plaintext = make_key(viewer)
    model = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/v1/models/gpt-image-test").json()
    assert model["available"] is False and model["unavailable_reason"]


def test_openapi_document_is_3_1_and_public():
    response = Client().get("/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert {"/v1/models", "/v1/images/generations", "/v1/images/edits", "/v2/images/generate", "/v2/jobs/{job_id}"} <= set(
        document["paths"]
    )
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_old_last_used_is_refreshed_but_not_on_every_call(api, key_pair, gpt_model, django_assert_num_queries):
    key, _ = key_pair
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(hours=1))
    api.get("/v1/models")
    key.refresh_from_db()
    assert key.last_used_at > timezone.now() - timedelta(minutes=1)
    stamp = key.last_used_at
    api.get("/v1/models")
    key.refresh_from_db()
    assert key.last_used_at == stamp


@pytest.mark.parametrize(
    "raw",
    [
        '{"model": "gpt-image-test\\u0000", "prompt": "x"}',
        '{"model": "gpt-image-test", "prompt": "a \\ud991 lone surrogate"}',
        '{"model": "gpt-image-test", "prompt": "x", "params": {"style": "\\u0000"}}',
        '{"model": "gpt-image-test", "prompt": "x", "webhookUrl": "https://a.example/\\u0000"}',
    ],
)
def test_text_the_database_cannot_store_is_400_not_500(api, gpt_model, raw):
    # Found by schemathesis on PostgreSQL: NUL and lone surrogates reached the ORM.
    for path in ("/v2/images/generate", "/v1/images/generations"):
        response = api.post(path, raw, content_type="application/json", headers={"Idempotency-Key": "nul"})
        assert error_of(response, 400)["code"] == "validation_error"


def test_nul_in_paths_and_keys_is_not_a_server_error(api, key_pair, gpt_model):
    assert error_of(api.get("/v1/models/gpt%00x"), 404)["code"] == "not_found"
    assert error_of(api.post("/v2/jobs/%00/cancel", headers={"Idempotency-Key": "p"}), 404)["code"] == "not_found"
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key_pair[1]}\x00").get("/v1/models")
    assert response.status_code in (200, 401)
    assert error_of(Client(HTTP_AUTHORIZATION="Bearer stu_\x00_x").get("/v1/models"), 401)["code"] == "unauthorized"
