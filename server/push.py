"""Web push: the server's VAPID keys, each device's subscription, and delivery of one message.

The `webpush` package encrypts the payload (aes128gcm, RFC 8291) and signs the VAPID JWT
(RFC 8292); it sends nothing, so a small HTTP/1.1 client here POSTs the result.
What to send, to whom and when is the reminders room's business.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import ssl
import time
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import h11
import msgspec
from cryptography.hazmat.primitives import serialization
from litestar import Request, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody
from webpush import WebPush, WebPushSubscription
from webpush.vapid import VAPID

from server.auth import (
    all_of,
    caller,
    hash_token,
    person_only,
    principal_of,
    same_origin_json,
    session_token,
    signed_in,
)
from server.config import Secret, Settings
from server.db import Database
from server.deps import Ctx

# RFC 8291: a push message body is at most 4,096 bytes after encryption (about 3,993 of
# plaintext); push services answer 413 above it.
MAX_RECORD = 4096
VAPID_REUSE_SECONDS = 3600
Urgency = Literal["very-low", "low", "normal", "high"]
Outcome = Literal["sent", "gone", "retry", "failed"]


class PushKey(msgspec.Struct, frozen=True):
    """The applicationServerKey a browser subscribes with (uncompressed P-256, base64url)."""

    public_key: str


class SubscriptionKeys(msgspec.Struct, frozen=True):
    p256dh: Annotated[str, msgspec.Meta(min_length=80, max_length=100)]
    auth: Annotated[str, msgspec.Meta(min_length=16, max_length=32)]


class SubscriptionIn(msgspec.Struct, frozen=True):
    """A browser's PushSubscription.toJSON(), as the staff app posts it."""

    endpoint: Annotated[str, msgspec.Meta(max_length=1000)]
    keys: SubscriptionKeys
    expirationTime: int | float | None = None  # the browser's own name


class Unsubscribe(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which subscription to remove; without an endpoint, every one of this device."""

    endpoint: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class Removed(msgspec.Struct, frozen=True):
    removed: int


class SubscriptionOut(msgspec.Struct, frozen=True):
    id: int
    endpoint: str


class Result(msgspec.Struct, frozen=True):
    """What the push service said about one message."""

    outcome: Outcome
    status: int | None = None
    retry_after: float | None = None


class PayloadTooLarge(ValueError):
    """The encrypted message would exceed the 4,096 bytes a push service accepts."""


# --- keys ------------------------------------------------------------------------------


class VapidKeys(msgspec.Struct, frozen=True):
    private_pem: Secret  # prints as ***, should the keys ever reach a log line
    public_pem: str
    public_key: str


async def ensure_keys(db: Database, now: float) -> VapidKeys:
    """The server's VAPID key pair, generated and stored on first start. Two processes
    starting at once both try to insert; the first wins and both read its keys."""
    private_pem, _, application_key = VAPID.generate_keys()
    await db.write(
        "INSERT INTO push_keys (id, private_pem, public_key, created_at) VALUES (1, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING",
        (private_pem.decode(), application_key, int(now)),
    )
    row = await db.fetch_one("SELECT private_pem, public_key FROM push_keys WHERE id = 1")
    assert row is not None
    return _keys(str(row["private_pem"]), str(row["public_key"]))


def _keys(private_pem: str, public_key: str) -> VapidKeys:
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return VapidKeys(Secret(private_pem), public_pem.decode(), public_key)


async def public_key(db: Database) -> str | None:
    value = await db.fetch_value("SELECT public_key FROM push_keys WHERE id = 1")
    return None if value is None else str(value)


# --- subscriptions ---------------------------------------------------------------------


def allowed_endpoint(endpoint: str, services: str) -> bool:
    """Whether the server may POST to this endpoint: https to a listed push service host
    (`*.example.com` matches subdomains), or plain http to a listed loopback host (tests).
    A person chooses the endpoint, so without this the server would call any address."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        return False
    if parts.scheme == "http" and not _loopback(host):
        return False
    if parts.scheme not in ("https", "http"):
        return False
    for pattern in (p.strip().lower() for p in services.split(",")):
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if pattern and host == pattern:
            return True
    return False


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def subscribe(
    db: Database, person_id: int, session_hash: str, sub: SubscriptionIn, now: float
) -> int:
    """Keep this device's subscription (one per session: a new one replaces the old, and an
    endpoint another person registered on this browser moves to this person)."""
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM push_subscriptions WHERE session_hash = ? OR endpoint = ?",
            (session_hash, sub.endpoint),
        )
        row = await tx.fetch_one(
            "INSERT INTO push_subscriptions (person_id, session_hash, endpoint, p256dh, auth,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (person_id, session_hash, sub.endpoint, sub.keys.p256dh, sub.keys.auth, int(now)),
        )
    assert row is not None
    return int(row["id"])


