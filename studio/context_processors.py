from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def studio(request: HttpRequest) -> dict[str, Any]:
    """Give every page the signed-in member and their balance (nav and credit badge)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = user.membership()
    if membership is None:
        return {"membership": None}
    from studio.services.credits import member_balance

    def boards() -> list[dict[str, Any]]:
        from gallery.models import Board

        return list(Board.objects.filter(owner=user).order_by("name").values("pk", "name"))

    # A callable: templates evaluate it only where they list the boards (the lightbox's menu).
    return {
        "membership": membership,
        "credit_balance": member_balance(membership=membership),
        "lightbox_boards": boards,
    }
