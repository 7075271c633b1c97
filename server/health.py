"""Liveness and readiness: is the database reachable and its schema current."""

from __future__ import annotations

import msgspec
from litestar import Response, get

from server.db import available_migrations
from server.deps import Ctx


class Health(msgspec.Struct, frozen=True):
    status: str
    database: str
    migrations_applied: int
    migrations_available: int


@get("/healthz")
async def healthz(ctx: Ctx) -> Response[Health]:
    """200 when the database answers and every migration is applied, else 503."""
    available = len(available_migrations())
    try:
        applied = int(await ctx.db.fetch_value("SELECT COUNT(*) FROM schema_migrations") or 0)
        database = "ok"
    except Exception:  # any failure to read means "not reachable" to a load balancer
        applied, database = 0, "unreachable"
    healthy = database == "ok" and applied == available
    body = Health(
        status="ok" if healthy else "unavailable",
        database=database,
        migrations_applied=applied,
        migrations_available=available,
    )
    return Response(body, status_code=200 if healthy else 503)


route_handlers = [healthz]
