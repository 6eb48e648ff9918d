"""End to end over real HTTP: studio services → real Celery worker → adapter → fake provider.

The worker is a separate process configured through its environment (`FakeProvider.env()`),
this process through the `settings` fixture, so jobs are routed to the real families
(openai, gemini, bfl), never to the local renderer. The fake records every request, so the
tests assert what went over the wire as well as what the studio stored and charged.
Runs on SQLite + the filesystem broker, and on PostgreSQL + Redis when those are set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage

from gallery.models import Image
from gallery.services import load_image_bytes
from providers.catalog import sync_catalog
from providers.models import ProviderStatus
from studio.models import Job, JobStatus, Membership, TransferKind
from studio.services import credits, jobs
from tests.fakes.server import FakeProvider, decode_inline
from tests.images import open_image
from tests.worker import running_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def fake(fake_provider: FakeProvider, settings: Any) -> FakeProvider:
    """The fake provider, with this process routed to it and sharing the worker's media folder."""
    fake_provider.apply_to(settings)
    # The worker stores results under its STUDIO_DATA_DIR; read them (and write inputs) there too.
    media = Path(django_settings.STUDIO_DATA_DIR) / "media"
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": None},
        },
    }
    return fake_provider


@pytest.fixture
def catalog(db: None) -> None:
    sync_catalog()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "worker.log"


@contextmanager
def worker(fake: FakeProvider, log_path: Path) -> Iterator[None]:
    with running_worker(log=log_path, **fake.env()):
        yield


def submit(member: Membership, model: str, prompt: str, *, parent: Job | None = None, **fields: Any) -> Job:
    spec = jobs.validate_job(membership=member, model=model, prompt=prompt, **fields)
    job = jobs.submit_job(membership=member, spec=spec, parent=parent)
    assert (job.provider_family, job.is_demo) != ("local", True), "the job went to the local renderer"
    return job


def finish(job: Job, log_path: Path) -> Job:
    done = wait_until(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout=60)
    assert done, f"job did not finish; worker log:\n{tail(log_path)}"
    job.refresh_from_db()
    return job


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no worker log)"


def stored_sizes(job: Job) -> list[tuple[int, int]]:
    """The size of each stored file itself, not just what the row says."""
    sizes = []
    for image in Image.objects.filter(job=job).order_by("index"):
        with open_image(load_image_bytes(image)) as pil:
            sizes.append(pil.size)
        assert (image.width, image.height) == sizes[-1]
    return sizes


def test_openai_job_runs_over_http_and_stores_what_came_back(
    fake: FakeProvider, catalog: None, designer: Membership, log_path: Path
) -> None:
    with worker(fake, log_path):
        job = finish(submit(designer, "gpt-image-1.5", "a red bicycle", aspect_ratio="16:9", count=2), log_path)

    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message, tail(log_path))
    assert stored_sizes(job) == [(1536, 1024)] * 2
    (sent,) = fake.requests_to("openai")
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["authorization"] == "Bearer sk-fake-openai"
    assert sent.json == {
        # gpt-image-1.5 was shut down on 1 December 2026: the model string is served by its
        # successor route (catalogue lifecycle), at the entry's fixed quality.
        "model": "gpt-image-2",
        "prompt": "a red bicycle",
        "n": 2,  # one call for both images
        "size": "1536x1024",
        "quality": "medium",  # the catalogue entry's fixed option
        "output_format": "png",
    }
    assert job.credits_charged == 60
    assert job.transfers.get(kind=TransferKind.CHARGE).amount == 60
    assert credits.member_balance(membership=designer) == 1000 - 60
    assert credits.ledger_is_balanced()
    health = ProviderStatus.objects.get(family="openai")
    assert health.last_success_at is not None and health.last_error == ""
    assert fake.crashes == []


def test_bfl_job_is_submitted_once_polled_by_rescheduled_tasks_and_downloaded(
    fake: FakeProvider, catalog: None, designer: Membership, log_path: Path
) -> None:
    fake.bfl_seconds = 2.5
    with worker(fake, log_path):
        job = finish(submit(designer, "flux-1.1-pro", "a glass teapot", aspect_ratio="16:9"), log_path)

    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message, tail(log_path))
    (submitted,) = fake.requests_to("bfl.submit")
    assert (submitted.method, submitted.path) == ("POST", "/v1/flux-pro-1.1")
    assert submitted.headers["x-key"] == "fake-bfl-key"
    assert {k: submitted.json[k] for k in ("prompt", "width", "height", "output_format")} == {
        "prompt": "a glass teapot", "width": 1376, "height": 768, "output_format": "png",
    }
    assert job.provider_job_id.startswith("task-")
    polls = fake.requests_to("bfl.poll")
    assert len(polls) >= 2, "expected Pending, then Ready"
    assert all(p.method == "GET" and p.query == {"id": job.provider_job_id} for p in polls)
    assert all(p.headers["x-key"] == "fake-bfl-key" for p in polls)
    # Each poll is its own short task scheduled after the previous one (no loop holding a slot).
    assert all(later.at - earlier.at >= 0.45 for earlier, later in zip(polls, polls[1:], strict=False))
    poll_tasks = re.findall(r"Task studio\.tasks\.poll_job\[[^\]]+\] received", log_path.read_text(errors="replace"))
    assert len(poll_tasks) >= len(polls)
    (download,) = fake.requests_to("file")
    assert download.at > polls[-1].at and "x-key" not in download.headers
    assert stored_sizes(job) == [(1376, 768)]
    assert job.credits_charged == 8 and credits.member_balance(membership=designer) == 1000 - 8
    assert credits.ledger_is_balanced()


