"""The double-entry credit ledger.

Every movement is an immutable `Transfer` from one `Account` to another; the balance on
each account is a cache of its transfers, updated in the same transaction. The mint is
the only account that may go negative, so the sum of all balances is always zero.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AccountKind(models.TextChoices):
    MEMBER = "member", "Member"
    POOL = "pool", "Team pool"
    HOLDS = "holds", "Holds"
    SPENT = "spent", "Spent"
    MINT = "mint", "Mint"


class Account(models.Model):
    kind = models.CharField(max_length=10, choices=AccountKind.choices)
    team = models.ForeignKey(
        "studio.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_accounts",
    )
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The database itself refuses an overdraft, whatever the Python code does.
            models.CheckConstraint(
                condition=models.Q(balance__gte=0) | models.Q(kind="mint"),
                name="account_balance_non_negative",
            ),
            models.UniqueConstraint(
                fields=["team", "user"],
                condition=models.Q(kind="member"),
                name="account_one_per_member",
            ),
            models.UniqueConstraint(
                fields=["team", "kind"],
                condition=models.Q(user__isnull=True, team__isnull=False),
                name="account_one_system_per_team",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(kind="mint"),
                name="account_one_mint",
            ),
        ]

    def __str__(self) -> str:
        owner = self.user or self.team or "system"
        return f"{self.get_kind_display()} · {owner}"


class TransferKind(models.TextChoices):
    TOPUP = "topup", "Top-up"  # mint -> pool
    GRANT = "grant", "Grant"  # pool -> member
    REVOKE = "revoke", "Revoke"  # member -> pool
    REFILL = "refill", "Monthly refill"  # pool -> member
    HOLD = "hold", "Hold"  # member -> holds
    CHARGE = "charge", "Charge"  # holds -> spent
    RELEASE = "release", "Release"  # holds -> member
    ADJUST = "adjust", "Adjustment"


class TransferQuerySet(models.QuerySet["Transfer"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("ledger transfers are immutable")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("ledger transfers are immutable")


class Transfer(models.Model):
    """One movement of credits. Append-only: mistakes are corrected by a new transfer."""

    debit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="debits")
    credit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="credits")
    amount = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=TransferKind.choices)
    job = models.ForeignKey(
        "studio.Job", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = TransferQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=~models.Q(debit=models.F("credit")), name="transfer_distinct_accounts"
            ),
            # A job is held, charged and released at most once each.
            models.UniqueConstraint(
                fields=["job", "kind"],
                condition=models.Q(job__isnull=False, kind__in=["hold", "charge", "release"]),
                name="transfer_once_per_job_and_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}: {self.debit_id} → {self.credit_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("ledger transfers are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("ledger transfers are immutable")
