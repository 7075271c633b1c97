"""People: the list, one added or many from CSV (dry run first), a person's page, invite sheets."""

from __future__ import annotations

import csv
import io
from typing import Any

import segno
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from server import auth, people
from server.admin.common import ROLES, Errors, _int, _page, _role, _who, admin_only, audit
from server.admin.teams import tree
from server.db import Database
from server.deps import Context, Ctx


async def _people_page(
    request: Request[Any, Any, Any],
    ctx: Context,
    form: Any = None,
    errors: Errors | None = None,
    status: int = 200,
) -> Template:
    everyone = await people.list_people(ctx.db)
    teams = await people.list_teams(ctx.db)
    return _page(
        request,
        "people.html",
        "people",
        status,
        people=everyone,
        teams={t.id: t for t in teams},
        live=[t for t in teams if not t.archived],
        form=form or {"role": "staff"},
        errors=errors or {},
        roles=ROLES,
    )


@get("/admin/people", guards=[admin_only], include_in_schema=False)
async def people_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Everyone, with their team and role; add one person; links to import and invite sheets."""
    return await _people_page(request, ctx)


def _new_person(form: Any) -> people.NewPerson:
    role = str(form.get("role", "staff"))
    return people.NewPerson(
        name=str(form.get("name", "")),
        email=str(form.get("email", "")),
        team=str(form.get("team", "")),
        role=_role(role),
    )


@post("/admin/people", guards=[admin_only], include_in_schema=False)
async def add_one(request: Request[Any, Any, Any], ctx: Ctx) -> Response[Any]:
    """Add one person; then their page, where the invite link is made."""
    form = await request.form()
    row = _new_person(form)
    errors: Errors = {}
    if form.get("role") not in ROLES:
        errors["role"] = "admin.error.choose"
    for problem in (await people.check_new_people(ctx.db, [row]))[0]:
        errors.setdefault(problem.field, f"admin.error.{problem.code}")
    if errors:
        return await _people_page(request, ctx, form, errors, 400)
    [person_id] = await people.add_people(ctx.db, [row], ctx.clock())
    await audit(
        ctx.db,
        _who(request),
        "person.create",
        row.email.strip().lower(),
        ctx.clock(),
        f"{row.role}, {row.team}",
    )
    return Redirect(f"/admin/people/{person_id}", status_code=303)


CSV_FIELDS = ("name", "email", "team", "role")


def parse_csv(text: str) -> tuple[list[people.NewPerson], str | None]:
    """Rows of name,email,team,role (a header line is optional; ; works as a separator too);
    the message key of a problem with the file as a whole, if any."""
    text = text.lstrip("\ufeff").strip()
    if not text:
        return [], "admin.import.error.empty"
    dialect = ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
    rows = [
        r for r in csv.reader(io.StringIO(text), delimiter=dialect) if any(c.strip() for c in r)
    ]
    if rows and [c.strip().lower() for c in rows[0]] == list(CSV_FIELDS):
        rows = rows[1:]
    if len(rows) > 5000:
        return [], "admin.import.error.too_many"
    found = []
    for cells in rows:
        cells = [c.strip() for c in cells] + [""] * 4
        role = cells[3].lower() or "staff"
        found.append(
            people.NewPerson(
                name=cells[0],
                email=cells[1],
                team=cells[2],
                role=_role(role),
            )
        )
    bad_role = [
        i
        for i, cells in enumerate(rows)
        if len(cells) > 3 and cells[3].strip() and cells[3].strip().lower() not in ROLES
    ]
    return found, ("admin.import.error.role" if bad_role else None)


@get("/admin/people/import", guards=[admin_only], include_in_schema=False)
async def import_page(request: Request[Any, Any, Any]) -> Template:
    """Many people from a CSV file: check first (a dry run), then add them all or none."""
    return _page(request, "import.html", "people", csv_text="", checked=None, problem=None)


@post("/admin/people/import", guards=[admin_only], include_in_schema=False)
async def import_people(request: Request[Any, Any, Any], ctx: Ctx) -> Response[Any]:
    form = await request.form()
    upload = form.get("file")
    text = str(form.get("csv", ""))
    if isinstance(upload, UploadFile):
        content = await upload.read()
        if content:
            text = content.decode("utf-8-sig", errors="replace")
    rows, problem = parse_csv(text)
    checked = list(zip(rows, await people.check_new_people(ctx.db, rows), strict=True))
    failed = problem is not None or any(errors for _, errors in checked)
    if form.get("action") != "import" or failed:
        status = 400 if failed else 200
        return _page(
            request,
            "import.html",
            "people",
            status,
            csv_text=text,
            checked=checked,
            bad_rows=[(i, errors) for i, (_, errors) in enumerate(checked, 1) if errors],
            problem=problem,
        )
    ids = await people.add_people(ctx.db, rows, ctx.clock())
    await audit(ctx.db, _who(request), "people.import", f"{len(ids)} people", ctx.clock())
    return Redirect(f"/admin/people?imported={len(ids)}", status_code=303)


async def _person_or_404(db: Database, person_id: int) -> people.PersonRow:
    person = await people.get_person(db, person_id)
    if person is None:
        raise NotFoundException(detail=f"No person {person_id}.")
    return person


async def _person_page(
    request: Request[Any, Any, Any],
    ctx: Context,
    person: people.PersonRow,
    form: Any = None,
    errors: Errors | None = None,
    status: int = 200,
) -> Template:
    teams = await people.list_teams(ctx.db)
    if form is None:
        form = {"name": person.name, "role": person.role, "team": str(person.team_id or "")}
        manages = set(person.manages)
    else:
        manages = {int(v) for v in form.getall("manages", []) if str(v).isdigit()}
    return _page(
        request,
        "person.html",
        "people",
        status,
        person=person,
        form=form,
        manages=manages,
        errors=errors or {},
        teams=tree(teams),
        roles=ROLES,
    )


@get("/admin/people/{person_id:int}", guards=[admin_only], include_in_schema=False)
async def person_page(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Template:
    """One person: name, role, team, the teams they manage; invite, sign out, deactivate,
    export, delete."""
    return await _person_page(request, ctx, await _person_or_404(ctx.db, person_id))


@post("/admin/people/{person_id:int}", guards=[admin_only], include_in_schema=False)
async def change_person(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    person = await _person_or_404(ctx.db, person_id)
    form = await request.form()
    role = str(form.get("role", ""))
    team_id = _int(form.get("team") or "")
    manages = [int(v) for v in form.getall("manages", []) if str(v).isdigit()]
    errors: Errors = {}
    if role not in ROLES:
        errors["role"] = "admin.error.choose"
    elif role == "manager" and not manages:
        errors["manages"] = "admin.error.manages"
    if role != "admin" and person.role == "admin" and await people.count_admins(ctx.db) <= 1:
        errors["role"] = "admin.error.last_admin"
    if not errors:
        try:
            await people.update_person(
                ctx.db,
                person_id,
                name=str(form.get("name", "")),
                role=_role(role),
                team_id=team_id,
                manages=manages,
            )
        except people.PersonError as exc:
            errors[exc.field or "name"] = f"admin.error.{exc.code}"
    if errors:
        return await _person_page(request, ctx, person, form, errors, 400)
    await audit(
        ctx.db,
        _who(request),
        "person.update",
        person.email,
        ctx.clock(),
        f"{role}, team {team_id}, manages {manages}",
    )
    return Redirect(f"/admin/people/{person_id}?saved=1", status_code=303)


@post("/admin/people/{person_id:int}/signout", guards=[admin_only], include_in_schema=False)
async def sign_out_person(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Redirect:
    """End every session of this person (their devices must sign in again)."""
    person = await _person_or_404(ctx.db, person_id)
    ended = await people.revoke_sessions(ctx.db, person_id)
    await audit(ctx.db, _who(request), "person.signout", person.email, ctx.clock(), f"{ended}")
    return Redirect(f"/admin/people/{person_id}?signedout={ended}", status_code=303)


@post("/admin/people/{person_id:int}/active", guards=[admin_only], include_in_schema=False)
async def set_active(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    """Deactivate (answers stay in the figures; no sign-in) or reactivate a person."""
    person = await _person_or_404(ctx.db, person_id)
    form = await request.form()
    active = form.get("active") == "1"
    if not active and person.role == "admin" and await people.count_admins(ctx.db) <= 1:
        errors = {"active": "admin.error.last_admin"}
        return await _person_page(request, ctx, person, None, errors, 400)
    await people.set_active(ctx.db, person_id, active, ctx.clock())
    action = "person.reactivate" if active else "person.deactivate"
    await audit(ctx.db, _who(request), action, person.email, ctx.clock())
    return Redirect(f"/admin/people/{person_id}", status_code=303)


# --- invite links and their QR codes ---------------------------------------------------------


def qr_svg(link: str) -> str:
    """The link as an inline SVG QR code (no colours of its own: it prints black on white)."""
    code = segno.make(link, error="m")
    return str(code.svg_inline(scale=4, border=2, dark="#000", light="#fff", omitsize=True))


@post("/admin/invites", guards=[admin_only], include_in_schema=False)
async def invite_sheet(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """New one-time links for one person or a whole team, to print and hand out. Links given
    before and not yet used stop working (see auth.reissue_invite)."""
    form = await request.form()
    everyone = await people.list_people(ctx.db)
    person_id, team_id = _int(form.get("person") or ""), _int(form.get("team") or "")
    chosen = [
        p
        for p in everyone
        if p.active
        and (
            p.id == person_id
            or (team_id is not None and (p.team_id == team_id or team_id in p.manages))
        )
    ]
    if not chosen:
        raise NotFoundException(detail="Nobody active to invite there.")
    now, hours = ctx.clock(), ctx.settings.invite_hours
    sheet = []
    for person in chosen:
        token = await auth.reissue_invite(ctx.db, person.id, now, hours)
        link = people.sign_in_link(ctx.settings, token)
        sheet.append({"person": person, "link": link, "qr": qr_svg(link)})
    target = chosen[0].email if person_id else f"team {team_id}"
    await audit(ctx.db, _who(request), "invite.create", target, now, f"{len(sheet)} links")
    return _page(request, "invites.html", "people", sheet=sheet, hours=hours)


route_handlers = [
    people_page,
    add_one,
    import_page,
    import_people,
    person_page,
    change_person,
    sign_out_person,
    set_active,
    invite_sheet,
]
