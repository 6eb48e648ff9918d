"""Studio's models: accounts and teams, the credit ledger, generation jobs."""

from __future__ import annotations

from studio.models.accounts import Membership, Role, Team, User
from studio.models.jobs import Job, JobInput, JobPriority, JobStatus, ProviderCall, ProviderLimit
from studio.models.ledger import Account, AccountKind, Transfer, TransferKind
from studio.models.team import (
    AccessEffect,
    AuditAction,
    AuditEvent,
    Invitation,
    ModelAccessRule,
    RefillRecord,
    TeamClosure,
)

__all__ = [
    "AccessEffect",
    "Account",
    "AccountKind",
    "AuditAction",
    "AuditEvent",
    "Invitation",
    "Job",
    "JobInput",
    "JobPriority",
    "JobStatus",
    "Membership",
    "ModelAccessRule",
    "RefillRecord",
    "ProviderCall",
    "ProviderLimit",
    "Role",
    "Team",
    "TeamClosure",
    "Transfer",
    "TransferKind",
    "User",
]
