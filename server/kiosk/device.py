"""The tablet's API: pairing with a code, its settings, heartbeats, giving its token up."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from server import i18n
from server.auth import client_address, principal_of, signed_in
from server.db import Database
from server.deps import Ctx
from server.kiosk.kiosks import KioskConfig, config_of
from server.kiosk.pairing import PairRefused, pair, revoke


class PairIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=64)]


class Paired(msgspec.Struct, frozen=True):
    token: str
    kiosk: KioskConfig


class HeartbeatIn(msgspec.Struct, forbid_unknown_fields=True):
    queued: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
    release: Annotated[str, msgspec.Meta(max_length=64)] = ""


async def record_heartbeat(
    db: Database, kiosk_id: int, queued: int, release: str, now: float
) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE kiosks SET last_seen_at = ?, queued = ?, app_release = ? WHERE id = ?",
            (int(now), queued, release or None, kiosk_id),
        )


async def kiosk_only(connection: ASGIConnection[Any, Any, Any, Any], h: BaseRouteHandler) -> None:
    """A paired kiosk with its device token; 401 for an unknown or revoked one."""
    await signed_in(connection, h)
    principal = principal_of(connection)
    if principal is None or principal.kiosk_id is None:
        raise NotAuthorizedException(detail="This needs a paired kiosk's device token.")


def _kiosk_id(request: Request[Any, Any, Any]) -> int:
    principal = principal_of(request)
    assert principal is not None and principal.kiosk_id is not None  # kiosk_only has run
    return principal.kiosk_id


def _refusal(request: Request[Any, Any, Any], refused: PairRefused) -> Response[Any]:
    status = 429 if refused.reason == "throttled" else 400
    minutes = max(1, -(-refused.retry_after // 60))
    detail = i18n.translator("en")(f"kiosk.pair.{refused.reason}", minutes=minutes)
    body: dict[str, Any] = {"status_code": status, "detail": detail, "reason": refused.reason}
    if refused.retry_after:
        body["retry_after"] = refused.retry_after
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
    return Response(body, status_code=status, headers=headers, media_type=MediaType.JSON)


@post("/api/v1/kiosk/pair", status_code=200)
async def pair_device(
    data: JSONBody[PairIn], request: Request[Any, Any, State], ctx: Ctx
) -> Response[Any]:
    """Pair this tablet with a one-time code; 400 wrong, expired or used, 429 too many tries."""
    try:
        token, kiosk_id = await pair(ctx.db, data.code, client_address(request), ctx.clock())
    except PairRefused as refused:
        return _refusal(request, refused)
    paired = Paired(token=token, kiosk=await config_of(ctx.db, kiosk_id))
    return Response(paired, headers={"Cache-Control": "no-store"})


@get("/api/v1/kiosk", guards=[kiosk_only])
async def own_config(request: Request[Any, Any, State], ctx: Ctx) -> KioskConfig:
    """The calling kiosk's settings."""
    return await config_of(ctx.db, _kiosk_id(request))


@post("/api/v1/kiosk/heartbeat", guards=[kiosk_only], status_code=200)
async def heartbeat(
    data: JSONBody[HeartbeatIn], request: Request[Any, Any, State], ctx: Ctx
) -> KioskConfig:
    """The tablet is alive: its queue and release, for the admin page; its settings back."""
    kiosk_id = _kiosk_id(request)
    await record_heartbeat(ctx.db, kiosk_id, data.queued, data.release, ctx.clock())
    return await config_of(ctx.db, kiosk_id)


@post("/api/v1/kiosk/unpair", guards=[kiosk_only], status_code=204)
async def unpair(request: Request[Any, Any, State], ctx: Ctx) -> None:
    """The tablet gives its token up (from its own settings, behind the PIN)."""
    await revoke(ctx.db, _kiosk_id(request), ctx.clock())


route_handlers = [pair_device, own_config, heartbeat, unpair]
