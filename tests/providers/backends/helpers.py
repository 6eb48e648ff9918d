"""Helpers shared by the adapter tests."""

from __future__ import annotations

import json

from providers.types import Submission


def reloaded(submission: Submission) -> Submission:
    """The submission as the job layer gets it back: its state stored as JSON between polls."""
    state = json.loads(json.dumps(submission.state))
    return Submission(submission.provider_job_id, submission.poll_url, state, submission.poll_after)
