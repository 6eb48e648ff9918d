"""What the operations views read that no other table holds: worker heartbeats."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One Celery worker process, as it last reported itself (every few seconds)."""

    hostname = models.CharField(max_length=200, unique=True)
    pid = models.PositiveIntegerField()
    slots = models.PositiveIntegerField(default=0)
    active = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname
