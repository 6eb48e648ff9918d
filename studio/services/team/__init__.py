"""Team administration: invitations, members and roles, credits, model access, lifecycle.

Each submodule owns one concern; this package re-exports their public names so callers
can write `from studio.services import team` and `team.grant(...)`.
"""

from __future__ import annotations

from studio.services.team.access import (
    MAX_RUNNING_PER_MEMBER,
    MODEL_SETTINGS,
    TeamAccess,
    model_block_reason,
    require_manager,
    require_same_team,
    set_member_concurrency_cap,
    set_model_access,
    set_tier_access,
    team_access,
)
from studio.services.team.access_table import save_access_table
from studio.services.team.audit import MEMO_MAX, log_event
from studio.services.team.credits import (
    CreditMove,
    RefillSummary,
    grant,
    pool_balance,
    refill_member,
    revoke,
    run_monthly_refills,
    set_limits,
    top_up_team,
)
from studio.services.team.invitations import (
    INVITATION_DAYS,
    IssuedInvitation,
    accept_invitation,
    find_invitation,
    invitation_problem,
    invite_member,
    register_invited_user,
    revoke_invitation,
    send_invitation_email,
)
from studio.services.team.lifecycle import ACTIVE_JOB_STATUSES, delete_team, is_closed
from studio.services.team.members import (
    ASSIGNABLE_ROLES,
    can_manage_member,
    change_role,
    remove_member,
    switch_team,
)

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "ASSIGNABLE_ROLES",
    "INVITATION_DAYS",
    "MEMO_MAX",
    "MAX_RUNNING_PER_MEMBER",
    "MODEL_SETTINGS",
    "CreditMove",
    "IssuedInvitation",
    "RefillSummary",
    "TeamAccess",
    "accept_invitation",
    "can_manage_member",
    "change_role",
    "delete_team",
    "find_invitation",
    "grant",
    "invitation_problem",
    "invite_member",
    "register_invited_user",
    "is_closed",
    "log_event",
    "model_block_reason",
    "pool_balance",
    "refill_member",
    "remove_member",
    "require_manager",
    "require_same_team",
    "revoke",
    "revoke_invitation",
    "run_monthly_refills",
    "save_access_table",
    "send_invitation_email",
    "set_limits",
    "set_member_concurrency_cap",
    "set_model_access",
    "set_tier_access",
    "switch_team",
    "team_access",
    "top_up_team",
]
