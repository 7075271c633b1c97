"""First run: the one-time setup link and the page that makes the organisation and first admin."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from server import auth, i18n, people
from server.admin.common import Errors, audit, chosen
from server.admin.organisation import _apply, _save_org, _zones, check_org_form
from server.callers import Principal
from server.db import Database
from server.deps import Ctx

SETUP_HOURS = 24


async def issue_setup_link(db: Database, now: float) -> str | None:
    """A one-time setup token while the database has no administrator (earlier unused ones
    stop working); None once there is one."""
    if await people.count_admins(db):
        return None
    token = auth.new_token()
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM setup_tokens WHERE used_at IS NULL")
        await tx.execute(
            "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
            (auth.hash_token(token), int(now), int(now + SETUP_HOURS * 3600)),
        )
    return token


async def _setup_valid(db: Database, token: str, now: float) -> bool:
    if await people.count_admins(db):
        return False
    row = await db.fetch_one(
        "SELECT 1 FROM setup_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        (auth.hash_token(token), int(now)),
    )
    return row is not None


async def _use_setup_token(db: Database, token: str, now: float) -> bool:
    async with db.transaction() as tx:
        used, _ = await tx.execute(
            "UPDATE setup_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
            " AND expires_at > ?",
            (int(now), auth.hash_token(token), int(now)),
        )
    return used == 1


def _setup_form(token: str, form: Any, errors: Errors, status: int = 200) -> Template:
    context = {
        "token": token,
        "form": form,
        "errors": errors,
        "zones": _zones(),
        "offered": chosen(form, "languages"),
    }
    return Template("admin/setup.html", context=context, status_code=status, headers=auth.NO_STORE)


_SETUP_DEFAULTS = {
    "timezone": "Europe/Amsterdam",
    "language": "nl",
    "languages": list(i18n.LANGUAGES),
    "anonymity_k": "5",
}


@get(
    "/setup/{token:str}",
    guards=[auth.rate_limited],
    opt={"rate_bucket": "signin"},
    include_in_schema=False,
)
async def setup_page(token: FromPath[str], ctx: Ctx) -> Template:
    """The first-run page: the organisation and its first administrator."""
    if not await _setup_valid(ctx.db, token, ctx.clock()):
        return Template("admin/setup_invalid.html", status_code=410, headers=auth.NO_STORE)
    return _setup_form(token, _SETUP_DEFAULTS, {})


@post(
    "/setup/{token:str}",
    guards=[auth.rate_limited],
    opt={"rate_bucket": "signin"},
    include_in_schema=False,
)
async def setup(
    token: FromPath[str], request: Request[Any, Any, Any], ctx: Ctx
) -> Template | Response[Any]:
    """Create the organisation and the first administrator, who is signed in at once."""
    db, now = ctx.db, ctx.clock()
    if not await _setup_valid(db, token, now):
        return Template("admin/setup_invalid.html", status_code=410, headers=auth.NO_STORE)
    form = await request.form()
    errors: Errors = {}
    values = check_org_form(form, errors)
    admin = people.NewPerson(
        name=str(form.get("admin_name", "")),
        email=str(form.get("admin_email", "")),
        team="",
        role="admin",
    )
    for problem in (await people.check_new_people(db, [admin]))[0]:
        errors.setdefault("admin_" + problem.field, f"admin.error.{problem.code}")
    if errors:
        return _setup_form(token, form, errors, 400)
    if not await _use_setup_token(db, token, now):
        return Template("admin/setup_invalid.html", status_code=410, headers=auth.NO_STORE)
    await _save_org(db, values, now)
    [person_id] = await people.add_people(db, [admin], now)
    who = await _principal(db, person_id)
    await audit(db, who, "organisation.setup", values["name"], now)
    await _apply(request, ctx)
    session = await auth.create_session(
        db, person_id, now, ctx.settings.session_days, request.headers.get("user-agent", "")
    )
    response = Redirect("/admin", status_code=303)
    response.cookies.append(auth.session_cookie(session, ctx.settings))
    return response


async def _principal(db: Database, person_id: int) -> Principal | None:
    from server import callers

    p = await people.get_person(db, person_id)
    return None if p is None else callers.person(p.id, p.role, p.name, p.email, p.team_id, None)


route_handlers = [setup_page, setup]
