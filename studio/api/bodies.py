"""Read a request body within the API's size limit: JSON, or multipart with files."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from studio.api.errors import ApiError
from studio.input_guard import is_clean_text
from studio.services.jobs import Upload

# No request of ours nests more than a few levels; 32 leaves room and bounds the recursion
# of everything that walks the parsed body.
MAX_JSON_DEPTH = 32
DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class Body:
    """A parsed body. `fields` is the JSON object, or the form's fields (a list when repeated)."""

    fields: dict[str, Any]
    files: dict[str, list[Upload]] = field(default_factory=dict)
    canonical: bytes = b""

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def nested_too_deep() -> ApiError:
    return ApiError(400, "validation_error", f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"The request body is larger than {limit // (1024 * 1024)} MB.",
    )


def read_body(request: HttpRequest) -> Body:
    """Parse the body, refusing anything over STUDIO_API_MAX_BODY_BYTES before reading it all."""
    limit = int(settings.STUDIO_API_MAX_BODY_BYTES)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large(limit)
    content_type = (request.content_type or "").lower()
    if content_type == "multipart/form-data":
        return _read_multipart(request, limit)
    if content_type == "application/x-www-form-urlencoded":
        try:
            fields = _form_fields(request)
        except RequestDataTooBig:
            raise too_large(limit) from None
        check_text(fields)
        return Body(fields=fields, canonical=_canonical({"fields": fields}))
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "Send application/json or multipart/form-data.")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_large(limit)
    if not raw.strip():
        return Body(fields={}, canonical=b"{}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "validation_error", "The body is not valid JSON.") from None
    except RecursionError:
        # The parser recurses once per level: thousands of levels exhaust the stack first.
        raise nested_too_deep() from None
    if not isinstance(data, dict):
        raise ApiError(400, "validation_error", "The body must be a JSON object.")
    if json_depth_exceeds(data, MAX_JSON_DEPTH):
        raise nested_too_deep()
    check_text(data)
    return Body(fields=data, canonical=_canonical(data))


def _read_multipart(request: HttpRequest, limit: int) -> Body:
    try:
        fields = _form_fields(request)
        files: dict[str, list[Upload]] = {}
        total = 0
        for name in request.FILES:
            for uploaded in request.FILES.getlist(name):
                total += uploaded.size or 0
                if total > limit:
                    raise too_large(limit)
                if not is_clean_text(uploaded.name or ""):
                    raise ApiError(
                        400, "validation_error", "File names must be valid text without NUL characters.", param=name
                    )
                files.setdefault(name, []).append(Upload(data=uploaded.read(), name=uploaded.name or ""))
    except RequestDataTooBig:
        raise too_large(limit) from None
    except TooManyFilesSent:
        raise ApiError(400, "validation_error", "Too many files in one request.") from None
    except MultiPartParserError:
        raise ApiError(400, "validation_error", "The multipart body could not be parsed.") from None
    check_text(fields)
    digests = {name: [hashlib.sha256(u.data).hexdigest() for u in uploads] for name, uploads in files.items()}
    return Body(fields=fields, files=files, canonical=_canonical({"fields": fields, "files": digests}))


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (iteratively: no recursion to blow)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def check_text(data: Any, *, param: str | None = None) -> None:
    """Refuse strings the database cannot store, anywhere in the body, naming the field."""
    if isinstance(data, str):
        if not is_clean_text(data):
            raise ApiError(
                400, "validation_error", "Text must be valid Unicode without NUL characters.", param=param
            )
    elif isinstance(data, dict):
        for key, value in data.items():
            check_text(key, param=param or str(key)[:100].encode("utf-8", "replace").decode())
            check_text(value, param=param or str(key))
    elif isinstance(data, list):
        for item in data:
            check_text(item, param=param)


def _form_fields(request: HttpRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in request.POST:
        values = request.POST.getlist(name)
        fields[name] = values if len(values) > 1 or name.endswith("[]") else values[0]
    return fields


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode_image(value: Any, *, param: str, position: int = 0) -> Upload:
    """Decode one image given as a data URL or raw base64."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "validation_error", f"`{param}` must be a base64 string or a data URL.", param=param)
    text = value.strip()
    match = DATA_URL.match(text)
    if match:
        text = text[match.end():]
    elif text.startswith(("http://", "https://")):
        raise ApiError(400, "validation_error", "Image URLs are not fetched; send the image base64-encoded.", param=param)
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "validation_error", f"`{param}` is not valid base64.", param=param) from None
    if not data:
        raise ApiError(400, "validation_error", f"`{param}` is empty.", param=param)
    return Upload(data=data, name=f"{param}-{position}")
