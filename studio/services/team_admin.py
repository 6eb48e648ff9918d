"""Old home of team administration, kept importable (`studio.tasks` imports it): see `studio.services.team`."""

from __future__ import annotations

from studio.services.team import *  # noqa: F403
from studio.services.team import __all__  # noqa: F401
