"""Provider HTTP calls are timed and counted by status on the adapters' shared client, in
the multi-process files /metrics reads."""

from __future__ import annotations

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from providers.registry import shared_http_client
from studio.ops import metrics


def sample(name: str, **labels: str) -> float:
    wanted = set(labels.items())
    total = 0.0
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name and wanted <= set(s.labels.items()):
                total += s.value
    return total


@pytest.mark.django_db
def test_provider_calls_are_counted_by_family_and_status_and_timed():
    client = shared_http_client()
    before_ok = sample("studio_provider_requests_total", family="openai", status="200")
    before_429 = sample("studio_provider_requests_total", family="openai", status="429")
    before_count = sample("studio_provider_request_seconds_count", family="openai")
    with respx.mock(assert_all_called=True) as mock:
        mock.post("https://api.openai.com/v1/images/generations").mock(
            side_effect=[httpx.Response(200, json={}), httpx.Response(429, json={})]
        )
        client.post("https://api.openai.com/v1/images/generations", json={})
        client.post("https://api.openai.com/v1/images/generations", json={})
    assert sample("studio_provider_requests_total", family="openai", status="200") - before_ok == 1
    assert sample("studio_provider_requests_total", family="openai", status="429") - before_429 == 1
    assert sample("studio_provider_request_seconds_count", family="openai") - before_count == 2
