"""The aggregator family end to end, with a second Studio started by the test as the upstream.

studio services → real Celery worker → AggregatorAdapter → upstream Studio's /v2 (its demo
renderer draws) → polled → signed image downloaded → stored and charged here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from providers.backends.aggregator import AggregatorAdapter
from providers.catalog import sync_catalog
from providers.errors import ErrorCode, ProviderError
from providers.models import CatalogModel
from providers.registry import route_for
from providers.types import GenerationRequest
from studio.models import Job, JobStatus, Membership
from studio.services import credits, jobs
from tests.fakes.studio_upstream import Upstream, running_upstream
from tests.worker import running_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with running_upstream(tmp_path_factory.mktemp("upstream-studio")) as studio:
        yield studio


@pytest.fixture
def routed(upstream: Upstream, settings: Any) -> Upstream:
    settings.AGGREGATOR_API_KEY = upstream.api_key
    settings.AGGREGATOR_BASE_URL = upstream.base_url
    media = Path(django_settings.STUDIO_DATA_DIR) / "media"
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": None},
        },
    }
    sync_catalog()
    return upstream


def midjourney_request(key: str) -> GenerationRequest:
    return GenerationRequest(
        model="midjourney",
        remote_model="midjourney",
        prompt="a lighthouse at dusk, painterly",
        aspect_ratio="16:9",
        width=1456,
        height=816,
        idempotency_key=key,
    )


def test_a_midjourney_job_runs_through_the_upstream_studio(
    routed: Upstream, designer: Membership, tmp_path: Path
) -> None:
    assert route_for(CatalogModel.objects.get(slug="midjourney").family).family == "aggregator"
    log = tmp_path / "worker.log"
    env = {"AGGREGATOR_API_KEY": routed.api_key, "AGGREGATOR_BASE_URL": routed.base_url}
    with running_worker(log=log, **env):
        spec = jobs.validate_job(membership=designer, model="midjourney", prompt="a lighthouse", aspect_ratio="16:9")
        job = jobs.submit_job(membership=designer, spec=spec)
        assert (job.provider_family, job.is_demo) == ("aggregator", False)
        done = wait_until(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout=90)
        assert done, log.read_text(errors="replace")[-3000:]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message)
    assert [(i.width, i.height) for i in job.images.all()] == [(1456, 816)]
    # The upstream's job id is what the downstream polled.
    assert uuid.UUID(job.provider_job_id)
    assert job.credits_charged == CatalogModel.objects.get(slug="midjourney").credits_per_image
    assert credits.member_balance(membership=designer) == 1000 - job.credits_charged


def test_a_retried_submit_finds_the_job_it_already_started(routed: Upstream) -> None:
    adapter = AggregatorAdapter(api_key=routed.api_key, base_url=routed.base_url)
    first = adapter.submit(midjourney_request("job-42"))
    again = adapter.submit(midjourney_request("job-42"))
    other = adapter.submit(midjourney_request("job-43"))
    assert first.provider_job_id == again.provider_job_id != other.provider_job_id
    jobs_upstream = httpx.get(
        f"{routed.base_url}/v2/jobs", headers={"Authorization": f"Bearer {routed.api_key}"}, timeout=10
    ).json()
    started = [j["jobId"] for j in jobs_upstream["data"]]
    assert started.count(first.provider_job_id) == 1


def test_an_upstream_account_without_credits_is_provider_billing(tmp_path: Path) -> None:
    with running_upstream(tmp_path / "poor", balance=0) as poor:
        adapter = AggregatorAdapter(api_key=poor.api_key, base_url=poor.base_url)
        with pytest.raises(ProviderError) as caught:
            adapter.submit(midjourney_request("job-1"))
    assert caught.value.code is ErrorCode.PROVIDER_BILLING and not caught.value.retryable


def test_a_wrong_key_is_auth(routed: Upstream) -> None:
    with pytest.raises(ProviderError) as caught:
        AggregatorAdapter(api_key="sk-wrong", base_url=routed.base_url).submit(midjourney_request("job-9"))
    assert caught.value.code is ErrorCode.AUTH


def test_the_upstream_model_list_imports_as_valid_catalogue_entries(routed: Upstream, tmp_path: Path) -> None:
    from providers.aggregator_import import fetch_models, import_entries
    from providers.catalog import load_catalog_data

    models = fetch_models(base_url=routed.base_url, api_key=routed.api_key)
    assert models and all("supported_sizes" in m["allowedParams"] for m in models)
    entries = import_entries(models, known=[], credits_per_image=20)
    path = tmp_path / "imported.json"
    path.write_text(json.dumps({"version": 1, "models": entries}), encoding="utf-8")
    loaded = {e["slug"]: e for e in load_catalog_data(path)}  # passes the catalogue's validation
    midjourney = loaded["midjourney"]
    assert (midjourney["family"], midjourney["remote_model"]) == ("aggregator", "midjourney")
    assert midjourney["sizes"]["default"]["16:9"] == [1456, 816]
    # What the catalogue already has is not imported again.
    assert import_entries(models, known=list(loaded), credits_per_image=20) == []


def test_the_import_command_needs_the_aggregator_settings(settings: Any) -> None:
    from django.core.management import CommandError, call_command

    settings.AGGREGATOR_BASE_URL = ""
    with pytest.raises(CommandError, match="AGGREGATOR_BASE_URL"):
        call_command("import_aggregator_models")
