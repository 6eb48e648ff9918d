"""Old home of team administration, kept importable for the team views until they move to
`studio.services.team` (they are being edited on other branches; new code imports the package)."""

from __future__ import annotations

from studio.services.team import *  # noqa: F403
from studio.services.team import __all__  # noqa: F401
