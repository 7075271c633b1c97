"""The admin screens of API keys: make one (shown once), see their last use, revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from server import auth, callers, people
from server.admin import admin_only
from server.customers.common import _admin
from server.deps import Ctx


async def _keys_page(
    request: Request[Any, Any, Any],
    ctx: Ctx,
    made: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Template:
    teams = await people.list_teams(ctx.db)
    return _admin(
        request,
        "apikeys.html",
        status,
        keys=await auth.list_api_keys(ctx.db),
        teams=[t for t in teams if not t.archived],
        team_names={t.id: t.name for t in teams},
        scopes=callers.SCOPES,
        made=made,
        problem=problem,
        zone=ctx.settings.zone,
        when=when,
    )


@get("/admin/apikeys", guards=[admin_only], include_in_schema=False)
async def keys_admin(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """API keys: make one (shown once), see their last use, revoke."""
    return await _keys_page(request, ctx)


@post("/admin/apikeys", guards=[admin_only], include_in_schema=False)
async def keys_add(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    form = await request.form()
    known = {t.id for t in await people.list_teams(ctx.db) if not t.archived}
    try:
        teams = [int(str(v)) for v in form.getall("team")] if "team" in form else []
        if not set(teams) <= known:
            raise ValueError("choose teams from the list")
        scopes = [str(v) for v in form.getall("scope")] if "scope" in form else []
        key = await auth.create_api_key(
            ctx.db, str(form.get("name", "")), teams or None, ctx.clock(), scopes
        )
    except ValueError as exc:
        return await _keys_page(request, ctx, problem=str(exc), status=400)
    return await _keys_page(request, ctx, made=key)


@post("/admin/apikeys/{key_id:int}/revoke", guards=[admin_only], include_in_schema=False)
async def keys_revoke(key_id: FromPath[int], ctx: Ctx) -> Redirect:
    await auth.revoke_api_key(ctx.db, key_id, ctx.clock())
    return Redirect("/admin/apikeys", status_code=303)


def when(at: int | None, zone: ZoneInfo) -> str:
    """A moment as the admin pages show it, to the minute, in the organisation's zone."""
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")


route_handlers = [keys_admin, keys_add, keys_revoke]