async def unsubscribe(db: Database, person_id: int, session_hash: str, endpoint: str | None) -> int:
    """Remove one of the person's subscriptions by endpoint, or every one of this device."""
    if endpoint is None:
        sql, params = "DELETE FROM push_subscriptions WHERE session_hash = ?", (session_hash,)
    else:
        sql = "DELETE FROM push_subscriptions WHERE person_id = ? AND endpoint = ?"
        params = (person_id, endpoint)  # type: ignore[assignment]
    async with db.transaction() as tx:
        changed, _ = await tx.execute(sql, params)
    return changed


async def devices_of(db: Database, person_id: int) -> int:
    value = await db.fetch_value(
        "SELECT COUNT(*) FROM push_subscriptions WHERE person_id = ?", (person_id,)
    )
    return int(value or 0)


async def device_subscribed(db: Database, session_hash: str) -> bool:
    found = await db.fetch_value(
        "SELECT 1 FROM push_subscriptions WHERE session_hash = ?", (session_hash,)
    )
    return found is not None


async def forget(db: Database, subscription_ids: list[int]) -> None:
    """Remove subscriptions the push service called gone (404 or 410)."""
    if subscription_ids:
        marks = ", ".join("?" * len(subscription_ids))
        await db.write(f"DELETE FROM push_subscriptions WHERE id IN ({marks})", subscription_ids)


# --- delivery --------------------------------------------------------------------------


def contact(settings: Settings) -> str:
    """The e-mail address in the VAPID claim (`sub`), by which a push service can reach us."""
    if settings.push_contact:
        return settings.push_contact.removeprefix("mailto:")
    return f"push@{urlsplit(settings.public_url).hostname or 'localhost'}"


class PushNetworkError(Exception):
    """No complete answer from the push service: refused, cut off or timed out."""


