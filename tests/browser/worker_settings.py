"""Settings for the worker the browser tests start: the test settings, with visible progress.

The local renderer sleeps this long across its progress steps, so the browser can watch
a job queue, run and finish.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403

STUDIO_DEMO_DELAY = 4.0
