"""Who is asking: sessions, invite sign-in, API keys, role guards, rate limits."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from weakref import WeakKeyDictionary

import msgspec
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Receive, Scope, Send

from server.callers import (
    KIOSK_TOKEN_PREFIX,
    SCOPES,
    WRITE_SCOPE,
    Principal,
    api_key,
    person,
)
from server.clock import Clock
from server.config import Settings
from server.db import Database
from server.deps import Ctx

SESSION_COOKIE = "spiegel_session"
_SLIDE_AFTER_SECONDS = 3600

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def new_token(nbytes: int = 32) -> str:
    """A random token of nbytes*8 bits, safe in URLs and cookies."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    # Tokens carry >= 256 bits of entropy, so a plain SHA-256 is enough (OWASP ASVS 5).
    return hashlib.sha256(token.encode()).hexdigest()


# --- sessions and API keys -------------------------------------------------------------


async def create_session(db: Database, person_id: int, now: float, days: int, agent: str) -> str:
    token = new_token()
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO sessions (token_hash, person_id, created_at, last_seen_at, expires_at,"
            " user_agent) VALUES (?, ?, ?, ?, ?, ?)",
            (
                hash_token(token),
                person_id,
                int(now),
                int(now),
                int(now + days * 86400),
                agent[:200],
            ),
        )
    return token


async def end_session(db: Database, token: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM sessions WHERE token_hash = ?", (hash_token(token),))
    recent_sessions(db).forget(hash_token(token))


class RecentSessions:
    """Sessions found valid in the last few seconds, so that a device's burst of requests (a
    kiosk's taps, a phone's sync) costs one look-up: a trip to the database's thread costs
    more CPU than the rest of a small request. Sign-out, revocation and a person's changes in
    this process forget entries at once; those of another process (the CLI) take effect
    within TTL seconds."""

    TTL = 10.0
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal, float, float]] = {}

    def get(self, token_hash: str, now: float) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        principal, expires_at, checked_at = entry
        if now >= expires_at or not 0 <= now - checked_at < self.TTL:
            del self._entries[token_hash]
            return None
        return principal

    def put(self, token_hash: str, principal: Principal, expires_at: float, now: float) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[token_hash] = (principal, expires_at, now)

    def forget(self, token_hash: str) -> None:
        self._entries.pop(token_hash, None)

    def forget_person(self, person_id: int) -> None:
        """Call after any change to a person or their sessions (revocation, role, team, ...)."""
        for key in [k for k, v in self._entries.items() if v[0].person_id == person_id]:
            del self._entries[key]


_recent: WeakKeyDictionary[Database, RecentSessions] = WeakKeyDictionary()


def recent_sessions(db: Database) -> RecentSessions:
    """The session memo of this database (one per database, so tests stay apart)."""
    memo = _recent.get(db)
    if memo is None:
        memo = _recent[db] = RecentSessions()
    return memo


async def person_from_session(
    db: Database, token: str, now: float, days: int
) -> tuple[Principal, bool] | None:
    """The person of a live session, and whether this use renewed the session."""
    token_hash = hash_token(token)
    memo = recent_sessions(db)
    if (known := memo.get(token_hash, now)) is not None:
        return known, False
    row = await db.fetch_one(
        "SELECT s.person_id, s.last_seen_at, s.expires_at, p.role, p.name, p.email, p.team_id,"
        " p.language FROM sessions s JOIN people p ON p.id = s.person_id"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND p.active = 1",
        (token_hash, int(now)),
    )
    if row is None:
        return None
    expires_at = row["expires_at"]
    renew = now - row["last_seen_at"] > _SLIDE_AFTER_SECONDS
    if renew:
        expires_at = int(now + days * 86400)
        async with db.transaction() as tx:
            await tx.execute(
                "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
                (int(now), expires_at, token_hash),
            )
    principal = person(
        row["person_id"], row["role"], row["name"], row["email"], row["team_id"], row["language"]
    )
    memo.put(token_hash, principal, expires_at, now)
    return principal, renew


async def apikey_principal(db: Database, key: str, now: float | None = None) -> Principal | None:
    """The caller of a live key; its last use is recorded (to the minute) when `now` is given."""
    row = await db.fetch_one(
        "SELECT id, name, scopes FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        (hash_token(key),),
    )
    if row is None:
        return None
    teams = await db.fetch_all("SELECT team_id FROM api_key_teams WHERE key_id = ?", (row["id"],))
    if now is not None:
        await key_uses(db).touch(db, row["id"], now)
    return api_key(
        row["id"],
        row["name"],
        frozenset(t["team_id"] for t in teams) or None,
        frozenset(row["scopes"].split()),
    )


