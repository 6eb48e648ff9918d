"""The job card learns of the end from a cheap watch (issue 12, goal 4), not by re-rendering."""

from __future__ import annotations

import re
import uuid

from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studio.models import Job, JobStatus
from studio.models.jobs import WATCH_SALT

HX = {"HTTP_HX_REQUEST": "true"}


def submitted(designer_client, django_capture_on_commit_callbacks) -> tuple[Job, str]:
    with django_capture_on_commit_callbacks(execute=False):
        html = designer_client.post(reverse("studio:home"), {"model": "test-model", "prompt": "a kite"}, **HX).content.decode()
    job = Job.objects.get()
    watch = re.search(r'<a class="job-watch" hidden href="[^"]+" hx-get="([^"]+)"', html)
    assert watch is not None, html[:2000]
    return job, watch.group(1).replace("&amp;", "&")


def test_unchanged_state_is_a_204_from_one_query_without_the_session(designer_client, ai_model, django_capture_on_commit_callbacks):
    job, url = submitted(designer_client, django_capture_on_commit_callbacks)
    anonymous = Client()  # the token, not the session, says whose job it is
    with CaptureQueriesContext(connection) as queries:
        response = anonymous.get(url, **HX)
    assert response.status_code == 204 and not response.has_header("HX-Trigger")
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
    assert '"studio_job"."public_id"' in queries.captured_queries[0]["sql"]


def test_a_change_triggers_the_card_to_fetch_itself_once(designer_client, ai_model, django_capture_on_commit_callbacks):
    job, url = submitted(designer_client, django_capture_on_commit_callbacks)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, progress=100)
    response = designer_client.get(url, **HX)
    assert response.status_code == 200 and "job-changed" in response["HX-Trigger"]
    # The card listens for that event on itself; its own fetch is the one re-render.
    card = designer_client.get(reverse("studio:job_detail", args=[job.public_id]), **HX).content.decode()
    assert "job-watch" not in card and "credits-changed" in designer_client.get(
        reverse("studio:job_detail", args=[job.public_id]), **HX
    )["HX-Trigger"]
    plain = designer_client.get(url.split("&seen=")[0])
    assert plain.status_code == 200 and plain.json() == {"status": "succeeded", "progress": 100, "finished": True}


def test_a_forged_or_foreign_token_is_404(designer_client, make_member, ai_model, django_capture_on_commit_callbacks):
    job, url = submitted(designer_client, django_capture_on_commit_callbacks)
    state = reverse("studio:job_state", args=[job.public_id])
    assert Client().get(f"{state}?t=nonsense", **HX).status_code == 404
    token = url.split("t=")[1].split("&")[0]
    # Another job's address with this job's token, and this job's token re-signed for someone else.
    assert Client().get(f"{reverse('studio:job_state', args=[uuid.uuid4()])}?t={token}", **HX).status_code == 404
    intruder = make_member("intruder").user
    forged = signing.dumps([str(job.public_id), intruder.pk], salt=WATCH_SALT)
    assert Client().get(f"{state}?t={forged}", **HX).status_code == 404
