"""One guard for all text a request carries: query strings, form fields, file names, path parameters.

Text with a NUL byte or a lone surrogate cannot be stored (PostgreSQL refuses NUL in
text; UTF-8 has no surrogates), so it is refused with a 400 here, before any view or
query sees it, instead of surfacing as a database error. JSON bodies are checked by
`studio.api.bodies`, which also bounds their depth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string

from studio.api.errors import error_response

# A query value longer than this is not a search or an id but an attack or a mistake.
MAX_QUERY_VALUE = 4096
# The largest id a path or field may name: a bigint column holds no more.
MAX_PATH_INT = 2**63 - 1
API_PREFIXES = ("/v1/", "/v2/")


def is_clean_text(value: str) -> bool:
    """No NUL and no lone surrogate: text that PostgreSQL (and UTF-8) can store."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BadInput(Exception):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _printable(name: str) -> str:
    return name[:100].encode("utf-8", "replace").decode().replace("\x00", "")


def _check_pairs(pairs: Iterable[tuple[str, str]], *, where: str, max_len: int | None = None) -> None:
    for name, value in pairs:
        for text in (name, value):
            if not is_clean_text(text):
                raise BadInput(
                    f"The {where} `{_printable(name)}` must be valid text without NUL characters.",
                    param=_printable(name),
                )
        # Ids travel as form values too (admin formsets, selections): a number no bigint
        # holds cannot name a row, and the database errors on comparing with one.
        if len(value) > 18 and value.lstrip("-").isdigit() and value.isascii() and abs(int(value)) > MAX_PATH_INT:
            raise BadInput(f"The number in `{_printable(name)}` is too large.", param=_printable(name))
        if max_len is not None and len(value) > max_len:
            raise BadInput(
                f"The {where} `{_printable(name)}` is longer than {max_len:,} characters.", param=_printable(name)
            )


def check_request(request: HttpRequest) -> None:
    """Raise BadInput when the query string, form fields or uploaded file names hold unstorable text."""
    _check_pairs(((k, v) for k in request.GET for v in request.GET.getlist(k)), where="parameter", max_len=MAX_QUERY_VALUE)
    # The API reads its own bodies (with its size limit and JSON errors); reading them here
    # would parse a multipart upload before that limit is checked.
    if request.method in ("POST", "PUT", "PATCH") and not request.path.startswith(API_PREFIXES):
        _check_pairs(((k, v) for k in request.POST for v in request.POST.getlist(k)), where="field")
        _check_pairs(
            ((k, f.name or "") for k in request.FILES for f in request.FILES.getlist(k)), where="file name of"
        )


def check_path_kwargs(kwargs: dict[str, Any]) -> None:
    for name, value in kwargs.items():
        if isinstance(value, str) and not is_clean_text(value):
            raise BadInput("The address holds characters that are not valid text.", param=name)
        if isinstance(value, int) and not -MAX_PATH_INT <= value <= MAX_PATH_INT:
            raise BadInput("The address names an id that cannot exist.", param=name)


def refusal(request: HttpRequest, problem: BadInput) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return error_response(400, "validation_error", problem.message, param=problem.param)
    # No request context: refusing costs no query (the context processors would make some).
    return HttpResponse(render_to_string("bad_request.html", {"message": problem.message}), status=400)


class InputGuardMiddleware:
    """Refuse unstorable text anywhere in the request with a 400 that says why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The API answers an id it cannot read with its own JSON 404 (part of its contract).
        if not request.path.startswith(API_PREFIXES) and not is_clean_text(request.path_info):
            return refusal(request, BadInput("The address holds characters that are not valid text."))
        try:
            check_request(request)
        except BadInput as problem:
            return refusal(request, problem)
        except (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent):
            return refusal(request, BadInput("The form is larger than this site accepts."))
        except MultiPartParserError:
            return refusal(request, BadInput("The form could not be read."))
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: tuple[Any, ...], view_kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        if request.path.startswith(API_PREFIXES):
            return None
        try:
            check_path_kwargs(view_kwargs)
        except BadInput as problem:
            return refusal(request, problem)
        return None
