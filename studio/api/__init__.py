"""Studio's HTTP API: API keys, the OpenAI-compatible and async image endpoints, webhooks."""

from __future__ import annotations
