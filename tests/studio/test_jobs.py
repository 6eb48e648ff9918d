from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage

from gallery.models import Image
from providers.errors import ErrorCode, ProviderError
from providers.types import GeneratedImage, GenerationResult, PollResult, Submission
from studio.models import Job, JobInput, JobStatus, TransferKind
from studio.services import credits, jobs
from studio.services.errors import InsufficientCredits, ModelNotAllowed, ValidationFailed
from tests.images import make_pattern, make_png, make_png_declaring

pytestmark = pytest.mark.django_db


def spec_for(membership, **kwargs: Any) -> jobs.JobSpec:
    kwargs.setdefault("model", "test-model")
    kwargs.setdefault("prompt", "a red fox in the snow")
    return jobs.validate_job(membership=membership, **kwargs)


def submit(membership, django_capture_on_commit_callbacks, *, execute: bool = False, **kwargs: Any) -> Job:
    with django_capture_on_commit_callbacks(execute=execute):
        return jobs.submit_job(membership=membership, spec=spec_for(membership, **kwargs))


def balance(membership) -> int:
    return credits.member_balance(membership=membership)


# -- validation: every bad input is refused with nothing stored or held -----------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"aspect_ratio": "21:9"}, "aspect_ratio"),
        ({"resolution": "4K"}, "resolution"),
        ({"count": 9}, "count"),
        ({"count": 0}, "count"),
        ({"count": "two"}, "count"),
        ({"quality": "ultra"}, "quality"),
        ({"output_format": "gif"}, "output_format"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_fields_are_refused(designer, ai_model, kwargs, field):
    with pytest.raises(ValidationFailed) as caught:
        spec_for(designer, **kwargs)
    assert field in caught.value.errors


def test_a_2000_character_prompt_is_accepted(designer, ai_model):
    assert len(spec_for(designer, prompt="y" * 2000).prompt) == 2000


def test_unknown_and_disabled_models_are_refused(designer, make_model):
    with pytest.raises(ValidationFailed) as caught:
        spec_for(designer, model="no-such-model")
    assert "Unknown model" in caught.value.errors["model"]
    make_model("off-model", enabled=False)
    with pytest.raises(ModelNotAllowed, match="disabled"):
        spec_for(designer, model="off-model")


def test_demo_render_off_disables_unconfigured_models(designer, ai_model, settings):
    settings.STUDIO_DEMO_RENDER = "off"
    settings.OPENAI_API_KEY = ""
    with pytest.raises(ModelNotAllowed, match="OPENAI_API_KEY"):
        spec_for(designer)


@pytest.mark.parametrize(
    ("uploads", "message"),
    [
        ([make_png(8, 8)] * 3, "at most 2"),
        ([b"<html>not an image</html>"], "not an image"),
        ([make_pattern(512, 512, fmt="JPEG")[:1500]], "damaged"),
        ([make_png_declaring(20000, 20000)], "too large"),
    ],
)
def test_bad_references_are_refused(designer, ai_model, uploads, message):
    with pytest.raises(ValidationFailed) as caught:
        spec_for(designer, references=[jobs.Upload(data=d, name="ref.png") for d in uploads])
    assert message in caught.value.errors["references"]


def test_models_without_edit_refuse_references(designer, make_model):
    make_model("no-edit", capabilities={"edit": False, "max_count": 1, "aspect_ratios": ["1:1"]})
    with pytest.raises(ValidationFailed) as caught:
        spec_for(designer, model="no-edit", references=[jobs.Upload(make_png(8, 8), "a.png")])
    assert "does not take reference" in caught.value.errors["references"]


def test_price_above_balance_stores_and_holds_nothing(make_member, ai_model, django_capture_on_commit_callbacks):
    poor = make_member("poor", balance=30)
    with pytest.raises(InsufficientCredits):
        submit(poor, django_capture_on_commit_callbacks, count=2, references=[jobs.Upload(make_png(8, 8), "r.png")])
    assert balance(poor) == 30
    assert not Job.objects.exists() and not JobInput.objects.exists()
    assert not default_storage.exists("inputs") or not default_storage.listdir("inputs")[1]


# -- submit and run -------------------------------------------------------------------
def test_submit_holds_the_price_and_enqueues_on_commit(designer, ai_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = jobs.submit_job(membership=designer, spec=spec_for(designer, count=3))
    assert job.status == JobStatus.QUEUED
    assert job.credits_held == 60 and balance(designer) == 940
    assert len(callbacks) == 1  # the task is sent only once the transaction commits
    assert job.provider_family == "local" and job.is_demo


def test_local_render_end_to_end_charges_exactly(designer, ai_model, django_capture_on_commit_callbacks):
    job = submit(designer, django_capture_on_commit_callbacks, execute=True, count=2, aspect_ratio="16:9", seed=7)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.progress == 100
    assert (job.credits_charged, job.credits_returned) == (40, 0)
    assert balance(designer) == 960
    images = list(Image.objects.filter(job=job).order_by("index"))
    assert [(i.width, i.height) for i in images] == [(1344, 768), (1344, 768)]
    assert images[0].sha256 != images[1].sha256
    stored = default_storage.open(images[0].file.name).read()
    assert len(stored) == images[0].byte_size and images[0].is_demo
    assert credits.ledger_is_balanced()


def test_a_second_delivery_does_nothing(designer, ai_model, django_capture_on_commit_callbacks, monkeypatch):
    job = submit(designer, django_capture_on_commit_callbacks, execute=True)
    calls = []
    monkeypatch.setattr(jobs.run, "get_adapter", lambda family: calls.append(family))
    jobs.run_job(job_id=job.pk)
    assert calls == []
    assert Image.objects.filter(job=job).count() == 1
    assert job.transfers.filter(kind=TransferKind.CHARGE).count() == 1


def test_content_policy_fails_at_once_and_returns_the_hold(designer, ai_model, django_capture_on_commit_callbacks):
    job = submit(designer, django_capture_on_commit_callbacks, execute=True, prompt="a cat [[fail:content_policy]]")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "content_policy"
    assert job.attempts == 1
    assert balance(designer) == 1000
    assert job.transfers.filter(kind=TransferKind.RELEASE).count() == 1


def test_retryable_errors_retry_then_fail_and_refund(designer, ai_model, django_capture_on_commit_callbacks, settings):
    settings.STUDIO_MAX_ATTEMPTS = 3
    job = submit(designer, django_capture_on_commit_callbacks, execute=True, prompt="[[fail:unavailable]]")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "unavailable"
    assert job.attempts == 3
    assert balance(designer) == 1000


class FlakyAdapter:
    is_async = False

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def generate(self, request, *, on_progress=None) -> GenerationResult:
        if self.failures:
            self.failures -= 1
            raise ProviderError(ErrorCode.RATE_LIMITED, "slow down", retry_after=0.0)
        return GenerationResult(images=(GeneratedImage(make_png(1024, 1024), "image/png", 1024, 1024),))


def test_a_rate_limit_is_retried_and_then_succeeds(designer, ai_model, django_capture_on_commit_callbacks, monkeypatch):
    adapter = FlakyAdapter(failures=2)
    monkeypatch.setattr(jobs.run, "get_adapter", lambda family: adapter)
    job = submit(designer, django_capture_on_commit_callbacks, execute=True)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 3
    assert balance(designer) == 980


def test_partial_delivery_charges_only_delivered_images(designer, ai_model, django_capture_on_commit_callbacks, monkeypatch):
    class Partial(FlakyAdapter):
        def generate(self, request, *, on_progress=None):
            image = GeneratedImage(make_png(1024, 1024), "image/png", 1024, 1024)
            return GenerationResult(images=(image,), refusals=("image 2 was moderated",))

    monkeypatch.setattr(jobs.run, "get_adapter", lambda family: Partial(0))
    job = submit(designer, django_capture_on_commit_callbacks, execute=True, count=2)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.credits_charged, job.credits_returned) == (20, 20)
    assert "moderated" in job.error_message


def test_cancel_before_start_releases_the_hold(designer, ai_model, django_capture_on_commit_callbacks):
    job = submit(designer, django_capture_on_commit_callbacks, execute=False)
    assert balance(designer) == 980
    jobs.cancel_job(job=job, user=designer.user)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED and balance(designer) == 1000
    jobs.run_job(job_id=job.pk)  # the queued task arrives after the cancel
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED and not Image.objects.exists()


def test_a_result_after_cancel_is_discarded(designer, ai_model, django_capture_on_commit_callbacks):
    job = submit(designer, django_capture_on_commit_callbacks, execute=False)
    jobs.cancel_job(job=job, user=designer.user)
    image = GeneratedImage(make_png(64, 64, (1, 2, 3)), "image/png", 64, 64)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.complete_job(job_id=job.pk, result=GenerationResult(images=(image,)))
    assert not Image.objects.exists()
    assert balance(designer) == 1000
    assert default_storage.listdir("images")[0] == [] or not any(
        default_storage.listdir(f"images/{d}")[1] for d in default_storage.listdir("images")[0]
    )


class AsyncAdapter:
    is_async = True

    def __init__(self) -> None:
        self.polls = 0
        self.submits = 0

    def submit(self, request) -> Submission:
        self.submits += 1
        return Submission(provider_job_id="prov-1", poll_url="https://example.test/poll/1", state={"w": 1024}, poll_after=0)

    def poll(self, submission: Submission) -> PollResult:
        assert submission.state == {"w": 1024} and submission.poll_url.endswith("/1")
        self.polls += 1
        if self.polls < 3:
            return PollResult(done=False, progress=30 * self.polls, poll_after=0)
        image = GeneratedImage(make_png(1024, 1024), "image/png", 1024, 1024)
        return PollResult(done=True, progress=100, result=GenerationResult(images=(image,)))


def test_async_provider_is_submitted_once_and_polled_by_rescheduled_tasks(
    designer, ai_model, django_capture_on_commit_callbacks, monkeypatch
):
    adapter = AsyncAdapter()
    monkeypatch.setattr(jobs.run, "get_adapter", lambda family: adapter)
    job = submit(designer, django_capture_on_commit_callbacks, execute=True)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.provider_job_id == "prov-1"
    assert (adapter.submits, adapter.polls) == (1, 3)
    assert balance(designer) == 980


def test_a_job_whose_worker_vanished_is_run_again_not_failed(designer, ai_model, django_capture_on_commit_callbacks, settings):
    """A lapsed lease queues the job again (attempts left); it is failed only once they are used."""
    from datetime import timedelta

    from django.utils import timezone

    settings.STUDIO_MAX_ATTEMPTS = 2
    job = submit(designer, django_capture_on_commit_callbacks, execute=False)
    jobs.claim_job(job_id=job.pk)
    lapsed = timezone.now() - timedelta(seconds=1)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=lapsed)
    with django_capture_on_commit_callbacks(execute=False) as published:
        assert jobs.recover_stalled_jobs() == 0
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.attempts == 1 and job.lease_expires_at is None
    assert len(published) == 1  # the run task, published again on commit
    assert balance(designer) == 980  # still held: it will run

    jobs.claim_job(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=lapsed)
    assert jobs.recover_stalled_jobs() == 1  # the second lapse used the last attempt
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "timeout"
    assert balance(designer) == 1000


