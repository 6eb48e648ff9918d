"""Ledger races on PostgreSQL with real threads (SQLite has no row locks to test)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction

from studio.models import Job, TransferKind
from studio.services import credits
from studio.services.errors import InsufficientCredits

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks (set DATABASE_URL)"),
]


def run_threads(count: int, target: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            target(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def new_job(membership, model) -> Job:
    return Job(
        team=membership.team, user=membership.user, catalog_model=model, model_slug=model.slug,
        prompt="race", count=1, credits_per_image=model.credits_per_image,
        credits_held=model.credits_per_image, provider_family="local",
    )


def test_l1_fifty_concurrent_spends_of_ten_from_a_hundred(make_member, make_model):
    member = make_member("racer", balance=100)
    model = make_model("ten", credits_per_image=10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def spend(_: int) -> None:
        try:
            with transaction.atomic():
                job = new_job(member, model)
                job.save()
                credits.hold_credits(job=job)
            result = "ok"
        except InsufficientCredits:
            result = "refused"
        with lock:
            outcomes.append(result)

    run_threads(50, spend)
    assert outcomes.count("ok") == 10
    assert outcomes.count("refused") == 40
    assert credits.member_balance(membership=member) == 0
    assert Job.objects.count() == 10  # refused submits left no job behind
    assert credits.ledger_is_balanced()


def test_l6_settle_and_release_race_resolves_each_hold_once(make_member, make_model):
    member = make_member("settler", balance=10_000)
    model = make_model("race-model", credits_per_image=10)
    for _ in range(100):
        with transaction.atomic():
            job = new_job(member, model)
            job.save()
            credits.hold_credits(job=job)

        def resolve(index: int, job_id: int = job.pk) -> None:
            if index == 0:
                credits.settle_job_credits(job_id=job_id, delivered=1)
            else:
                credits.release_job_credits(job_id=job_id)

        run_threads(2, resolve)
        resolutions = job.transfers.filter(kind__in=[TransferKind.CHARGE, TransferKind.RELEASE]).count()
        assert resolutions == 1, f"job {job.pk} resolved {resolutions} times"
    assert credits.ledger_is_balanced()
    spent = Job.objects.filter(credits_charged=10).count()
    assert credits.member_balance(membership=member) == 10_000 - 10 * spent
