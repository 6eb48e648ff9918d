"""Celery signal handlers: carry the request id into tasks, bind a job task's ids to its
log lines, keep the worker's heartbeat and its database connections (connected in
OpsConfig.ready())."""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections

from studio.ops import heartbeat, logs

HEADER = "studio_request_id"
# Tasks whose first argument is the job they run. A run task is a turn: the job it names is
# not the one the dispatcher picks, which `run.run_next_job` binds once it has claimed it.
JOB_TASKS = frozenset({"studio.tasks.poll_job"})
_tokens: dict[str, Any] = {}


def add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: the publishing request's id travels in the message headers."""
    request_id = logs.current().get("request_id")
    if headers is not None and request_id:
        headers.setdefault(HEADER, request_id)


def _job_context(job_id: int) -> dict[str, Any]:
    from studio.models import Job

    row = Job.objects.filter(pk=job_id).values("team_id", "user_id", "provider_family").first()
    if row is None:
        return {"job_id": job_id}
    return {"job_id": job_id, "team": row["team_id"], "user": row["user_id"], "provider": row["provider_family"]}


def recycle_connections(task: Any = None) -> None:
    """Before and after a worker's task: close a connection that is broken or past
    CONN_MAX_AGE, and keep the others (Django does the same around each web request)."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # inside the caller's request, and maybe its transaction
    close_old_connections()


def bind_task_context(task_id: str = "", task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    """task_prerun: every line the task logs carries the request id and, for job tasks, the job."""
    recycle_connections(task)
    heartbeat.on_task_prerun()
    request = getattr(task, "request", None)
    request_id = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    context: dict[str, Any] = {"request_id": request_id or f"task-{task_id}"}
    if task is not None and task.name in JOB_TASKS:
        job_id = (kwargs or {}).get("job_id") or (args[0] if args else None)
        if job_id is not None:
            try:
                context |= _job_context(int(job_id))
            except Exception:  # noqa: BLE001 - context is a courtesy, never a failure
                context["job_id"] = job_id
    _tokens[task_id] = logs.replace(**context)


def unbind_task_context(task_id: str = "", task: Any = None, **_: Any) -> None:
    """task_postrun: back to the context before the task (an eager task ran inside a request)."""
    recycle_connections(task)
    heartbeat.on_task_postrun()
    token = _tokens.pop(task_id, None)
    if token is not None:
        try:
            logs.reset(token)
        except ValueError:
            logs.clear()  # set in another context; start the next task clean
