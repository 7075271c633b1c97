"""Error responses: a page in the design system for a browser, JSON for an API client."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

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


handlers: ExceptionHandlersMap = {HTTPException: http_error, Exception: server_error}