def test_backoff_is_bounded_and_honours_retry_after(settings):
    settings.STUDIO_RETRY_BASE_SECONDS = 2.0
    settings.STUDIO_RETRY_MAX_SECONDS = 300.0
    for attempt in range(1, 12):
        delay = jobs.backoff_delay(attempt)
        assert 0 <= delay <= min(300.0, 2.0 * 2 ** (attempt - 1))
    assert jobs.backoff_delay(1, retry_after=20.0) >= 20.0
    assert jobs.backoff_delay(1, retry_after=5000.0) == jobs.MAX_COUNTDOWN


def test_a_demo_render_is_free_by_default(designer, ai_model, django_capture_on_commit_callbacks, settings):
    """Nobody pays for a placeholder: with no provider key the local renderer draws it for 0."""
    settings.STUDIO_DEMO_CHARGE = False
    assert jobs.quote_job(membership=designer, model=ai_model, count=2).total == 0
    job = submit(designer, django_capture_on_commit_callbacks, execute=True, count=2)
    job.refresh_from_db()
    assert job.is_demo and job.status == JobStatus.SUCCEEDED
    assert (job.credits_per_image, job.credits_held, job.credits_charged) == (0, 0, 0)
    assert job.images.count() == 2
    assert balance(designer) == 1000
    assert not job.transfers.exists()
    assert credits.ledger_is_balanced()
