from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def studio(request: HttpRequest) -> dict[str, Any]:
    """Give every page the signed-in member (for the nav and the credit badge)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"membership": user.membership()}
