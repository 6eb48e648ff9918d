"""The job pipeline: submit (validate, hold, enqueue), run (claim, call, record), settle.

No transaction or row lock is ever held across a provider call. Where each part lives:
`spec` (what a job asks for, its price), `submit`, `queue` (publishing tasks, queue
position), `run` (claim, provider call, polls, retries), `leases` (crash recovery and the
sweep), `settle` (succeed, fail, cancel), `previews` (progress, streamed previews, events),
`request` (the adapter's request and the conversation history). Lock order: `studio.services.db`.
"""

from studio.services.jobs.dispatch import dispatch_next
from studio.services.jobs.leases import recover_jobs, renew_leases, requeue_lost_job
from studio.services.jobs.limits import forget_old_calls, provider_status, waiting_for_capacity
from studio.services.jobs.previews import (
    discard_preview,
    notify_job_event,
    progress_reporter,
    set_progress,
    store_preview,
)
from studio.services.jobs.queue import MAX_COUNTDOWN, enqueue_poll, enqueue_run, enqueue_turn, queue_position
from studio.services.jobs.request import build_history, build_request, serialise_parts
from studio.services.jobs.run import (
    backoff_delay,
    claim_job,
    handle_provider_error,
    poll_job,
    record_submission,
    run_job,
    run_next_job,
    run_started_job,
)
from studio.services.jobs.settle import cancel_job, complete_job, fail_job, recover_stalled_jobs
from studio.services.jobs.spec import (
    OUTPUT_FORMATS,
    PROMPT_MAX,
    JobSpec,
    Quote,
    Upload,
    quote_job,
    resolve_model,
    validate_job,
)
from studio.services.jobs.submit import submit_job, submit_jobs

__all__ = [
    "MAX_COUNTDOWN",
    "OUTPUT_FORMATS",
    "PROMPT_MAX",
    "JobSpec",
    "Quote",
    "Upload",
    "backoff_delay",
    "build_history",
    "build_request",
    "cancel_job",
    "claim_job",
    "complete_job",
    "discard_preview",
    "dispatch_next",
    "enqueue_poll",
    "enqueue_run",
    "enqueue_turn",
    "forget_old_calls",
    "fail_job",
    "handle_provider_error",
    "notify_job_event",
    "poll_job",
    "progress_reporter",
    "provider_status",
    "queue_position",
    "quote_job",
    "record_submission",
    "recover_jobs",
    "recover_stalled_jobs",
    "renew_leases",
    "requeue_lost_job",
    "resolve_model",
    "run_job",
    "run_started_job",
    "run_next_job",
    "serialise_parts",
    "set_progress",
    "store_preview",
    "submit_job",
    "submit_jobs",
    "validate_job",
    "waiting_for_capacity",
]
