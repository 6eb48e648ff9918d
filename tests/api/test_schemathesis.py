"""Property-based tests of /v1 and /v2 from the OpenAPI document: no request makes a 5xx.

Schemathesis generates requests (valid and invalid) for every operation and sends them
through the Django WSGI app with a valid Bearer key; answers must not be server errors
and must match the document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from providers.models import CatalogModel
from studio.api.auth import create_api_key
from studio.api.openapi import build_document
from studio.api.webhooks import WebhookSender, ssrf
from studio.models import Membership
from tests.api.conftest import SMALL_SIZES

schema = schemathesis.openapi.from_dict(build_document())
application = WSGIHandler()
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def bearer(
    make_member: Callable[..., Membership], make_model: Callable[..., CatalogModel], settings: Any, monkeypatch: Any
) -> str:
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    # Generated webhook hosts must reach neither a DNS server nor the network: every name
    # is "public" and every delivery is answered in-process.
    sender = WebhookSender(
        resolver=lambda host, port: ["93.184.216.34"],
        transport=httpx.MockTransport(lambda request: httpx.Response(204)),
    )
    monkeypatch.setattr(ssrf, "get_sender", lambda: sender)
    settings.STUDIO_API_RATE_LIMIT = 0
    settings.STUDIO_API_MAX_BODY_BYTES = 2 * 1024 * 1024
    # The document's example model, so valid requests reach a real job.
    make_model("gpt-image-2", sizes=SMALL_SIZES, timeout_seconds=20, fixed_options={"quality": "medium"})
    member = make_member("fuzzer", balance=90_000)
    return create_api_key(membership=member, name="schemathesis")[1]


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db(transaction=True)
def test_no_server_errors(case: schemathesis.Case, bearer: str) -> None:
    response = case.call(app=application, headers={"Authorization": f"Bearer {bearer}"})
    case.validate_response(response, checks=CHECKS)
