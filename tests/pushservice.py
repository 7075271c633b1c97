"""A real push service on 127.0.0.1 for the tests and the benchmark.

It does what a browser vendor's push service does with a request (RFC 8030, 8291, 8292):
verifies the VAPID JWT (ES256, audience, expiry at most 24 h ahead, a mailto or https
subject) against the server's public key, requires `Content-Encoding: aes128gcm`, a TTL
header and a body of at most 4,096 bytes, checks Urgency and Topic when present, and
decrypts the body with the subscription's private key and auth secret (`http_ece`). It
answers 201, or what a test told it to (410, 429 with Retry-After, ...).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import h11
import http_ece
import jwt
import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_BODY = 4096
URGENCIES = {"very-low", "low", "normal", "high"}
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
VAPID = re.compile(r"^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """The browser's side of one subscription: its key pair and auth secret."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives the app to post to the server."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(public), "auth": b64(self.auth)}}


@dataclass(frozen=True)
class Push:
    """One accepted push: where it went, its headers, and the decrypted payload."""

    endpoint: str
    payload: dict[str, Any]
    ttl: int
    urgency: str | None
    topic: str | None
    at: float


@dataclass
class PushService:
    """Start with `with PushService(public_key) as service:`; `public_key` is the server's
    VAPID key (base64url, uncompressed P-256), or a callable that returns it once known."""

    public_key: Any
    # Verify the JWT's signature and decrypt every n-th push (all are checked otherwise):
    # 1 in the tests; the benchmark samples, so that the service takes less of the CPU the
    # server it measures runs on.
    check_every: int = 1
    # Linux niceness of the service's thread: the benchmark lowers it, so that on a small
    # machine the service takes only CPU that the server it measures does not want.
    nice: int = 0
    host: str = "127.0.0.1"
    received: list[Push] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    answered: list[tuple[str, int, float]] = field(default_factory=list)
    _devices: dict[str, Device] = field(default_factory=dict)
    _script: dict[str | None, deque[tuple[int, str | None]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: int = 0

    def __enter__(self) -> PushService:
        # One thread with its own event loop: cheaper than a thread per connection, so that
        # in the benchmark the service takes as little CPU from the server as it can.
        self._loop = uvloop.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            if self.nice:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            self._server = await asyncio.start_server(self._connection, self.host, 0, backlog=512)
            ready.set()
            async with self._server:
                await self._server.serve_forever()

        self._thread = threading.Thread(
            target=lambda: self._loop.run_until_complete(_quietly(serve())), daemon=True
        )
        self._thread.start()
        ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        for task in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        http = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await _read_request(http, reader)
                if request is None:
                    return
                path = request.target.decode()
                headers = {k.decode(): v.decode() for k, v in request.headers}
                status, extra = self._handle(path, headers, body)
                head = [("content-length", "0"), *extra.items()]
                writer.write(http.send(h11.Response(status_code=status, headers=head)))
                writer.write(http.send(h11.EndOfMessage()))
                await writer.drain()
                if http.our_state is not h11.DONE or http.their_state is not h11.DONE:
                    return
                http.start_next_cycle()
        except (OSError, h11.ProtocolError):
            return
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.sockets[0].getsockname()[1]}"

    def device(self) -> Device:
        """A new browser subscription at this service."""
        endpoint = f"{self.url}/push/{secrets.token_urlsafe(16)}"
        device = Device(endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16))
        with self._lock:
            self._devices[endpoint] = device
        return device

    def answer(
        self,
        status: int,
        retry_after: str | None = None,
        endpoint: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` pushes (to `endpoint`, or to any) with this status."""
        with self._lock:
            self._script.setdefault(endpoint, deque()).extend([(status, retry_after)] * times)

    def to(self, endpoint: str) -> list[Push]:
        with self._lock:
            return [p for p in self.received if p.endpoint == endpoint]

    # --- the service's side --------------------------------------------------------------

    def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        lower = {k.lower(): v for k, v in headers.items()}
        endpoint = self.url + path
        with self._lock:
            device = self._devices.get(endpoint)
        with self._lock:
            self._seen += 1
            full = self._seen % self.check_every == 0
        problem = None if device else "unknown subscription"
        problem = problem or self._check(lower, body, full)
        if problem:
            with self._lock:
                self.refused.append(problem)
            return (404 if device is None else 400), {}
        assert device is not None
        with self._lock:
            scripted = self._next_answer(endpoint)
        if scripted is not None:
            status, retry_after = scripted
            with self._lock:
                self.answered.append((endpoint, status, time.monotonic()))
            return status, ({"retry-after": retry_after} if retry_after else {})
        payload = self._open(device, body) if full else {}
        if payload is None:
            with self._lock:
                self.refused.append("payload does not decrypt with the subscription's keys")
            return 400, {}
        push = Push(
            endpoint,
            payload,
            int(lower["ttl"]),
            lower.get("urgency"),
            lower.get("topic"),
            time.monotonic(),
        )
        with self._lock:
            self.received.append(push)
            self.answered.append((endpoint, 201, push.at))
        return 201, {"location": f"{self.url}/message/{secrets.token_urlsafe(8)}"}

    def _next_answer(self, endpoint: str) -> tuple[int, str | None] | None:
        for key in (endpoint, None):
            queue = self._script.get(key)
            if queue:
                return queue.popleft()
        return None

    def _check(self, headers: dict[str, str], body: bytes, full: bool) -> str | None:
        if headers.get("content-encoding") != "aes128gcm":
            return "Content-Encoding is not aes128gcm"
        if not headers.get("ttl", "").isdigit():
            return "TTL header missing or not a number"
        if len(body) > MAX_BODY:
            return f"body of {len(body)} bytes is over {MAX_BODY}"
        if "urgency" in headers and headers["urgency"] not in URGENCIES:
            return f"bad Urgency {headers['urgency']!r}"
        if "topic" in headers and not TOPIC.match(headers["topic"]):
            return f"bad Topic {headers['topic']!r}"
        return self._check_vapid(headers.get("authorization", ""), full)

    def _check_vapid(self, authorization: str, full: bool) -> str | None:
        match = VAPID.match(authorization)
        if not match:
            return "no VAPID authorization"
        token, key = match.groups()
        expected = self.public_key() if callable(self.public_key) else self.public_key
        if key != expected:
            return "VAPID key is not the server's public key"
        if not full:
            return None
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
        # The audience is the push service's origin. The webpush package leaves the port out
        # of it (see field-notes.md), which a service on port 443 would not notice.
        audiences = [self.url, f"http://{self.host}"]
        try:
            claims = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                audience=audiences,
                options={"require": ["exp", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            return f"VAPID JWT refused: {exc}"
        if claims["exp"] > time.time() + 24 * 3600:
            return "VAPID JWT expires more than 24 hours ahead"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return "VAPID sub is not a mailto: or https: URL"
        return None

    @staticmethod
    def _open(device: Device, body: bytes) -> dict[str, Any] | None:
        try:
            plain = http_ece.decrypt(
                body,
                private_key=device.private_key,
                auth_secret=device.auth,
                version="aes128gcm",
            )
            data: dict[str, Any] = json.loads(plain)
        except Exception:
            return None
        return data


async def _read_request(
    http: h11.Connection, reader: asyncio.StreamReader
) -> tuple[h11.Request | None, bytes]:
    request, body = None, b""
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return request, body
        elif isinstance(event, h11.ConnectionClosed):
            return None, b""


async def _quietly(serving: Any) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await serving
