"""Luma references: signed, expiring public links to a running job's inputs (studio/input_links.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import respx
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from studio.input_links import public_input_url
from studio.models import Job, JobInput, JobStatus, Membership
from studio.services import jobs
from studio.services.errors import ValidationFailed
from tests.images import make_jpeg, make_pattern

pytestmark = pytest.mark.django_db

LUMA = "https://api.lumalabs.ai/dream-machine/v1"
PUBLIC = "https://studio.example.com"


@pytest.fixture
def luma(settings: Any, make_model: Any) -> Any:
    settings.LUMA_API_KEY = "luma-key"
    settings.STUDIO_PUBLIC_URL = PUBLIC
    return make_model(
        "photon",
        family="luma",
        remote_model="photon-1",
        capabilities={"edit": True, "max_references": 4, "aspect_ratios": ["1:1", "16:9"], "output_formats": ["png"]},
    )


def upload(variant: int) -> jobs.Upload:
    return jobs.Upload(make_pattern(96, 64, variant=variant), f"ref-{variant}.png")


def submit_with_refs(member: Membership, captured: Any, *, execute: bool = False) -> Job:
    spec = jobs.validate_job(
        membership=member, model="photon", prompt="the same cat, in a hat", references=[upload(0), upload(1)]
    )
    with captured(execute=execute):
        return jobs.submit_job(membership=member, spec=spec)


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/inputs/"), url
    return url[len(PUBLIC) :]


def test_luma_request_carries_signed_links_that_serve_each_reference_in_order(
    luma: Any, designer: Membership, django_capture_on_commit_callbacks: Any
) -> None:
    job = submit_with_refs(designer, django_capture_on_commit_callbacks)

    request = jobs.build_request(job)

    urls = request.options["reference_urls"]
    inputs = list(job.inputs.order_by("position"))
    assert len(urls) == 2
    anonymous = Client()  # the provider has no session
    for url, job_input in zip(urls, inputs, strict=True):
        response = anonymous.get(path_of(url))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["Cache-Control"] == "private, no-store"
        assert b"".join(response.streaming_content) == job_input.file.open("rb").read()
        assert anonymous.head(path_of(url)).status_code == 200
    assert [r.data for r in request.references] == [i.file.open("rb").read() for i in inputs]


def test_luma_job_runs_with_references_through_the_adapter(
    luma: Any, designer: Membership, django_capture_on_commit_callbacks: Any, respx_mock: respx.MockRouter
) -> None:
    """What Luma receives is a URL it can fetch; after the job the link no longer works."""
    fetched: list[int] = []

    def create(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        for ref in body["image_ref"]:
            # Fetch like Luma would, with no session, while the job runs.
            fetched.append(Client().get(path_of(ref["url"])).status_code)
        return httpx.Response(201, json={"id": "g1", "state": "queued"})

    respx_mock.post(f"{LUMA}/generations/image").mock(side_effect=create)
    respx_mock.get(f"{LUMA}/generations/g1").respond(
        json={"id": "g1", "state": "completed", "assets": {"image": "https://cdn.luma.test/g1.jpg"}}
    )
    respx_mock.get("https://cdn.luma.test/g1.jpg").respond(content=make_jpeg(1536, 1536))

    job = submit_with_refs(designer, django_capture_on_commit_callbacks, execute=True)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message)
    assert fetched == [200, 200]
    url = public_input_url(job_input=job.inputs.first())
    after = Client().get(path_of(url))
    assert after.status_code == 410 and b"finished" in after.content


def test_a_tampered_link_is_not_found(luma: Any, designer: Membership, django_capture_on_commit_callbacks: Any) -> None:
    job = submit_with_refs(designer, django_capture_on_commit_callbacks)
    url = public_input_url(job_input=job.inputs.first())
    token, ext = path_of(url).removeprefix("/inputs/").rsplit(".", 1)
    other = signing.dumps(job.inputs.last().pk, salt="another purpose")

    assert Client().get(f"/inputs/{token[:-2]}xx.{ext}").status_code == 404
    assert Client().get(f"/inputs/{other}.png").status_code == 404
    assert Client().get("/inputs/not-a-token").status_code == 404
    assert Client().post(path_of(url)).status_code == 405


def test_an_expired_link_says_so(
    luma: Any, designer: Membership, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = submit_with_refs(designer, django_capture_on_commit_callbacks)
    two_hours_ago = time.time() - 7200
    monkeypatch.setattr(signing.time, "time", lambda: two_hours_ago)
    url = public_input_url(job_input=job.inputs.first())
    monkeypatch.undo()

    response = Client().get(path_of(url))

    assert response.status_code == 410 and b"expired" in response.content


def test_luma_references_are_refused_without_a_public_url(luma: Any, designer: Membership, settings: Any) -> None:
    settings.STUDIO_PUBLIC_URL = ""

    with pytest.raises(ValidationFailed) as refused:
        jobs.validate_job(membership=designer, model="photon", prompt="a cat", references=[upload(0)])

    assert refused.value.errors["references"].startswith(
        "Luma needs STUDIO_PUBLIC_URL to fetch reference images"
    )
    assert not JobInput.objects.exists()
    # Without references nothing needs fetching, and Luma works as before.
    assert jobs.validate_job(membership=designer, model="photon", prompt="a cat").model.slug == "photon"


def test_references_are_fine_when_luma_is_rendered_locally(luma: Any, designer: Membership, settings: Any) -> None:
    settings.STUDIO_PUBLIC_URL = ""
    settings.LUMA_API_KEY = ""  # no key: the local renderer serves the model (STUDIO_DEMO_RENDER=auto)

    spec = jobs.validate_job(membership=designer, model="photon", prompt="a cat", references=[upload(0)])

    assert len(spec.references) == 1


def test_a_worker_reads_the_inputs_the_submitting_process_remembered(
    luma: Any, designer: Membership, django_capture_on_commit_callbacks: Any, django_assert_num_queries: Any
) -> None:
    """Issue 12: the submitter's own job carries its inputs; a worker's copy of the row reads
    them (after a one-row probe), and a job without inputs costs only the probe."""
    job = submit_with_refs(designer, django_capture_on_commit_callbacks)
    with django_assert_num_queries(0):
        remembered = jobs.build_request(job)
    claimed = Job.objects.get(pk=job.pk)  # as a worker's claim reads it: nothing remembered
    with CaptureQueriesContext(connection) as queries:
        read = jobs.build_request(claimed)
    assert input_reads(queries) == ["probe", "rows"]
    assert [r.data for r in read.references] == [r.data for r in remembered.references]
    assert len(read.references) == 2 and read.options["reference_urls"]
    spec = jobs.validate_job(membership=designer, model="photon", prompt="no references")
    with django_capture_on_commit_callbacks():
        plain = Job.objects.get(pk=jobs.submit_job(membership=designer, spec=spec).pk)
    with CaptureQueriesContext(connection) as queries:
        assert jobs.build_request(plain).references == ()
    assert input_reads(queries) == ["probe"]


def input_reads(queries: CaptureQueriesContext) -> list[str]:
    table = JobInput._meta.db_table
    return [
        "probe" if query["sql"].startswith("SELECT 1 ") else "rows"
        for query in queries.captured_queries
        if table in query["sql"]
    ]
