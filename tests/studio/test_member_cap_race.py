"""The per-member cap holds when many free slots dispatch at once (PostgreSQL: real concurrent claims)."""

from __future__ import annotations

import pytest
from django.db import connection

from studio.models import Job, JobStatus, Team
from studio.services.jobs import dispatch
from studio.services.jobs import queue as queue_module
from tests.studio.test_ledger_concurrency import run_threads
from tests.studio.test_scheduling import queue, start

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row and advisory locks (set DATABASE_URL)"),
]


def test_eight_slots_at_once_start_no_more_than_the_members_cap(make_member, ai_model, monkeypatch):
    # Nothing is published: the jobs wait queued, and the eight free slots are the threads.
    monkeypatch.setattr(queue_module, "enqueue_run", lambda **_: None)
    monkeypatch.setattr(dispatch, "_publish_turn", lambda countdown=0: None)
    alice = make_member("alice", balance=10_000)
    Team.objects.filter(pk=alice.team_id).update(max_running_per_member=4)
    mine = queue(alice, 12)
    start(mine[0])

    run_threads(8, lambda _: dispatch.dispatch_next())

    running = Job.objects.filter(user=alice.user, status=JobStatus.RUNNING).count()
    queued = Job.objects.filter(user=alice.user, status=JobStatus.QUEUED).count()
    assert (running, queued) == (4, 8)
