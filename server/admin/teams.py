"""The teams screen: the tree of teams; add, rename, move, archive and bring back."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from server import people
from server.admin.common import Errors, _int, _page, _who, admin_only, audit
from server.deps import Context, Ctx


async def _teams_page(
    request: Request[Any, Any, Any],
    ctx: Context,
    form: Any = None,
    errors: Errors | None = None,
    status: int = 200,
    editing: int | None = None,
) -> Template:
    teams = await people.list_teams(ctx.db)
    return _page(
        request,
        "teams.html",
        "teams",
        status,
        teams=tree(teams),
        form=form or {},
        errors=errors or {},
        editing=editing,
    )


def tree(teams: list[people.TeamRow]) -> list[tuple[people.TeamRow, int]]:
    """Teams in tree order, each with its depth."""
    children: dict[int | None, list[people.TeamRow]] = {}
    ids = {t.id for t in teams}
    for team in teams:
        children.setdefault(team.parent_id if team.parent_id in ids else None, []).append(team)
    out: list[tuple[people.TeamRow, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for team in children.get(parent, []):
            out.append((team, depth))
            walk(team.id, depth + 1)

    walk(None, 0)
    return out


@get("/admin/teams", guards=[admin_only], include_in_schema=False)
async def teams_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Every team in its tree; a form to add one; rename, move and archive each."""
    return await _teams_page(request, ctx)


def _parent(form: Any) -> int | None:
    return _int(form.get("parent") or "")


@post("/admin/teams", guards=[admin_only], include_in_schema=False)
async def add_team(request: Request[Any, Any, Any], ctx: Ctx) -> Response[Any]:
    form = await request.form()
    try:
        await people.create_team(ctx.db, str(form.get("name", "")), _parent(form), ctx.clock())
    except people.PersonError as exc:
        errors = {exc.field or "name": f"admin.error.{exc.code}"}
        return await _teams_page(request, ctx, form, errors, 400)
    await audit(ctx.db, _who(request), "team.create", str(form.get("name", "")), ctx.clock())
    return Redirect("/admin/teams", status_code=303)


@post("/admin/teams/{team_id:int}", guards=[admin_only], include_in_schema=False)
async def change_team(
    team_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    """Rename a team, move it under another, or archive it (or bring it back)."""
    form = await request.form()
    team = await people.team_by_id(ctx.db, team_id)
    if team is None:
        raise NotFoundException(detail=f"No team {team_id}.")
    who, now = _who(request), ctx.clock()
    if form.get("archive") in ("1", "0"):
        archived = form.get("archive") == "1"
        await people.set_team_archived(ctx.db, team_id, archived, now)
        await audit(ctx.db, who, "team.archive" if archived else "team.restore", team.name, now)
        return Redirect("/admin/teams", status_code=303)
    name = str(form.get("name", ""))
    try:
        await people.update_team(ctx.db, team_id, name, _parent(form))
    except people.PersonError as exc:
        errors = {exc.field or "name": f"admin.error.{exc.code}"}
        return await _teams_page(request, ctx, form, errors, 400, editing=team_id)
    await audit(ctx.db, who, "team.update", team.name, now, f"now {' '.join(name.split())}")
    return Redirect("/admin/teams", status_code=303)


route_handlers = [teams_page, add_team, change_team]
