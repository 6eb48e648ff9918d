"""Section 5 of issue 14: a demo render (no provider key; the local renderer draws) is charged 0
and says so in the job card and the member's credits page; where an install bills them anyway
(STUDIO_DEMO_CHARGE), the ledger's memos still say what was bought."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studio.models import Job, Transfer, TransferKind
from studio.services import credits

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def make_demo_job(client, capture) -> Job:
    with capture(execute=True):
        response = client.post(reverse("studio:home"), {"model": "test-model", "prompt": "a lighthouse", "count": "2"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.is_demo
    return job


def test_a_free_demo_render_reads_as_one_at_zero_credits(designer_client, designer, ai_model, settings, django_capture_on_commit_callbacks):
    settings.STUDIO_DEMO_CHARGE = False
    job = make_demo_job(designer_client, django_capture_on_commit_callbacks)
    assert (job.credits_held, job.credits_charged) == (0, 0) and not job.transfers.exists()

    card = designer_client.get(reverse("studio:job_detail", args=[job.public_id]), **HX).content.decode()
    assert "demo render, no charge: 0 credits" in card and "charged 0" not in card

    page = designer_client.get(reverse("studio:credits")).content.decode()
    demo = page[page.index('id="demo-renders"'):]
    assert "Demo renders: drawn by the local renderer" in demo and "at no charge" in demo
    assert f'href="{reverse("studio:job_detail", args=[job.public_id])}"' in demo
    assert '<td class="num">0</td>' in demo and "2 × demo render, 0 credits" in demo
    assert credits.member_balance(membership=designer) == 1000


def test_a_billed_demo_render_says_demo_in_its_ledger_memos(designer_client, designer, ai_model, settings, django_capture_on_commit_callbacks):
    settings.STUDIO_DEMO_CHARGE = True  # an install that chose to bill placeholders
    job = make_demo_job(designer_client, django_capture_on_commit_callbacks)
    memos = dict(Transfer.objects.filter(job=job).values_list("kind", "memo"))
    assert memos[TransferKind.HOLD] == "2 × test-model (demo render)"
    assert memos[TransferKind.CHARGE] == "2 × test-model (demo render)"
    page = designer_client.get(reverse("studio:credits")).content.decode()
    assert "2 × Test Model (demo render)" in page  # the memo names the model, and says demo
    assert 'id="demo-renders"' not in page  # it was charged: the ledger rows say it, not the free list
