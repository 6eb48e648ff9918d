"""Template access to provider health that a team's admins must act on."""

from __future__ import annotations

from django import template

from providers.status import billing_problems

register = template.Library()


@register.simple_tag
def provider_billing_problems() -> list[str]:
    """"The OpenAI Images account is out of credit …", one line per flagged provider."""
    return billing_problems()