class _Connection:
    """One kept-alive HTTP/1.1 connection to a push service."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.http = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        self.writer.close()


class PushClient:
    """POSTs to push services over kept-alive HTTP/1.1 connections (asyncio streams and h11).

    Not httpx: measured here, httpx spent about 1 ms of the event loop on each push against
    0.1 ms for this, and the loop is the one that takes answers in (docs/performance.md).
    Callers bound the number of requests in flight; idle connections are kept per origin.
    """

    def __init__(self, timeout: float = 10.0, keep_per_origin: int = 32) -> None:
        self.timeout = timeout
        self.keep = keep_per_origin
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls = ssl.create_default_context()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        """(status, Retry-After) of one POST; PushNetworkError without a complete answer."""
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "", parts.port or _PORTS[parts.scheme])
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = h11.Request(
            method="POST",
            target=target,
            headers=[
                ("host", parts.netloc),
                ("content-length", str(len(body))),
                *headers.items(),
            ],
        )
        reused = self._take(origin)
        try:
            async with asyncio.timeout(self.timeout):
                if reused is not None:
                    try:
                        return await self._exchange(origin, reused, request, body)
                    except PushNetworkError:
                        pass  # a kept connection the service had closed: once more, anew
                return await self._exchange(origin, await self._open(origin), request, body)
        except (TimeoutError, OSError, h11.ProtocolError) as exc:
            raise PushNetworkError(str(exc)) from exc

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _take(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        return idle.pop() if idle else None

    async def _open(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        tls = self._tls if scheme == "https" else None
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None
        )
        return _Connection(reader, writer)

    async def _exchange(
        self, origin: tuple[str, str, int], conn: _Connection, request: h11.Request, body: bytes
    ) -> tuple[int, str | None]:
        http = conn.http
        try:
            conn.writer.write(
                http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
            )
            status, retry_after = 0, None
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    http.receive_data(await conn.reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    retry_after = _header(event.headers, b"retry-after")
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise PushNetworkError("the push service closed the connection")
        except (OSError, h11.ProtocolError, PushNetworkError) as exc:
            conn.close()
            raise PushNetworkError(str(exc)) from exc
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.keep:
                idle.append(conn)
                return status, retry_after
        conn.close()
        return status, retry_after


_PORTS = {"https": 443, "http": 80}


def _header(headers: Any, name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class Pusher:
    """Encrypts one message for one subscription and POSTs it to its push service."""

    def __init__(self, keys: VapidKeys, subscriber: str) -> None:
        self.keys = keys
        self.subscriber = subscriber
        self._webpush = WebPush(
            private_key=keys.private_pem.reveal().encode(),
            public_key=keys.public_pem.encode(),
            subscriber=subscriber,
        )
        self._client = PushClient()
        self._vapid: dict[str, tuple[str, float]] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    def encrypt(
        self,
        endpoint: str,
        p256dh: str,
        auth: str,
        payload: bytes,
        ttl: int,
        urgency: Urgency,
        topic: str,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one push request; PayloadTooLarge above 4,096 bytes."""
        subscription = WebPushSubscription.model_validate(
            {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
        )
        # The package's get() signs a new VAPID JWT for every message; its encryption step
        # alone, with one VAPID header per push service an hour (the JWT is valid for 12 h),
        # saves a quarter of the CPU a push costs. tests/test_push.py decrypts the result.
        encrypted = self._webpush._encrypt(payload, subscription)
        if len(encrypted) > MAX_RECORD:
            raise PayloadTooLarge(f"{len(encrypted)} bytes after encryption")
        # The package's TTL would be 0 ("now or never"), and it sets no Urgency or Topic.
        headers = {
            "authorization": self._authorization(subscription),
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "ttl": str(max(0, int(ttl))),
            "urgency": urgency,
            "topic": topic,
        }
        return encrypted, headers

    def _authorization(self, subscription: WebPushSubscription) -> str:
        audience = f"{subscription.endpoint.scheme}://{subscription.endpoint.host}"
        cached = self._vapid.get(audience)
        if cached is None or cached[1] <= time.monotonic():
            header = self._webpush.vapid.get_authorization_header(
                endpoint=subscription.endpoint,
                subscriber=self.subscriber,
                expiration=self._webpush.expiration,
            )
            cached = self._vapid[audience] = (header, time.monotonic() + VAPID_REUSE_SECONDS)
        return cached[0]

    async def post(self, endpoint: str, body: bytes, headers: dict[str, str]) -> Result:
        try:
            status, retry_after = await self._client.post(endpoint, body, headers)
        except PushNetworkError:
            return Result("retry")
        return classify(status, retry_after)


def classify(status: int, retry_after: str | None, now: float | None = None) -> Result:
    """What a push service's status means for the subscription and the message."""
    if 200 <= status < 300:
        return Result("sent", status)
    if status in (404, 410):
        return Result("gone", status)
    if status == 429 or status >= 500:
        return Result("retry", status, parse_retry_after(retry_after, now))
    return Result("failed", status)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when: datetime = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def counts(db: Database) -> tuple[int, int]:
    """(people with at least one subscription, subscriptions)."""
    row = await db.fetch_one(
        "SELECT COUNT(DISTINCT person_id) AS people, COUNT(*) AS subs FROM push_subscriptions"
    )
    return (int(row["people"]), int(row["subs"])) if row else (0, 0)


# --- routes ----------------------------------------------------------------------------


def session_hash(request: Request[Any, Any, Any]) -> str:
    """The device: the hash of the session this request came with."""
    token = session_token(request)
    if not token:
        raise PermissionDeniedException(detail="Push subscriptions need a signed-in device.")
    return hash_token(token)


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], h: BaseRouteHandler) -> None:
    await signed_in(connection, h)
    principal = principal_of(connection)
    if principal is None or not principal.has_role("admin"):
        raise PermissionDeniedException(detail="This is for administrators.")


@get("/api/v1/push/key", guards=[person_only])
async def get_key(ctx: Ctx) -> PushKey:
    """The server's VAPID public key, to subscribe with (`applicationServerKey`)."""
    key = await public_key(ctx.db)
    if key is None:  # the app creates its keys at start; only a broken start gets here
        raise ValidationException(detail="Push is not set up on this server.")
    return PushKey(public_key=key)


@post("/api/v1/push/subscriptions", guards=[all_of(person_only, same_origin_json)])
async def post_subscription(
    data: JSONBody[SubscriptionIn], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[SubscriptionOut]:
    """Keep this device's push subscription (it replaces the device's previous one)."""
    if not allowed_endpoint(data.endpoint, ctx.settings.push_services):
        raise ValidationException(detail="This push service is not allowed on this server.")
    person_id = caller(request).person_id
    assert person_id is not None
    sub_id = await subscribe(ctx.db, person_id, session_hash(request), data, ctx.clock())
    return Response(SubscriptionOut(id=sub_id, endpoint=data.endpoint), status_code=201)


@delete(
    "/api/v1/push/subscriptions",
    guards=[all_of(person_only, same_origin_json)],
    status_code=200,  # with a body: the app's JSON client reads one from every 2xx
)
async def delete_subscription(
    data: JSONBody[Unsubscribe], request: Request[Any, Any, Any], ctx: Ctx
) -> Removed:
    """Remove a subscription of this person by endpoint, or all of this device's."""
    person_id = caller(request).person_id
    assert person_id is not None
    removed = await unsubscribe(ctx.db, person_id, session_hash(request), data.endpoint)
    return Removed(removed=removed)


route_handlers = [get_key, post_subscription, delete_subscription]
