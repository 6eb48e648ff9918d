"""L10: random sequences of ledger operations never break the ledger's invariants."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from providers.models import CatalogModel
from studio.models import Account, AccountKind, Job, TransferKind, User
from studio.models.jobs import HoldState
from studio.services import credits, teams
from studio.services.errors import InsufficientCredits

pytestmark = pytest.mark.django_db
_ids = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    @initialize(price=st.integers(min_value=1, max_value=50))
    def set_up(self, price: int) -> None:
        n = next(_ids)
        owner = User.objects.create_user(username=f"owner{n}", password="x-pass-123456")
        self.team = teams.create_team(name=f"Team {n}", owner=owner)
        self.membership = owner.membership()
        self.model = CatalogModel.objects.create(
            slug=f"m{n}", display_name="M", family="openai", remote_model="m", tier="standard",
            credits_per_image=price, sizes={"default": {"1:1": [1, 1]}},
        )
        self.jobs: list[int] = []

    @rule(amount=st.integers(min_value=1, max_value=500))
    def top_up(self, amount: int) -> None:
        credits.top_up_pool(team=self.team, amount=amount)

    @rule(amount=st.integers(min_value=1, max_value=300))
    def grant(self, amount: int) -> None:
        with contextlib.suppress(InsufficientCredits):
            credits.grant_credits(membership=self.membership, amount=amount)

    @rule(amount=st.integers(min_value=1, max_value=300))
    def revoke(self, amount: int) -> None:
        with contextlib.suppress(InsufficientCredits):
            credits.revoke_credits(membership=self.membership, amount=amount)

    @rule(count=st.integers(min_value=1, max_value=4))
    def submit(self, count: int) -> None:
        price = self.model.credits_per_image * count
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    team=self.team, user=self.membership.user, catalog_model=self.model,
                    model_slug=self.model.slug, prompt="p", count=count,
                    credits_per_image=self.model.credits_per_image, credits_held=price, provider_family="local",
                )
                credits.hold_credits(job=job)
            self.jobs.append(job.pk)
        except InsufficientCredits:
            pass

    @precondition(lambda self: self.jobs)
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.jobs))
        delivered = data.draw(st.integers(min_value=0, max_value=4))
        credits.settle_job_credits(job_id=job_id, delivered=delivered)

    @precondition(lambda self: self.jobs)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        credits.release_job_credits(job_id=data.draw(st.sampled_from(self.jobs)))

    @invariant()
    def balances_never_negative_and_sum_to_zero(self) -> None:
        if not hasattr(self, "team"):
            return
        assert not Account.objects.filter(balance__lt=0).exclude(kind=AccountKind.MINT).exists()
        assert credits.ledger_is_balanced()

    @invariant()
    def every_hold_resolves_at_most_once_and_exactly(self) -> None:
        for job in Job.objects.filter(pk__in=getattr(self, "jobs", [])).prefetch_related("transfers"):
            kinds = [t.kind for t in job.transfers.all()]
            assert kinds.count(TransferKind.HOLD) == 1
            assert kinds.count(TransferKind.CHARGE) <= 1 and kinds.count(TransferKind.RELEASE) <= 1
            if job.hold_state == HoldState.SETTLED:
                resolved = sum(t.amount for t in job.transfers.all() if t.kind != TransferKind.HOLD)
                assert resolved == job.credits_held
                assert job.credits_charged % job.credits_per_image == 0
            else:
                assert kinds == [TransferKind.HOLD]


def test_ledger_state_machine():
    LedgerMachine.TestCase.settings = settings(
        max_examples=30, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    LedgerMachine.TestCase().runTest()
