"""Old home of the model access rules, kept importable: they live in `studio.services.team.access`."""

from __future__ import annotations

from studio.services.team.access import TeamAccess, model_block_reason, team_access

__all__ = ["TeamAccess", "model_block_reason", "team_access"]
