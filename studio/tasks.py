"""Celery tasks: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import Task, shared_task


@shared_task(name="studio.tasks.run_job", acks_late=True, bind=True)
def run_job_task(self: Task, job_id: int | None, fan_out: bool = False) -> None:
    # A published task is a turn: the dispatcher picks the job. Run eagerly (inside the
    # submitting request) there is no queue to be fair about, so the named job runs.
    from studio.services.jobs import run_job, run_next_job

    if self.request.is_eager:
        if job_id is not None:
            run_job(job_id=job_id)
        return
    run_next_job(fan_out=fan_out)


@shared_task(name="studio.tasks.poll_job", acks_late=True)
def poll_job_task(job_id: int) -> None:
    from studio.services.jobs import poll_job

    poll_job(job_id=job_id)


@shared_task(name="studio.tasks.recover_stalled_jobs")
def recover_stalled_jobs_task() -> None:
    from studio.services.jobs import forget_old_calls, recover_stalled_jobs

    recover_stalled_jobs()
    forget_old_calls()


@shared_task(name="studio.tasks.run_monthly_refills")
def run_monthly_refills_task() -> None:
    # Beat runs this daily; each member is refilled once per calendar month however
    # often (or however concurrently) it runs: a unique row per member and month.
    from studio.services.team import run_monthly_refills

    run_monthly_refills()
