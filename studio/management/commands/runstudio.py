"""Run the web server and one Celery worker together in the foreground (make run)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server and a Celery worker (threads pool) together; Ctrl-C stops both."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--concurrency", type=int, default=16)

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        # Our own interpreter and fixed arguments: nothing here comes from a user.
        worker = subprocess.Popen(  # noqa: S603
            [
                python, "-m", "celery", "-A", "studio", "worker", "--beat",
                "--pool", "threads", "--concurrency", str(options["concurrency"]),
                "--loglevel", "INFO",
            ]
        )
        web = subprocess.Popen(  # noqa: S603
            [python, "manage.py", "runserver", f"{options['host']}:{options['port']}", "--noreload"]
        )
        self.stdout.write(
            self.style.SUCCESS(f"Studio: http://{options['host']}:{options['port']}/  (Ctrl-C stops)")
        )
        children = (web, worker)

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        # Handle both explicitly: a shell that starts us in the background ignores SIGINT.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    # SIGTERM: the worker's warm shutdown (finish running tasks), the web
                    # server's exit; SIGINT may be ignored by children of a background job.
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    child.kill()
        self.stdout.write("Studio stopped.")
