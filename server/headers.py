"""Security headers on every response, set in one place where they apply.

Pages get a Content-Security-Policy that allows only the app's own scripts, styles, images
and connections (no inline script, no other origin, no framing); every response says
`nosniff` and keeps its referrer to this origin; API responses are never stored by a cache
unless their route said otherwise (they are personal); HSTS is sent only under an https
public address, where it cannot lock a plain-http test setup out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000"


def security_headers(https: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A before-send hook: it sees every response, those of unknown routes too (which no
    middleware does); `https` comes from the public address."""

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            _apply(MutableScopeHeaders.from_message(message), scope["path"], https)

    return hook


def _apply(headers: MutableScopeHeaders, path: str, https: bool) -> None:
    headers["X-Content-Type-Options"] = "nosniff"
    if "referrer-policy" not in headers:
        headers["Referrer-Policy"] = "same-origin"
    if https:
        headers["Strict-Transport-Security"] = HSTS
    if headers.get("content-type", "").startswith("text/html"):
        headers["Content-Security-Policy"] = CSP
        headers["X-Frame-Options"] = "DENY"
    if path.startswith("/api/") and "cache-control" not in headers:
        headers["Cache-Control"] = "no-store"
