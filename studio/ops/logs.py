"""Structured logs: a context (request id, job, team, user, provider family) that every
line carries, one JSON object per line in production, readable lines in development.

The context lives in a contextvar: the web middleware binds the request's ids, Celery
signals bind the task's job and the request id that travelled in its headers, so one
grep for a job id or a request id follows a job across web and worker.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

FIELDS = ("request_id", "job_id", "team", "user", "provider")
_context: ContextVar[dict[str, Any] | None] = ContextVar("studio_log_context", default=None)

# Anything shaped like a secret is masked even if a caller logs it by mistake: our API keys,
# webhook secrets, and the bearer-style keys providers hand out.
_SECRET = re.compile(r"\b(stu_[0-9a-f]{12}_|whsec_|sk-|sk_|Bearer\s+)[A-Za-z0-9+/=_\-.]{6,}")


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


def bind(**values: Any) -> Token[dict[str, Any] | None]:
    """Add fields to the context of this thread or task; `reset` with the token undoes it."""
    merged = {**(_context.get() or {}), **{k: v for k, v in values.items() if v not in (None, "")}}
    return _context.set(merged)


def replace(**values: Any) -> Token[dict[str, Any] | None]:
    """Start a fresh context (a task must not inherit the last task's job)."""
    return _context.set({k: v for k, v in values.items() if v not in (None, "")})


def reset(token: Token[dict[str, Any] | None]) -> None:
    _context.reset(token)


def clear() -> None:
    _context.set(None)


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    token = bind(**values)
    try:
        yield
    finally:
        reset(token)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(1) + "[redacted]", text)


class ContextFilter(logging.Filter):
    """Copy the context onto each record (a field given in `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if getattr(record, key, None) in (None, ""):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context, any error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value not in (None, ""):
                line[key] = value
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """`make run`'s readable lines, with the context as a short suffix."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        extra = " ".join(f"{k}={getattr(record, k)}" for k in FIELDS if getattr(record, k, None) not in (None, ""))
        return f"{text} [{extra}]" if extra else text


def logging_config(*, json_lines: bool, level: str) -> dict[str, Any]:
    """The LOGGING setting: one console handler, JSON or plain."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "studio.ops.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "studio.ops.logs.JsonFormatter"},
            "plain": {"()": "studio.ops.logs.PlainFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "plain",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # SQL would carry prompts and parameters; request logs repeat our own access line.
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
