"""Liveness and readiness: is the database reachable and its schema current."""

from __future__ import annotations

import msgspec
from litestar import Response, get, head

from server.db import available_migrations
from server.deps import Ctx


class Health(msgspec.Struct, frozen=True):
    status: str
    database: str
    migrations_applied: int
    migrations_available: int


async def check(ctx: Ctx) -> Health:
    available = len(available_migrations())
    try:
        applied = int(await ctx.db.fetch_value("SELECT COUNT(*) FROM schema_migrations") or 0)
        database = "ok"
    except Exception:  # any failure to read means "not reachable" to a load balancer
        applied, database = 0, "unreachable"
    healthy = database == "ok" and applied == available
    return Health(
        status="ok" if healthy else "unavailable",
        database=database,
        migrations_applied=applied,
        migrations_available=available,
    )


def _status(health: Health) -> int:
    return 200 if health.status == "ok" else 503


@get("/healthz")
async def healthz(ctx: Ctx) -> Response[Health]:
    """200 when the database answers and every migration is applied, else 503."""
    health = await check(ctx)
    return Response(health, status_code=_status(health))


@head("/healthz")
async def healthz_head(ctx: Ctx) -> Response[None]:
    """The same check without a body, for load balancers that probe with HEAD."""
    return Response(None, status_code=_status(await check(ctx)))


route_handlers = [healthz, healthz_head]
