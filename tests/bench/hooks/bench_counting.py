"""Counts SQL statements per process for the gateway benchmark (any tree: this file is on
the path of both the current and the baseline servers, outside their packages).

Every new database connection gets an execute wrapper; the count is written to
`$STUDIO_BENCH_COUNT_DIR/<pid>` (20 digits) after each request (gunicorn) or task (Celery), so the
benchmark can sum the files between two moments without talking to the processes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_lock = threading.Lock()
_queries = 0


def _count(execute, sql, params, many, context):
    global _queries
    with _lock:
        _queries += 1
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs):
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


_files: dict[int, int] = {}


def dump() -> None:
    folder = os.environ.get("STUDIO_BENCH_COUNT_DIR")
    if not folder:
        return
    # One descriptor per process, overwritten in place with a fixed width: truncating and
    # rewriting a file on every request made ext4 flush it on close (auto_da_alloc), which
    # cost the measured stacks up to a few milliseconds of web time per request.
    pid = os.getpid()
    if pid not in _files:
        _files[pid] = os.open(Path(folder, str(pid)), os.O_WRONLY | os.O_CREAT, 0o644)
    os.pwrite(_files[pid], b"%020d" % _queries, 0)


def install(*, celery: bool = False) -> None:
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection, weak=False)
    if celery:
        from celery.signals import task_postrun

        task_postrun.connect(lambda **kwargs: dump(), weak=False)
