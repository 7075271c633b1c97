"""A test-only ASGI wrapper that makes POST /api/v1/answers fail on cue (never in server/)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from litestar.types import ASGIApp, Message, Receive, Scope, Send

Fault = Literal["pass", "error_500", "drop_before", "drop_after_commit", "hold", "offline"]


@dataclass
class Seen:
    """One answers request as the wrapper handled it."""

    fault: Fault
    inner_status: int | None = None
    body: bytes = b""


class ConnectionDropped(Exception):
    """Raised after a response was started, so the server closes the connection mid-answer."""


@dataclass
class AnswerFaults:
    """Plays a script of faults, one per answers POST in arrival order; then lets all pass."""

    app: ASGIApp
    script: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    # Set while a test has the browser offline: Chromium's offline emulation can miss a
    # service worker that starts up for a sync event, so the edge refuses too.
    offline: bool = False

    def plan(self, faults: Iterable[Fault]) -> None:
        self.script = list(faults)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_answers = (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == "/api/v1/answers"
        )
        if not is_answers:
            await self.app(scope, receive, send)
            return
        fault: Fault = "offline" if self.offline else self._next()
        seen = Seen(fault)
        self.seen.append(seen)
        receive = await self._recorded(receive, seen)
        if fault == "error_500":
            await _plain(send, 500, b"test fault: server error before storing anything")
        elif fault in ("drop_before", "offline"):
            await _cut(send)
        elif fault == "drop_after_commit":
            # The nasty case: the answers are committed, but the client never sees the result.
            seen.inner_status = await _swallow(self.app, scope, receive)
            await _cut(send)
        elif fault == "hold":
            self.holding.set()
            # The test thread sets `release`; wait for it without blocking the server's loop.
            await asyncio.to_thread(self.release.wait)
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _next(self) -> Fault:
        return self.script.pop(0) if self.script else "pass"

    async def _recorded(self, receive: Receive, seen: Seen) -> Receive:
        """Read the whole body now (to record it) and replay it to the app."""
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        seen.body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": seen.body, "more_body": False}

        return replay


async def _swallow(app: ASGIApp, scope: Scope, receive: Receive) -> int | None:
    status: int | None = None

    async def sink(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, sink)
    return status


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _cut(send: Send) -> None:
    """Promise a body, send part of it, then drop the connection."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"results":[', "more_body": True})
    raise ConnectionDropped("test fault: connection dropped")
