"""Assertions shared by the API tests."""

from __future__ import annotations

from typing import Any


def error_of(response: Any, status: int | None = None) -> dict[str, Any]:
    """Check the one error shape (and status) and return its inner object."""
    if status is not None:
        assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "param"}
    return body["error"]
