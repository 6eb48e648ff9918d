"""The dispatcher's order (fair between members and teams, priority classes, member caps) and provider limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from studio.models import Job, JobPriority, JobStatus, Membership, ProviderCall, ProviderLimit, Team, User
from studio.services import credits, jobs, teams
from studio.services.jobs import dispatch, limits, run
from studio.services.jobs import queue as turns_queue

pytestmark = pytest.mark.django_db


def queue(membership, count: int = 1, *, family: str = "openai", priority: int = JobPriority.NORMAL) -> list[Job]:
    """Submit jobs without running them (outside a transactional test nothing is published), routed to `family`."""
    spec = jobs.validate_job(membership=membership, model="test-model", prompt="a lighthouse")
    made = []
    for _ in range(count):
        job = jobs.submit_job(membership=membership, spec=spec, priority=priority)
        Job.objects.filter(pk=job.pk).update(provider_family=family, is_demo=False)
        made.append(Job.objects.get(pk=job.pk))
    return made


def start(job: Job) -> None:
    """As if a worker slot were running it now (a live lease)."""
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), lease_expires_at=timezone.now() + timedelta(seconds=30)
    )


def test_a_second_member_goes_before_the_rest_of_a_big_batch(make_member, ai_model):
    alice, bob = make_member("alice"), make_member("bob")
    batch = queue(alice, 6)
    for job in batch[:2]:
        start(job)
    (single,) = queue(bob)

    order, _ = dispatch.next_job()
    assert order[0] == single.pk  # bob runs nothing; alice runs two
    claimed = dispatch.dispatch_next()
    assert claimed is not None and claimed.pk == single.pk and claimed.status == JobStatus.RUNNING
    # With bob's job gone, alice's oldest waiting job is next.
    assert dispatch.next_job()[0][0] == batch[2].pk


def test_members_alternate_round_robin(make_member, ai_model):
    alice, bob = make_member("alice"), make_member("bob")
    a_jobs, b_jobs = queue(alice, 3), queue(bob, 3)
    ran = []
    for _ in range(6):
        job = dispatch.dispatch_next()
        assert job is not None
        ran.append(job.user_id)
    assert ran == [alice.user_id, bob.user_id] * 3
    assert {j.pk for j in a_jobs + b_jobs} == set(Job.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True))


@pytest.fixture
def turns(monkeypatch) -> list[tuple[float, bool]]:
    """The turns published (countdown, fan-out)."""
    published: list[tuple[float, bool]] = []
    monkeypatch.setattr(
        turns_queue, "enqueue_turn", lambda *, countdown=0, fan_out=False: published.append((countdown, fan_out))
    )
    return published


def owing_nothing(turns: list[tuple[float, bool]], *members: Membership) -> None:
    """Pay what an earlier run left owed to these ids (the shared cache outlives the test database)."""
    for member in members:
        for family in ("openai", "gemini"):
            turns_queue.pay_owed_turn(family=family, team_id=member.team_id, user_id=member.user_id)
    turns.clear()


def test_a_turn_that_claims_hands_on_nothing_and_a_fan_out_turn_hands_on_another(make_member, ai_model, turns):
    alice = make_member("alice")
    owing_nothing(turns, alice)
    queue(alice, 3)
    # Every submitted job published a turn of its own: claiming one needs no more.
    assert dispatch.dispatch_next() is not None
    assert turns == []
    assert dispatch.dispatch_next(fan_out=True) is not None
    assert turns == [(0, True)]


def test_jobs_passed_over_at_the_provider_limit_are_owed_one_turn_when_a_call_ends(make_member, ai_model, turns):
    alice, bob = make_member("alice"), make_member("bob")
    owing_nothing(turns, alice, bob)
    ProviderLimit.objects.create(family="openai", max_concurrent=1)
    queue(alice, 3)
    assert dispatch.dispatch_next() is not None
    assert dispatch.dispatch_next() is None  # at the limit: this turn is spent, no delayed turn
    assert turns == []
    turns_queue.pay_owed_turn(family="gemini", team_id=bob.team_id, user_id=bob.user_id)
    assert turns == []  # another provider's call ending frees nothing for them
    turns_queue.pay_owed_turn(family="openai", team_id=bob.team_id, user_id=bob.user_id)
    assert turns == [(0, True)]
    turns_queue.pay_owed_turn(family="openai", team_id=bob.team_id, user_id=bob.user_id)
    assert turns == [(0, True)]  # paid once; the fan-out turn it started serves the rest


def test_a_member_at_the_cap_is_owed_a_turn_when_one_of_theirs_ends(make_member, ai_model, turns):
    alice, bob = make_member("alice"), make_member("bob")
    owing_nothing(turns, alice, bob)
    Team.objects.filter(pk=alice.team_id).update(max_running_per_member=1)
    queue(alice, 2)
    assert dispatch.dispatch_next() is not None
    assert dispatch.dispatch_next() is None
    turns_queue.pay_owed_turn(family="gemini", team_id=bob.team_id, user_id=bob.user_id)
    assert turns == []
    turns_queue.pay_owed_turn(family="gemini", team_id=alice.team_id, user_id=alice.user_id)
    assert turns == [(0, True)]


def test_a_job_leaving_its_slot_pays_the_turn_its_provider_owes(make_member, ai_model, turns, monkeypatch):
    alice = make_member("alice")
    owing_nothing(turns, alice)
    monkeypatch.setattr(run, "_run_claimed", lambda job: None)  # the call itself is not the point here
    queue(alice, 2)
    run.run_next_job()
    assert turns == []  # nobody was kept waiting
    turns_queue.owe_turns(families={"openai"}, members=set())
    run.run_next_job()
    assert turns == [(0, True)]


def test_teams_are_served_before_members(make_member, ai_model):
    owner = User.objects.create_user(username="owner2", email="o2@example.com", password="pw-owner-123")
    other = teams.create_team(name="Beta", owner=owner)
    credits.top_up_pool(team=other, amount=10_000, memo="test")
    a1, a2 = make_member("a1"), make_member("a2")
    b1 = make_member("b1", team_=other)
    start(queue(a1)[0])
    start(queue(a2)[0])  # team Acme runs two jobs (one per member), team Beta none
    queue(a1)
    queue(a2)
    (beta_job,) = queue(b1)
    assert dispatch.next_job()[0][0] == beta_job.pk


def test_interactive_jobs_go_before_low_priority_ones(make_member, ai_model):
    alice, bob = make_member("alice"), make_member("bob")
    (low,) = queue(alice, priority=JobPriority.LOW)
    (normal,) = queue(alice)
    queue(bob, priority=JobPriority.LOW)
    order, _ = dispatch.next_job()
    assert order[0] == normal.pk and order.index(low.pk) > 0


def test_the_member_cap_holds_their_jobs_back(make_member, ai_model):
    alice, bob = make_member("alice"), make_member("bob")
    Team.objects.filter(pk=alice.team_id).update(max_running_per_member=2)
    mine = queue(alice, 4)
    start(mine[0])
    start(mine[1])
    (theirs,) = queue(bob)
    order, _ = dispatch.next_job()
    assert order == [theirs.pk]
    assert dispatch.dispatch_next().pk == theirs.pk
    assert dispatch.dispatch_next() is None  # alice is at her cap; her jobs stay queued
    assert Job.objects.filter(user=alice.user, status=JobStatus.QUEUED).count() == 2


def test_queue_position_follows_the_round_robin(make_member, ai_model):
    alice, bob = make_member("alice"), make_member("bob")
    a_jobs = queue(alice, 3)
    (b_job,) = queue(bob)
    positions = {job.pk: jobs.queue_position(job=job) for job in [*a_jobs, b_job]}
    assert positions == {a_jobs[0].pk: 1, b_job.pk: 2, a_jobs[1].pk: 3, a_jobs[2].pk: 4}
    start(a_jobs[0])
    # Alice now runs one: bob's job is next, and the order the dispatcher follows says so.
    assert jobs.queue_position(job=b_job) == 1
    assert dispatch.next_job()[0][0] == b_job.pk


def test_a_provider_at_its_concurrency_limit_waits_without_an_attempt(make_member, ai_model, settings):
    alice, bob = make_member("alice"), make_member("bob")
    ProviderLimit.objects.create(family="openai", max_concurrent=1)
    (running,) = queue(alice)
    assert jobs.claim_job(job_id=running.pk) is not None
    (waiting,) = queue(bob)
    (other,) = queue(alice, family="gemini")

    assert jobs.claim_job(job_id=waiting.pk) is None
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.QUEUED and waiting.attempts == 0
    # The slot is not blocked: the other provider's job runs meanwhile.
    assert dispatch.dispatch_next().pk == other.pk
    assert dispatch.dispatch_next() is None
    assert limits.waiting_for_capacity(job=waiting) == "Waiting for OpenAI capacity"
    # A lapsed lease (a crashed worker) no longer counts as a call in flight.
    Job.objects.filter(pk=running.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert dispatch.dispatch_next().pk == waiting.pk


def test_a_per_minute_limit_counts_a_sliding_window(make_member, ai_model, settings):
    settings.STUDIO_PROVIDER_LIMITS = {**settings.STUDIO_PROVIDER_LIMITS, "openai": {"concurrent": 0, "per_minute": 2}}
    alice = make_member("alice")
    first, second, third = queue(alice, 3)
    assert jobs.claim_job(job_id=first.pk) is not None
    assert jobs.claim_job(job_id=second.pk) is not None
    wait = limits.blocked_for(family="openai", model_slug="test-model")
    assert wait is not None and 59 < wait <= 60 + limits.WINDOW_MARGIN.total_seconds()
    assert jobs.claim_job(job_id=third.pk) is None
    ProviderCall.objects.update(at=timezone.now() - limits.WINDOW - limits.WINDOW_MARGIN - timedelta(seconds=1))
    assert jobs.claim_job(job_id=third.pk) is not None


def test_a_per_model_limit_holds_only_that_model(make_member, make_model, ai_model, settings):
    make_model("other-model")
    settings.STUDIO_PROVIDER_LIMITS = {**settings.STUDIO_PROVIDER_LIMITS, "openai/test-model": {"concurrent": 1}}
    alice = make_member("alice")
    first, second = queue(alice, 2)
    assert jobs.claim_job(job_id=first.pk) is not None
    assert jobs.claim_job(job_id=second.pk) is None
    assert limits.blocked_for(family="openai", model_slug="other-model") is None


def test_a_429_pauses_the_provider_for_retry_after_and_halves_its_rate(settings):
    settings.STUDIO_PROVIDER_LIMITS = {**settings.STUDIO_PROVIDER_LIMITS, "openai": {"concurrent": 8, "per_minute": 60}}
    limits.record_429(family="openai", retry_after=3)
    wait = limits.blocked_for(family="openai", model_slug="")
    assert wait is not None and 2 < wait <= 3
    later = timezone.now() + timedelta(seconds=4)
    (limit,) = limits.limits_for(family="openai", model_slug="", now=later)
    assert (limit.concurrent, limit.per_minute, limit.paused_until) == (4, 30, None)
    limits.record_429(family="openai", retry_after=None)
    (limit,) = limits.limits_for(family="openai", model_slug="", now=timezone.now() + timedelta(seconds=6))
    assert (limit.concurrent, limit.per_minute) == (2, 15)  # halved again
    recovered = timezone.now() + timedelta(seconds=settings.STUDIO_PROVIDER_SLOWDOWN_SECONDS + 1)
    (limit,) = limits.limits_for(family="openai", model_slug="", now=recovered)
    assert (limit.concurrent, limit.per_minute) == (8, 60)


def test_provider_status_shows_waiting_running_limits_and_the_last_429(make_member, ai_model):
    alice = make_member("alice")
    ProviderLimit.objects.create(family="openai", max_concurrent=1, per_minute=10)
    first, _second = queue(alice, 2)
    assert jobs.claim_job(job_id=first.pk) is not None
    limits.record_429(family="openai", retry_after=1)
    row = next(r for r in limits.provider_status(team_id=alice.team_id) if r["family"] == "openai")
    assert (row["waiting"], row["running"], row["concurrent"], row["per_minute"]) == (1, 1, 1, 5)
    assert row["calls_last_minute"] == 1 and row["last_429_at"] is not None


def test_the_job_card_says_which_provider_it_waits_for(designer, designer_client, ai_model):
    ProviderLimit.objects.create(family="openai", max_concurrent=1)
    running, waiting = queue(designer, 2)
    assert jobs.claim_job(job_id=running.pk) is not None
    page = designer_client.get(reverse("studio:job_detail", args=[waiting.public_id])).content.decode()
    assert "Waiting for OpenAI capacity" in page and "Queued: position 1" in page


def test_the_team_access_page_shows_provider_capacity(make_member, ai_model, team):
    alice = make_member("alice")
    ProviderLimit.objects.create(family="openai", max_concurrent=3, per_minute=90)
    queue(alice, 2)
    client = Client()
    client.force_login(User.objects.get(username="owner"))
    page = client.get(reverse("team:access")).content.decode()
    table = page[page.index('id="provider-capacity"'):]
    row = table[table.index("<td>OpenAI</td>"):].split("</tr>")[0]
    assert [cell.split("</td>")[0] for cell in row.split("<td>")[1:]] == ["OpenAI", "2", "0", "3", "90", "0", "never"]


def test_the_django_admin_lists_provider_limits_with_their_queues(admin_client, make_member, ai_model):
    ProviderLimit.objects.create(family="openai", max_concurrent=3)
    queue(make_member("alice"), 2)
    page = admin_client.get(reverse("admin:studio_providerlimit_changelist")).content.decode()
    assert "openai" in page and '<td class="field-waiting">2</td>' in page
