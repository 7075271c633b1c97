"""Error responses: a page in the design system for a browser, JSON for an API client; and
the one policy by which every JSON body is decoded, so that a client's mistake is a clear
400 and never a 500 or a traceback in the log."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException, SerializationException
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ExceptionHandlersMap

from server.db import StoreUnavailable

logger = logging.getLogger("spiegel")

# The statuses with a page of their own; any other 4xx gets the general one, any 5xx "server".
PAGES = {401: "401", 403: "403", 404: "404", 405: "404", 410: "410", 429: "429"}


def wants_page(request: Request[Any, Any, Any]) -> bool:
    """A browser navigating to a page, not a client of the JSON API (which keeps JSON)."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def page_for(status: int) -> str:
    if status >= 500:
        return "server"
    return PAGES.get(status, "other")


def respond(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: Any = None,
) -> Response[Any]:
    """The error as a page or as Litestar's usual JSON body, with the same status and headers."""
    if wants_page(request):
        retry = (headers or {}).get("Retry-After")
        context = {"status": status, "page": page_for(status), "retry": retry}
        return Template("error.html", context=context, status_code=status, headers=headers)
    body: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=status, headers=headers, media_type=MediaType.JSON)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return respond(request, exc.status_code, exc.detail, exc.headers, exc.extra)


def server_error(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    # The traceback has been logged already (LoggingConfig.log_exceptions); the client gets
    # no internals.
    return respond(request, HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


def store_unavailable(request: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    """503 with Retry-After: nothing was stored and the same request may be sent again (the
    outbox does). One log line, no traceback: the operator needs the reason, not the stack."""
    logger.warning("store unavailable (%s %s): %s", request.method, request.url.path, exc.reason)
    detail = "The database cannot store anything right now; nothing was stored. Try again later."
    retry = {"Retry-After": str(exc.retry_after)}
    return respond(request, HTTP_503_SERVICE_UNAVAILABLE, detail, retry)


handlers: ExceptionHandlersMap = {
    HTTPException: http_error,
    StoreUnavailable: store_unavailable,
    Exception: server_error,
}


# --- the JSON decoding policy ------------------------------------------------------------

# Deeper than any body of this API (an answer batch is 3 levels): refused before a decoder or
# a validator recurses into it. msgspec itself stops at the interpreter's recursion limit
# with a RecursionError, which would otherwise be a 500.
MAX_JSON_DEPTH = 32
EMPTY_BODY = "The request body is empty; send a JSON object."
TOO_DEEP = f"The JSON body is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
NOT_UTF8 = "The request body is not valid UTF-8 JSON."
LONE_SURROGATE = (
    "The JSON body holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair), "
    "which is not text."
)
_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|"
    rb"(?<![0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class BadJSON(ClientException):
    """A body that is not acceptable JSON: always 400 (also to Litestar's logging, which
    reads the status from the class and so logs no traceback)."""


class JSONRequest(Request[Any, Any, Any]):
    """The app's request: its JSON body is decoded under one policy, whatever the route."""

    async def body(self) -> bytes:
        body = await super().body()
        # Litestar hands a route an empty body as "no data", which surfaces as a validation
        # error naming its internals; say what is wrong instead.
        if not body.strip() and _requires_json(self.route_handler):
            raise BadJSON(detail=EMPTY_BODY)
        return body

    async def json(self) -> Any:
        body = await self.body()
        if not body.strip():
            raise BadJSON(detail=EMPTY_BODY)
        try:
            value = await super().json()
        except RecursionError:
            raise BadJSON(detail=TOO_DEEP) from None
        except UnicodeDecodeError:
            raise BadJSON(detail=NOT_UTF8) from None
        except SerializationException as exc:
            raise BadJSON(detail=_decode_problem(body, exc)) from None
        if deeper_than(value, MAX_JSON_DEPTH):
            raise BadJSON(detail=TOO_DEEP)
        return value


def deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels; level by level, no recursion.
    (A decoded JSON object is exactly a dict and an array a list; one flat comprehension per
    level costs about 0.25 us per answer of a 500-answer batch.)"""
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            inner
            for outer in level
            for inner in (outer.values() if type(outer) is dict else outer)
            if type(inner) is dict or type(inner) is list
        ]
    return bool(level)


def _decode_problem(body: bytes, exc: Exception) -> str:
    message = str(exc)
    if "surrogate" in message or (b"\\u" in body and _SURROGATE.search(body)):
        return LONE_SURROGATE
    if "truncated" in message:
        return "The request body is not valid JSON: it is truncated (ends too early)."
    return f"The request body is not valid JSON: {message.removeprefix('JSON is malformed: ')}."


def _requires_json(handler: Any) -> bool:
    """Whether this route takes a required JSON body (not a form, not optional)."""
    if not isinstance(handler, HTTPRouteHandler):
        return False
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None or data.is_optional:
        return False
    media = getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON)
    return media == RequestEncodingType.JSON
