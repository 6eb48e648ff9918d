"""Studio's models: accounts and teams, the credit ledger, generation jobs."""

from __future__ import annotations

from studio.models.accounts import Membership, Role, Team, User
from studio.models.jobs import Job, JobInput, JobStatus
from studio.models.ledger import Account, AccountKind, Transfer, TransferKind

__all__ = [
    "Account",
    "AccountKind",
    "Job",
    "JobInput",
    "JobStatus",
    "Membership",
    "Role",
    "Team",
    "Transfer",
    "TransferKind",
    "User",
]
