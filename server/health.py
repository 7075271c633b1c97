"""Liveness and readiness: is the database reachable, its schema current, and can it write."""

from __future__ import annotations

import msgspec
from litestar import Response, get

from server.db import available_migrations
from server.deps import Ctx


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    database: str
    migrations_applied: int
    migrations_available: int
    # Why the store cannot take a write (locked elsewhere, full, read-only); absent when it can.
    write_problem: str | None = None


async def check(ctx: Ctx) -> Health:
    available = len(available_migrations())
    try:
        applied = int(await ctx.db.fetch_value("SELECT COUNT(*) FROM schema_migrations") or 0)
        database = "ok"
    except Exception:  # any failure to read means "not reachable" to a load balancer
        applied, database = 0, "unreachable"
    problem = await ctx.db.write_problem() if database == "ok" else None
    if problem is not None:
        database = "cannot write"
    healthy = database == "ok" and applied == available
    return Health(
        status="ok" if healthy else "unavailable",
        database=database,
        migrations_applied=applied,
        migrations_available=available,
        write_problem=problem,
    )


@get("/healthz")
async def healthz(ctx: Ctx) -> Response[Health]:
    """200 when the database answers, takes a write and has every migration, else 503. HEAD
    answers the same without the body (the app answers every HEAD like its GET)."""
    health = await check(ctx)
    return Response(health, status_code=200 if health.status == "ok" else 503)


route_handlers = [healthz]
