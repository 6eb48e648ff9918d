"""Team administration records: model access rules, invitations, refills, closures, audit.

The audit trail is append-only like the ledger: an admin action is recorded once, with
who did it, what it touched, and the state before and after.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AccessEffect(models.TextChoices):
    ALLOW = "allow", "Allowed"
    BLOCK = "block", "Blocked"


class ModelAccessRule(models.Model):
    """Allow or block a whole tier, or one model, for a team.

    Without a rule everything is allowed. A rule on a single model beats the rule on
    its tier, so a team can block the ultra tier yet allow one ultra model.
    """

    team = models.ForeignKey("studio.Team", on_delete=models.CASCADE, related_name="access_rules")
    tier = models.CharField(max_length=10, blank=True)
    catalog_model = models.ForeignKey(
        "providers.CatalogModel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    effect = models.CharField(max_length=5, choices=AccessEffect.choices)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(catalog_model__isnull=True) & ~models.Q(tier=""))
                | (models.Q(catalog_model__isnull=False) & models.Q(tier="")),
                name="access_rule_tier_xor_model",
            ),
            models.UniqueConstraint(
                fields=["team", "tier"], condition=~models.Q(tier=""), name="access_rule_one_per_tier"
            ),
            models.UniqueConstraint(
                fields=["team", "catalog_model"],
                condition=models.Q(catalog_model__isnull=False),
                name="access_rule_one_per_model",
            ),
        ]

    def __str__(self) -> str:
        subject = f"tier {self.tier}" if self.tier else f"model {self.catalog_model_id}"
        return f"{self.team_id}: {subject} {self.effect}"


class Invitation(models.Model):
    """A single-use link to join a team with a role. Only a hash of the token is stored."""

    team = models.ForeignKey("studio.Team", on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10)
    # Empty for a link anyone may use; otherwise only that address may accept.
    email = models.EmailField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.team_id} as {self.role}"

    def is_open(self, now: Any) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


class RefillRecord(models.Model):
    """One member's monthly refill: the unique row makes a second run a no-op."""

    team = models.ForeignKey("studio.Team", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    month = models.DateField(help_text="The first day of the month refilled.")
    target = models.PositiveIntegerField()
    amount = models.PositiveIntegerField(help_text="0 when the member already held the target.")
    transfer = models.OneToOneField(
        "studio.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user", "month"], name="refill_once_per_member_month")
        ]

    def __str__(self) -> str:
        return f"refill {self.user_id}@{self.team_id} {self.month:%Y-%m}: {self.amount}"


class TeamClosure(models.Model):
    """A deleted team. Its jobs, images and ledger stay as records; nobody is a member."""

    team = models.OneToOneField(
        "studio.Team", primary_key=True, on_delete=models.PROTECT, related_name="closure"
    )
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"team {self.team_id} closed {self.closed_at:%Y-%m-%d}"


class AuditAction(models.TextChoices):
    INVITED = "member.invited", "Invited a member"
    INVITATION_REVOKED = "invitation.revoked", "Revoked an invitation"
    JOINED = "member.joined", "Joined the team"
    ROLE_CHANGED = "member.role_changed", "Changed a role"
    REMOVED = "member.removed", "Removed a member"
    GRANTED = "credits.granted", "Granted credits"
    REVOKED = "credits.revoked", "Revoked credits"
    REFILLED = "credits.refilled", "Monthly refill"
    TOPPED_UP = "pool.topped_up", "Topped up the pool"
    LIMITS_CHANGED = "member.limits_changed", "Changed cap or refill"
    TIER_ACCESS = "access.tier", "Changed tier access"
    MODEL_ACCESS = "access.model", "Changed model access"
    CONCURRENCY_CAP = "access.concurrency", "Changed running jobs per member"
    TEAM_DELETED = "team.deleted", "Deleted the team"
    SIGNED_IN = "security.signed_in", "Signed in"
    SIGN_IN_FAILED = "security.sign_in_failed", "Failed sign-in"
    LOCKED_OUT = "security.locked_out", "Locked out of sign-in"
    PASSWORD_CHANGED = "security.password_changed", "Changed password"
    API_KEY_CREATED = "api_key.created", "Created an API key"
    API_KEY_REVOKED = "api_key.revoked", "Revoked an API key"
    TWO_FACTOR_ENABLED = "security.2fa_enabled", "Turned on two-factor sign-in"
    TWO_FACTOR_REMOVED = "security.2fa_removed", "Removed two-factor sign-in"
    TWO_FACTOR_FAILED = "security.2fa_failed", "Entered a wrong two-factor code"
    TWO_FACTOR_RULE = "team.2fa_rule", "Changed the two-factor rule"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("audit events are immutable")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("audit events are immutable")


class AuditEvent(models.Model):
    """Who did what to whom, when, with the state before and after. Append-only."""

    team = models.ForeignKey("studio.Team", on_delete=models.PROTECT, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Names are copied so the trail still reads right after a user is renamed or deleted.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    memo = models.CharField(max_length=200, blank=True)
    transfer = models.ForeignKey(
        "studio.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A form's one-time key: the same grant submitted twice is done once.
    request_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at", "-id"], name="audit_team_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "request_key"],
                condition=~models.Q(request_key=""),
                name="audit_request_key_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("audit events are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("audit events are immutable")
