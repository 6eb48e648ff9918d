"""HTTP plumbing the adapters share: reading error bodies, refusing redirects, and the
encodings request bodies carry images in (data URIs, plain base64, multipart parts).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import httpx

from providers.backends.base import extract_error_message
from providers.errors import ErrorCode, ProviderError
from providers.types import InputImage


def data_uri(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def plain_b64(image: InputImage) -> str:
    return base64.b64encode(image.data).decode("ascii")


def file_part(stem: str, image: InputImage) -> tuple[str, bytes, str]:
    """A multipart file tuple named after the image's type."""
    extension = image.mime_type.split("/")[-1].replace("jpeg", "jpg")
    return f"{stem}.{extension}", image.data, image.mime_type


def fastapi_detail(body: Any) -> str:
    """The message of a FastAPI `{"detail": [{"loc", "msg", ...}]}` or `{"detail": "..."}` body."""
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, list):
        messages = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                messages.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
        return "; ".join(messages)[:500]
    if isinstance(detail, str):
        return detail[:500]
    return ""


def read_error_message(response: httpx.Response) -> str:
    """An error body's message, understanding FastAPI's validation shape (BFL, Luma, fal)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return fastapi_detail(body) or extract_error_message(body)


def refuse_redirect(response: httpx.Response, family: str) -> None:
    """Redirects are never followed (the key would travel along): treat one as a broken answer."""
    if response.is_redirect:
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR,
            f"{family}: unexpected redirect (HTTP {response.status_code}), not followed",
            status=response.status_code,
            provider=family,
        )


def form_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """Multipart form values are strings; drop the unset ones."""
    return {
        key: (str(value).lower() if isinstance(value, bool) else str(value))
        for key, value in fields.items()
        if value is not None
    }


def without_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}