def test_gemini_turn_keeps_text_and_signature_and_the_next_turn_sends_them_back(
    fake: FakeProvider, catalog: None, designer: Membership, log_path: Path
) -> None:
    with worker(fake, log_path):
        first = finish(submit(designer, "gemini-2.5-flash-image", "a fox in snow", aspect_ratio="16:9"), log_path)
        assert first.status == JobStatus.SUCCEEDED, (first.error_code, first.error_message, tail(log_path))
        second = finish(submit(designer, "gemini-2.5-flash-image", "now at night", parent=first), log_path)

    assert second.status == JobStatus.SUCCEEDED, (second.error_code, second.error_message)
    # gemini-2.5-flash-image was shut down on 2 October 2026: its successor draws at 1K.
    assert stored_sizes(first) == [(1376, 768)]
    assert first.result_text == "Here is your image (1376x768)."
    image_part = next(p for p in first.result_parts if p.get("image_index") == 0)
    signature = image_part["thought_signature"]
    opening, follow_up = fake.requests_to("gemini")
    assert opening.path == "/v1beta/models/gemini-3.1-flash-image:generateContent"
    assert opening.headers["x-goog-api-key"] == "fake-gemini-key"
    assert opening.json["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}
    user, model, latest = follow_up.json["contents"]
    assert user == {"role": "user", "parts": [{"text": "a fox in snow"}]}
    sent_back = next(p for p in model["parts"] if "inlineData" in p)
    assert sent_back["thoughtSignature"] == signature  # unchanged, as Gemini requires
    assert decode_inline(sent_back) == load_image_bytes(Image.objects.get(job=first))
    assert latest["parts"][0] == {"text": "now at night"}
    assert credits.member_balance(membership=designer) == 1000 - 40


def test_rate_limit_is_retried_after_retry_after_then_succeeds(
    fake: FakeProvider, catalog: None, designer: Membership, log_path: Path
) -> None:
    fake.fail("openai", 429, retry_after=1.5)
    with worker(fake, log_path):
        job = finish(submit(designer, "gpt-image-1.5", "a paper crane"), log_path)

    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message, tail(log_path))
    limited, retried = fake.requests_to("openai")
    assert retried.at - limited.at >= 1.5  # Retry-After is a floor under the jittered back-off
    assert job.attempts == 2
    assert job.transfers.filter(kind=TransferKind.CHARGE).count() == 1 and job.credits_charged == 30
    assert credits.member_balance(membership=designer) == 1000 - 30
    health = ProviderStatus.objects.get(family="openai")
    assert health.last_error.startswith("rate_limited (HTTP 429)")
    assert health.last_success_at is not None and health.last_success_at > health.last_error_at


@pytest.mark.parametrize(("family", "model"), [("openai", "gpt-image-1.5"), ("bfl", "flux-1.1-pro")])
def test_moderation_fails_with_content_policy_and_releases_the_hold(
    fake: FakeProvider, catalog: None, designer: Membership, log_path: Path, family: str, model: str
) -> None:
    fake.moderate(family)
    fake.bfl_seconds = 0.5
    with worker(fake, log_path):
        job = finish(submit(designer, model, "something the provider refuses"), log_path)

    assert job.status == JobStatus.FAILED and job.error_code == "content_policy", tail(log_path)
    expected = "safety system" if family == "openai" else "Request Moderated: Derivative Works Filter"
    assert expected in job.error_message
    submits = fake.requests_to("openai" if family == "openai" else "bfl.submit")
    assert len(submits) == 1  # a refusal is never retried
    assert job.credits_charged == 0
    assert job.transfers.filter(kind=TransferKind.RELEASE).count() == 1
    assert not job.transfers.filter(kind=TransferKind.CHARGE).exists()
    assert credits.member_balance(membership=designer) == 1000
    assert not Image.objects.filter(job=job).exists()
    # A refusal is the provider working: it is not recorded as a provider error.
    assert not ProviderStatus.objects.filter(family=family).exclude(last_error="").exists()


def test_a_size_the_catalogue_does_not_expect_is_logged_and_stored_as_returned(
    fake: FakeProvider, make_model: Any, designer: Membership, log_path: Path
) -> None:
    # OpenAI answers 16:9 with 1536x1024 (000); this entry's catalogue says 1344x768.
    make_model("wide-gpt", family="openai", remote_model="gpt-image-1")
    fake.force_size = (1536, 1024)
    with worker(fake, log_path):
        job = finish(submit(designer, "wide-gpt", "a long bridge", aspect_ratio="16:9"), log_path)

    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message)
    assert fake.requests_to("openai")[0].json["size"] == "1344x768"
    assert stored_sizes(job) == [(1536, 1024)]
    assert (
        "catalogue size mismatch: wide-gpt via openai returned 1536x1024, catalogue says 1344x768 for 16:9"
        in tail(log_path)
    )


@pytest.mark.django_db
def test_size_mismatch_is_logged_in_process(
    fake: FakeProvider,
    make_model: Any,
    designer: Membership,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The same path with the task run eagerly here, so caplog sees the warning itself."""
    make_model("wide-gpt", family="openai", remote_model="gpt-image-1")
    fake.force_size = (1536, 1024)
    with caplog.at_level(logging.WARNING, logger="providers.backends.base"):
        with django_capture_on_commit_callbacks(execute=True):
            job = submit(designer, "wide-gpt", "a long bridge", aspect_ratio="16:9")

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error_code, job.error_message)
    mismatch = [r for r in caplog.records if r.getMessage().startswith("catalogue size mismatch")]
    assert [r.getMessage() for r in mismatch] == [
        "catalogue size mismatch: wide-gpt via openai returned 1536x1024, catalogue says 1344x768 for 16:9 default"
    ]
    image = Image.objects.get(job=job)
    assert (image.width, image.height) == (1536, 1024)
    assert default_storage.exists(image.file.name)
