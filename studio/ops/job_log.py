"""A job's life in the log: its creation and its end, each line carrying the job's ids.

The job events start at `progress`, so creation is seen from the row's post_save. That
line is written as the row is inserted (before the commit): queuing an on_commit callback
per job would change what the submit path schedules.
"""

from __future__ import annotations

import logging
from typing import Any

from studio.ops import logs

logger = logging.getLogger("studio.jobs")


def on_job_saved(sender: Any, instance: Any, created: bool = False, raw: bool = False, **_: Any) -> None:
    if not created or raw:
        return
    job = instance
    with logs.bound(job_id=job.pk, team=job.team_id, user=job.user_id, provider=job.provider_family):
        # Never the prompt: it is the customer's text.
        logger.info("job %s created: model %s, %s image(s), %s credits held", job.pk, job.model_slug,
                    job.count, job.credits_held)


def on_job_event(*, job_id: int, event: str, job: Any = None) -> None:
    """Log a job's end with its ids (the listener runs after commit, in web or worker)."""
    if event not in ("succeeded", "failed", "canceled"):
        return
    from studio.models import Job

    if job is None:
        job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    took = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
    with logs.bound(job_id=job.pk, team=job.team_id, user=job.user_id, provider=job.provider_family):
        if event == "failed":
            logger.info("job %s failed: %s after %s attempt(s)", job.pk, job.error_code, job.attempts)
        else:
            logger.info("job %s %s: %s credits charged%s", job.pk, event, job.credits_charged,
                        f", ran {took:.2f} s" if took is not None else "")