class KeyUses:
    """When each key was last recorded as used: a key sending a request a second must not
    cost a write a second, so last_used_at is written at most once a minute per key (and is
    shown to the minute)."""

    EVERY = 60

    def __init__(self) -> None:
        self._written: dict[int, float] = {}

    async def touch(self, db: Database, key_id: int, now: float) -> None:
        if now - self._written.get(key_id, -self.EVERY) < self.EVERY:
            return
        self._written[key_id] = now
        await db.write("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (int(now), key_id))


_key_uses: WeakKeyDictionary[Database, KeyUses] = WeakKeyDictionary()


def key_uses(db: Database) -> KeyUses:
    """The last-use memo of this database (one per database, so tests stay apart)."""
    memo = _key_uses.get(db)
    if memo is None:
        memo = _key_uses[db] = KeyUses()
    return memo


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key as the admin page lists it: never the key itself, only its first characters."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    teams: list[int]
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


async def create_api_key(
    db: Database,
    name: str,
    teams: Iterable[int] | int | None,
    now: float,
    scopes: Iterable[str] = (WRITE_SCOPE,),
) -> str:
    """Create a key for these teams (None: any team) and scopes, and return it; only its hash
    is stored, so it can be shown only now."""
    team_ids = [teams] if isinstance(teams, int) else list(dict.fromkeys(teams or ()))
    wanted = list(dict.fromkeys(scopes))
    unknown = sorted(set(wanted) - set(SCOPES))
    if not wanted:
        raise ValueError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    if unknown:
        raise ValueError(f"unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not name.strip():
        raise ValueError("a key needs a name")
    key = "spk_" + new_token()
    async with db.transaction() as tx:
        # team_id (migration 0001) keeps the one team of a single-team key for older readers.
        row = await tx.fetch_one(
            "INSERT INTO api_keys (name, prefix, key_hash, team_id, created_at, scopes)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                name.strip(),
                key[:8],
                hash_token(key),
                team_ids[0] if len(team_ids) == 1 else None,
                int(now),
                " ".join(wanted),
            ),
        )
        assert row is not None
        for team_id in team_ids:
            await tx.execute(
                "INSERT INTO api_key_teams (key_id, team_id) VALUES (?, ?)", (row[0], team_id)
            )
    return key


async def revoke_api_key(db: Database, key_id: int, now: float) -> bool:
    """Revoke a key for good: from this moment it is answered 401. False if it was not live."""
    changed = await db.write(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id",
        (int(now), key_id),
    )
    return bool(changed)


async def list_api_keys(db: Database) -> list[ApiKey]:
    """Every key, newest first, with its teams and last use."""
    rows = await db.fetch_all(
        "SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at FROM api_keys"
        " ORDER BY id DESC"
    )
    teams: dict[int, list[int]] = {}
    for row in await db.fetch_all("SELECT key_id, team_id FROM api_key_teams ORDER BY team_id"):
        teams.setdefault(row["key_id"], []).append(row["team_id"])
    return [
        ApiKey(
            id=r["id"],
            name=r["name"],
            prefix=r["prefix"],
            scopes=r["scopes"].split(),
            teams=teams.get(r["id"], []),
            created_at=r["created_at"],
            last_used_at=r["last_used_at"],
            revoked_at=r["revoked_at"],
        )
        for r in rows
    ]


# --- rate limits -------------------------------------------------------------------------


class RateLimiter:
    """Fixed one-minute windows per (bucket, client address), in this process's memory."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}

    def hit(self, bucket: str, client: str) -> int:
        """Count one request; return 0 if allowed, else the seconds until it would be."""
        wait = self.wait(bucket, client)
        if wait:
            return wait
        window = int(self.clock() // 60)
        start, count = self._windows.get((bucket, client), (window, 0))
        if start != window:
            start, count = window, 0
        self._windows[(bucket, client)] = (start, count + 1)
        if len(self._windows) > 50_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return 0

    def wait(self, bucket: str, client: str) -> int:
        """Without counting: 0 if a request would be allowed, else the seconds until it would."""
        now = self.clock()
        window = int(now // 60)
        start, count = self._windows.get((bucket, client), (window, 0))
        if start == window and count >= self.per_minute:
            return max(1, math.ceil((window + 1) * 60 - now))
        return 0


class CallerLimits:
    """Requests a minute per API key, per customer link, and per address on a link: a link
    is public (printed on a counter), so one phone must not fill a team's figures, nor many
    phones together one link's."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.keys = RateLimiter(settings.api_key_per_minute, clock)
        self.links = RateLimiter(settings.link_per_minute, clock)
        self.link_addresses = RateLimiter(settings.link_address_per_minute, clock)

    def hit(self, principal: Principal, address: str) -> int:
        """Count one request of this caller; 0 if allowed, else the seconds to wait."""
        if principal.api_key_id is not None:
            return self.keys.hit("key", str(principal.api_key_id))
        if principal.link_id is not None:
            return self.link_addresses.hit("link", address) or self.links.hit(
                "link", str(principal.link_id)
            )
        return 0


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    # Deliberately not X-Forwarded-For: a client can set it to dodge the limit.
    return connection.client.host if connection.client else "unknown"


def enforce_rate_limit(
    connection: ASGIConnection[Any, Any, Any, Any], bucket: str, count: bool = True
) -> None:
    """429 when this address is over the bucket's limit; `count` counts this request."""
    limiter: RateLimiter = connection.app.state.rate_limiter
    address = client_address(connection)
    wait = limiter.hit(bucket, address) if count else limiter.wait(bucket, address)
    if wait:
        raise TooManyRequestsException(
            detail="Too many requests; try again later.", headers={"Retry-After": str(wait)}
        )


async def rate_limited(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard for open endpoints: the bucket is the route's opt['rate_bucket'] or its path."""
    enforce_rate_limit(connection, str(handler.opt.get("rate_bucket", connection.url.path)))


async def failures_limited(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard for sign-in: an address over the limit of failures waits; the route counts its
    failures (count_failure), not its successes, so that many people behind one shared
    address (a shop's wifi) can all sign in while guessing links is still slowed down."""
    enforce_rate_limit(connection, str(handler.opt["rate_bucket"]), count=False)


def count_failure(connection: ASGIConnection[Any, Any, Any, Any], bucket: str) -> None:
    limiter: RateLimiter = connection.app.state.rate_limiter
    limiter.hit(bucket, client_address(connection))


# --- logs ------------------------------------------------------------------------------

_SIGNIN_TOKEN = re.compile(r"(/signin/|/setup/)[^/?\s\"]+")


def redact_sign_in_tokens(text: str) -> str:
    """The text with the one-time token of every sign-in path in it replaced by ***."""
    return _SIGNIN_TOKEN.sub(r"\1***", text)


def log_uncaught(logger: Any, scope: Scope, tb: list[str]) -> None:
    """Litestar's log line for a 500, minus the one-time token of a sign-in path: the
    failed request did not use the invite up, so the token in the log would still work."""
    path = redact_sign_in_tokens(scope["path"])
    logger.exception("Uncaught exception (connection_type=%s, path=%r):", scope["type"], path)


# The header the outbox names the owner of the answers it sends with (pwa/outbox.js).
OWNER_HEADER = "x-spiegel-owner"


# --- the middleware and guards ---------------------------------------------------------


LINK_HEADER = b"x-spiegel-link"
LinkCaller = Callable[[Database, str], Awaitable[Principal | None]]


class AuthMiddleware(ASGIMiddleware):
    """Puts the caller's Principal (or None) in scope['user']; never rejects by itself."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        link_caller: LinkCaller | None = None,
        kiosk_caller: LinkCaller | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        # Given by the app (customers.link_caller): the customers room reads its own links.
        self.link_caller = link_caller
        # Given by the app (kiosk.principal_for_token): the kiosk room reads its own tokens.
        self.kiosk_caller = kiosk_caller

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope["user"], renewed = await self.resolve(scope)
        if renewed:
            send = self._renewing_cookie(send, renewed)
        await next_app(scope, receive, send)

    async def resolve(self, scope: Scope) -> tuple[Principal | None, str | None]:
        """The caller, and the session token whose cookie must be renewed (if any)."""
        headers = dict(scope.get("headers", []))
        authz = headers.get(b"authorization", b"").decode("latin-1")
        if authz.lower().startswith("bearer "):
            bearer = authz[7:].strip()
            if bearer.startswith(KIOSK_TOKEN_PREFIX) and self.kiosk_caller is not None:
                return await self.kiosk_caller(self.db, bearer), None
            return await apikey_principal(self.db, bearer, self.clock()), None
        link = headers.get(LINK_HEADER)
        if link is not None and self.link_caller is not None:
            # A customer link's page: its token in a header, never a cookie.
            return await self.link_caller(self.db, link.decode("latin-1").strip()), None
        token = _cookie(headers.get(b"cookie", b"").decode("latin-1"), SESSION_COOKIE)
        if not token:
            return None, None
        found = await person_from_session(self.db, token, self.clock(), self.settings.session_days)
        if found is None:
            return None, None
        principal, renewed = found
        return principal, token if renewed else None

    def _renewing_cookie(self, send: Send, token: str) -> Send:
        # The session slid on the server; the browser's cookie must slide too, or it expires
        # session_days after sign-in however often it is used.
        name, value = session_cookie(token, self.settings).to_encoded_header()
        prefix = f"{SESSION_COOKIE}=".encode()

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A response that sets the cookie itself (sign-in, sign-out) wins.
                if not any(k.lower() == name and v.startswith(prefix) for k, v in headers):
                    message = {**message, "headers": [*headers, (name, value)]}
            await send(message)

        return wrapped


def session_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The session cookie's value, read as AuthMiddleware reads it: with two cookies of that
    name (one per domain or path), the first, so sign-in, sign-out and every route act on
    the session the request was authenticated by."""
    return _cookie(connection.headers.get("cookie", ""), SESSION_COOKIE)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The principal of a request that a guard has let through."""
    principal = principal_of(connection)
    if principal is None:
        raise NotAuthorizedException(detail="Sign in first, or send a valid API key.")
    return principal


def all_of(*guards: Guard) -> Guard:
    """Several guards as one: Litestar copies the route handler for each guard it calls."""

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        for each in guards:
            await each(connection, handler)

    return guard


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a signed-in person or a valid API key; unauthenticated callers are rate-limited,
    and so are keys and customer links (CallerLimits)."""
    principal = principal_of(connection)
    if principal is None:
        enforce_rate_limit(connection, "unauthenticated")
        raise NotAuthorizedException(detail="Sign in first, or send a valid API key.")
    limits: CallerLimits | None = getattr(connection.app.state, "caller_limits", None)
    if limits is not None and (wait := limits.hit(principal, client_address(connection))):
        raise TooManyRequestsException(
            detail="Too many requests; try again later.", headers={"Retry-After": str(wait)}
        )


async def person_only(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    await signed_in(connection, handler)
    principal = principal_of(connection)
    if principal is None or not principal.is_person:
        raise PermissionDeniedException(detail="This needs a signed-in person.")


async def same_origin_json(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """CSRF defence for cookie-authenticated JSON calls (the service worker cannot read a
    CSRF cookie): a browser sends application/json cross-site only after a CORS preflight,
    which this app never grants, and a foreign Origin is refused outright. A shared device's
    answers must also be its caller's own (OWNER_HEADER: a person's, or a kiosk's)."""
    principal = principal_of(connection)
    if principal is not None and principal.kiosk_id is not None:
        # Defence in depth: a kiosk's outbox names the kiosk it holds answers for, and never
        # sends them with another kiosk's token (pwa/outbox.js, setHolder).
        _same_owner(connection, principal.kiosk_id, "These answers belong to another kiosk.")
    if principal is None or not principal.via_cookie:
        return
    ctype = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise PermissionDeniedException(detail="Send the body as application/json.")
    origin = connection.headers.get("origin")
    if origin and origin.rstrip("/") != _own_origin(connection):
        raise PermissionDeniedException(detail="Cross-site request refused.")
    # A shared phone's outbox names whose answers it sends: never file them under whoever
    # happens to be signed in on the device now (docs/offline.md, "A shared phone").
    _same_owner(connection, principal.person_id, "These answers belong to another person.")


def _same_owner(
    connection: ASGIConnection[Any, Any, Any, Any], owner_id: int | None, refusal: str
) -> None:
    """Refuse (403) a request whose outbox names another owner (OWNER_HEADER) than the caller."""
    owner = connection.headers.get(OWNER_HEADER)
    if owner is not None and owner != str(owner_id):
        raise PermissionDeniedException(detail=refusal)


def _own_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    settings: Settings = connection.app.state.settings
    if settings.base_url:
        return settings.public_url
    return f"{connection.url.scheme}://{connection.headers.get('host', '')}"


# --- invite sign-in -------------------------------------------------------------------


async def create_invite(db: Database, person_id: int, now: float, hours: int) -> str:
    token = new_token()
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO invites (person_id, token_hash, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (person_id, hash_token(token), int(now), int(now + hours * 3600)),
        )
    return token


async def reissue_invite(db: Database, person_id: int, now: float, hours: int) -> str:
    """A new one-time link for a person; links handed out before and not yet used stop
    working, so a lost sheet of QR codes can be made harmless by printing a new one."""
    token = new_token()
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM invites WHERE person_id = ? AND used_at IS NULL", (person_id,)
        )
        await tx.execute(
            "INSERT INTO invites (person_id, token_hash, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (person_id, hash_token(token), int(now), int(now + hours * 3600)),
        )
    return token


async def devices_of_person(db: Database, person_id: int) -> list[dict[str, Any]]:
    """The devices a person is signed in on (browser, since, last use), for their export."""
    rows = await db.fetch_all(
        "SELECT user_agent, created_at, last_seen_at, expires_at FROM sessions"
        " WHERE person_id = ? ORDER BY created_at",
        (person_id,),
    )
    return [dict(row) for row in rows]


async def _invite_person(db: Database, token: str, now: float) -> Any:
    return await db.fetch_one(
        "SELECT i.id, p.id AS person_id, p.name, p.role FROM invites i"
        " JOIN people p ON p.id = i.person_id"
        " WHERE i.token_hash = ? AND i.used_at IS NULL AND i.expires_at > ? AND p.active = 1",
        (hash_token(token), int(now)),
    )


async def _consume_invite(db: Database, invite_id: int, now: float) -> bool:
    async with db.transaction() as tx:
        changed, _ = await tx.execute(
            "UPDATE invites SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?",
            (int(now), invite_id, int(now)),
        )
    return changed == 1


def home_path(role: str | None) -> str:
    """Where a person lands after signing in: staff answer, managers and admins look."""
    return "/app/" if role == "staff" else "/manager"


async def _invite_owner(db: Database, token: str) -> int | None:
    row = await db.fetch_one(
        "SELECT person_id FROM invites WHERE token_hash = ?", (hash_token(token),)
    )
    return int(row["person_id"]) if row else None


# The confirm page names a person and carries a live token: no cache may keep it.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@get("/signin/{token:str}", guards=[failures_limited], opt={"rate_bucket": "signin"})
async def signin_page(
    token: FromPath[str], request: Request[Any, Any, Any], ctx: Ctx
) -> Template | Redirect:
    """Confirm page: a link preview or mail scanner that fetches the link does not use it up."""
    row = await _invite_person(ctx.db, token, ctx.clock())
    if row is None:
        # Back from the app to a link this browser has just used: the person is signed in
        # by it, so take them home rather than say the link no longer works.
        me = principal_of(request)
        if me and me.person_id is not None and me.person_id == await _invite_owner(ctx.db, token):
            return Redirect(home_path(me.role), headers=NO_STORE)
        count_failure(request, "signin")
        return Template("signin_invalid.html", status_code=410, headers=NO_STORE)
    context = {"name": row["name"], "token": token}
    return Template("signin.html", context=context, headers=NO_STORE)


@post("/signin/{token:str}", guards=[failures_limited], opt={"rate_bucket": "signin"})
async def signin(token: FromPath[str], request: Request[Any, Any, Any], ctx: Ctx) -> Response[Any]:
    db, settings, now = ctx.db, ctx.settings, ctx.clock()
    row = await _invite_person(db, token, now)
    if row is None or not await _consume_invite(db, row["id"], now):
        count_failure(request, "signin")
        return Template("signin_invalid.html", status_code=410)
    old = session_token(request)
    if old:
        await end_session(db, old)
    session = await create_session(
        db, row["person_id"], now, settings.session_days, request.headers.get("user-agent", "")
    )
    response = Redirect(home_path(row["role"]), status_code=303)
    response.cookies.append(session_cookie(session, settings))
    return response


@post("/signout")
async def signout(request: Request[Any, Any, Any], ctx: Ctx) -> Redirect:
    token = session_token(request)
    if token:
        await end_session(ctx.db, token)
    response = Redirect("/", status_code=303)
    response.cookies.append(session_cookie("", ctx.settings, max_age=0))
    return response


@post("/api/v1/session/signout", status_code=204, guards=[same_origin_json])
async def signout_json(request: Request[Any, Any, Any], ctx: Ctx) -> Response[None]:
    """The staff app's sign-out: its cached shell has no CSRF form token, so this route takes
    the same-origin JSON defence instead. Without a session it only clears the cookie."""
    token = session_token(request)
    if token:
        await end_session(ctx.db, token)
    response: Response[None] = Response(None, status_code=204)
    response.cookies.append(session_cookie("", ctx.settings, max_age=0))
    return response


def session_cookie(value: str, settings: Settings, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        max_age=settings.session_days * 86400 if max_age is None else max_age,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


route_handlers = [signin_page, signin, signout, signout_json]
