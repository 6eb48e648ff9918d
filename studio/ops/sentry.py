"""Optional error reporting to Sentry; imported by settings only when SENTRY_DSN is set.

Prompts and request bodies stay out: `send_default_pii` is off and `before_send` drops
request data, so an event carries the stack, the route and our log context only.
"""

from __future__ import annotations

from typing import Any


def _scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            for name in list(headers):
                if name.lower() in ("authorization", "cookie", "x-csrftoken"):
                    headers[name] = "[redacted]"
    return event


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        before_send=_scrub,  # type: ignore[arg-type]
    )
