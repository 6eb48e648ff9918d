from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from studio.models import Account, AccountKind, Job, Transfer, TransferKind
from studio.services import credits
from studio.services.errors import InsufficientCredits, ValidationFailed

pytestmark = pytest.mark.django_db


def make_job(membership, model, *, count=2) -> Job:
    with transaction.atomic():
        job = Job.objects.create(
            team=membership.team, user=membership.user, catalog_model=model, model_slug=model.slug,
            prompt="p", count=count, credits_per_image=model.credits_per_image,
            credits_held=model.credits_per_image * count, provider_family="local",
        )
        credits.hold_credits(job=job)
    return job


def balance(membership) -> int:
    return credits.member_balance(membership=membership)


def test_grant_moves_credits_from_pool_to_member(team, make_member):
    member = make_member(balance=0)
    pool = credits.team_account(team=team, kind=AccountKind.POOL)
    credits.grant_credits(membership=member, amount=250, memo="welcome")
    pool.refresh_from_db()
    assert balance(member) == 250
    assert pool.balance == 100_000 - 250
    assert credits.ledger_is_balanced()


def test_grant_beyond_the_pool_is_refused_and_changes_nothing(team, make_member):
    member = make_member(balance=0)
    transfers_before = Transfer.objects.count()
    with pytest.raises(InsufficientCredits):
        credits.grant_credits(membership=member, amount=100_001)
    assert balance(member) == 0
    assert Transfer.objects.count() == transfers_before


@pytest.mark.parametrize("amount", [0, -5, 2.5, True, "10"])
def test_amount_must_be_a_positive_integer(designer, amount):
    with pytest.raises(ValidationFailed):
        credits.grant_credits(membership=designer, amount=amount)


def test_hold_then_full_settle_charges_everything(designer, ai_model):
    job = make_job(designer, ai_model, count=2)
    assert balance(designer) == 1000 - 40
    job = credits.settle_job_credits(job_id=job.pk, delivered=2)
    assert job.credits_charged == 40 and job.credits_returned == 0
    assert balance(designer) == 960
    spent = credits.team_account(team=designer.team, kind=AccountKind.SPENT)
    holds = credits.team_account(team=designer.team, kind=AccountKind.HOLDS)
    assert (credits.account_balance(account=spent), credits.account_balance(account=holds)) == (40, 0)
    assert credits.ledger_is_balanced()


def test_partial_delivery_charges_delivered_and_returns_the_rest(designer, ai_model):
    job = make_job(designer, ai_model, count=3)
    job = credits.settle_job_credits(job_id=job.pk, delivered=1)
    assert (job.credits_charged, job.credits_returned) == (20, 40)
    assert balance(designer) == 1000 - 20
    kinds = sorted(job.transfers.values_list("kind", flat=True))
    assert kinds == ["charge", "hold", "release"]


def test_release_is_exactly_once_however_often_called(designer, ai_model):
    """L5: the failure handler runs five times; one release row, one refund."""
    job = make_job(designer, ai_model)
    for _ in range(5):
        credits.release_job_credits(job_id=job.pk)
    assert job.transfers.filter(kind=TransferKind.RELEASE).count() == 1
    assert balance(designer) == 1000
    credits.settle_job_credits(job_id=job.pk, delivered=2)  # a late success changes nothing
    assert job.transfers.filter(kind=TransferKind.CHARGE).count() == 0
    assert balance(designer) == 1000


def test_insufficient_balance_refuses_the_hold(make_member, ai_model):
    poor = make_member("poor", balance=30)
    with pytest.raises(InsufficientCredits):
        make_job(poor, ai_model, count=2)
    assert balance(poor) == 30
    assert not Job.objects.exists()


def test_database_refuses_a_negative_balance(designer):
    """L2: even raw SQL cannot overdraw a non-system account."""
    account = credits.member_account(team=designer.team, user=designer.user)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE studio_account SET balance = -1 WHERE id = %s", [account.pk])


def test_mint_is_the_only_negative_account_and_the_sum_is_zero(designer, ai_model):
    """L3/L4: cached balances equal their transfers; all balances sum to zero."""
    job = make_job(designer, ai_model)
    credits.settle_job_credits(job_id=job.pk, delivered=1)
    credits.revoke_credits(membership=designer, amount=100)
    negative = [a.kind for a in Account.objects.all() if credits.account_balance(account=a) < 0]
    assert negative == [AccountKind.MINT]
    assert sum(credits.account_balance(account=a) for a in Account.objects.all()) == 0
    # The hot system accounts cache nothing: no job updates their rows.
    assert not Account.objects.filter(kind__in=credits.DERIVED_KINDS).exclude(balance=0).exists()
    assert credits.ledger_is_balanced()


def test_transfers_are_immutable(designer):
    transfer = Transfer.objects.first()
    transfer.memo = "changed"
    with pytest.raises(TypeError):
        transfer.save()
    with pytest.raises(TypeError):
        transfer.delete()
    with pytest.raises(TypeError):
        Transfer.objects.filter(pk=transfer.pk).update(memo="x")
    with pytest.raises(TypeError):
        Transfer.objects.all().delete()


def test_a_job_cannot_be_held_twice(designer, ai_model):
    job = make_job(designer, ai_model)
    with pytest.raises(IntegrityError), transaction.atomic():
        credits.hold_credits(job=job)


def test_the_balance_check_catches_a_cached_balance_that_drifted(designer):
    """The L3 check must not be vacuous: a drift that keeps the sum at zero is still caught."""
    account = credits.member_account(team=designer.team, user=designer.user)
    mint = credits.mint_account()
    assert credits.ledger_is_balanced()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE studio_account SET balance = balance + 5 WHERE id = %s", [account.pk])
        cursor.execute("UPDATE studio_account SET balance = balance - 5 WHERE id = %s", [mint.pk])
    assert not credits.ledger_is_balanced()


def test_a_transfer_comes_back_as_the_row_it_stored(designer, ai_model):
    """The hold and charge are written in SQL (issue 12): what they return is what is stored."""
    job = make_job(designer, ai_model, count=2)
    hold = Transfer.objects.get(job=job, kind=TransferKind.HOLD)
    grant = credits.grant_credits(membership=designer, amount=7, actor=designer.user, memo="for the launch")
    stored = Transfer.objects.get(pk=grant.pk)
    fields = ("debit_id", "credit_id", "amount", "kind", "job_id", "actor_id", "memo", "created_at")
    assert [getattr(grant, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert not grant._state.adding
    assert (hold.amount, hold.job_id, hold.actor_id, hold.memo) == (40, job.pk, designer.user_id, f"2 × {ai_model.slug}")
    # A saved transfer stays immutable, and a second hold of the same job is refused.
    with pytest.raises(TypeError):
        grant.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        credits.hold_credits(job=job)
    assert balance(designer) == 1000 - 40 + 7
    assert credits.ledger_is_balanced()
