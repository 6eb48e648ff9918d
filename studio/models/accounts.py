from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in. Their team and role live on `Membership`."""

    email = models.EmailField("email address", unique=True, null=True, blank=True)
    current_team = models.ForeignKey(
        "studio.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Unique when given; several accounts without an address must not collide on "".
        if not self.email:
            self.email = None
        super().save(*args, **kwargs)

    def membership(self) -> Membership | None:
        """Return the membership in the team the user is working in."""
        if not self.current_team_id:
            return None
        cache = getattr(self, "_membership_cache", None)
        if cache is not None and cache.team_id == self.current_team_id:
            return cache
        found = (
            Membership.objects.select_related("team")
            .filter(user=self, team_id=self.current_team_id)
            .first()
        )
        self._membership_cache = found
        return found


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    max_running_per_member = models.PositiveSmallIntegerField(
        default=0, help_text="Most jobs one member may have running at once (0: no cap)."
    )
    require_two_factor = models.BooleanField(
        default=False, help_text="Owners and admins must sign in with a code from an authenticator app."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DESIGNER = "designer", "Designer"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    """A user's place in a team: their role and the limits on their spending."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.DESIGNER)
    monthly_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most credits this member may spend per calendar month."
    )
    monthly_refill = models.PositiveIntegerField(
        null=True, blank=True, help_text="Credits topped up from the pool at each month's start."
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_generate(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN, Role.DESIGNER)

    @property
    def can_manage(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)
