"""Administration: the first-run setup, the organisation's settings, teams, people and their
invite links, questions and mirror rounds, data protection and the audit log.

Pages in server/templates/admin/, for administrators only. This room writes its own tables
(organisation, setup_tokens, audit_log); people, invites, questions and answers change through
the named functions of the rooms that own them. Other rooms add their admin screens (kiosks,
customer links, API keys) to SECTIONS, which the admin home lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import sqlite3
from contextlib import closing
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, available_timezones

import msgspec
import segno
from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from server import answers, auth, i18n, people, questions, reports
from server.auth import principal_of
from server.callers import Principal, Role
from server.config import PREFIX, Settings
from server.db import Database, Writer
from server.deps import Context, Ctx

# --- the sections of the admin home: other rooms append theirs ------------------------------


class Section(msgspec.Struct, frozen=True):
    """A link on the admin home: its path and the message keys of its title and description."""

    path: str
    title: str
    text: str


SECTIONS: list[Section] = [
    Section("/admin/organisation", "admin.org.title", "admin.org.text"),
    Section("/admin/teams", "admin.teams.title", "admin.teams.text"),
    Section("/admin/people", "admin.people.title", "admin.people.text"),
    Section("/admin/questions", "admin.questions.title", "admin.questions.text"),
    Section("/admin/privacy", "admin.privacy.title", "admin.privacy.text"),
]
"""Kiosks, customer links and API keys: their rooms call `SECTIONS.append(Section(...))`."""

PRIVATE = {"Cache-Control": "no-store"}
SETUP_HOURS = 24
RETENTION_EVERY_SECONDS = 3600.0
ROLES = ("staff", "manager", "admin")
ENPS_MONTHS = (0, 1, 2, 3, 6, 12)


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a signed-in administrator; anyone else gets 401 or 403."""
    who = principal_of(connection)
    if who is None:
        auth.enforce_rate_limit(connection, "unauthenticated")
        raise NotAuthorizedException(detail="Sign in first.")
    if not who.has_role("admin"):
        raise PermissionDeniedException(detail="This page is for administrators.")


def _role(value: Any) -> Role:
    """A role from a form or a CSV cell; anything else reads as staff (callers check first)."""
    text = str(value or "").strip().lower()
    return cast("Role", text if text in ROLES else "staff")


def _who(request: Request[Any, Any, Any]) -> Principal:
    who = principal_of(request)
    assert who is not None  # admin_only has run
    return who


# --- the organisation's settings --------------------------------------------------------


class Organisation(msgspec.Struct, kw_only=True):
    name: str
    timezone: str | None
    anonymity_k: int | None
    language: str
    languages: tuple[str, ...]
    comment_retention_days: int | None
    enps_months: int
    set_up: bool


_ORG = (
    "SELECT name, timezone, anonymity_k, default_language, comment_retention_days,"
    " enps_months, set_up_at, languages FROM organisation WHERE id = 1"
)


def _organisation(row: Any) -> Organisation:
    return Organisation(
        name=row[0],
        timezone=row[1],
        anonymity_k=row[2],
        language=row[3],
        languages=tuple(code for code in i18n.LANGUAGES if code in str(row[7]).split()),
        comment_retention_days=row[4],
        enps_months=row[5],
        set_up=row[6] is not None,
    )


async def organisation(db: Database) -> Organisation:
    row = await db.fetch_one(_ORG)
    assert row is not None  # 0001 inserts the one row
    return _organisation(row)


def organisation_of_file(path: str) -> Organisation | None:
    """The organisation as stored in a database file, read before the app opens it (None when
    there is no file yet or it predates this room)."""
    if path != ":memory:" and not os.path.exists(path):
        return None
    try:
        with closing(sqlite3.connect(path)) as conn:
            row = conn.execute(_ORG).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else _organisation(row)


def effective(settings: Settings, org: Organisation | None, env: Any = None) -> Settings:
    """The settings in effect: a SPIEGEL_* variable set in the environment wins, then what the
    admin screens stored, then the default."""
    env = os.environ if env is None else env
    if org is None:
        return settings
    changes: dict[str, Any] = {}
    if org.timezone and not env.get(PREFIX + "TIMEZONE"):
        changes["timezone"] = org.timezone
    if org.anonymity_k and not env.get(PREFIX + "ANONYMITY_K"):
        changes["anonymity_k"] = org.anonymity_k
        changes["comment_k"] = max(settings.comment_k, org.anonymity_k)
    return msgspec.structs.replace(settings, **changes) if changes else settings


def offer(org: Organisation | None) -> i18n.Offer:
    """The languages the organisation offers and its default, as pages and the apps pick."""
    if org is None or not org.languages:
        return i18n.Offer()
    default = org.language if org.language in org.languages else org.languages[0]
    return i18n.Offer(org.languages, default)


def organisation_sources(org: Organisation | None, env: Any = None) -> dict[str, str]:
    """Which settings come from the organisation (the admin screens) rather than the default."""
    env = os.environ if env is None else env
    found = {}
    if org and org.timezone and not env.get(PREFIX + "TIMEZONE"):
        found["timezone"] = "organisation"
    if org and org.anonymity_k and not env.get(PREFIX + "ANONYMITY_K"):
        found["anonymity_k"] = "organisation"
    return found


async def _apply(request: Request[Any, Any, Any], ctx: Context) -> None:
    """Make saved organisation settings the ones in effect in this process at once."""
    org = await organisation(ctx.db)
    settings = effective(ctx.settings, org)
    ctx.use(settings)
    state = request.app.state
    state.settings = settings
    state.languages = offer(org)
    if getattr(state, "reminders", None) is not None:
        state.reminders.settings = settings


# --- the audit log ------------------------------------------------------------------------


async def audit(
    db: Database, who: Principal | None, action: str, target: str, now: float, detail: str = ""
) -> None:
    """Record one administrator's action: who, what, on what, when. Other rooms call it too."""
    async with db.transaction() as tx:
        await _audit(tx, who, action, target, now, detail)


async def _audit(
    tx: Writer, who: Principal | None, action: str, target: str, now: float, detail: str = ""
) -> None:
    actor = f"{who.name} <{who.email}>" if who and who.email else (who.name if who else "system")
    await tx.execute(
        "INSERT INTO audit_log (at, actor_id, actor, action, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (int(now), who.person_id if who else None, actor, action, target[:200], detail[:500]),
    )


async def audit_log(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "SELECT at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [dict(row) for row in rows]


# --- first run: the setup link --------------------------------------------------------------


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


Errors = dict[str, str]  # form field -> message key


def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


def check_org_form(form: Any, errors: Errors) -> dict[str, Any]:
    """The organisation fields of a form, checked; mistakes go into errors by field."""
    name = " ".join(str(form.get("org_name", "")).split())
    if not name:
        errors["org_name"] = "admin.error.required"
    elif len(name) > 100:
        errors["org_name"] = "admin.error.too_long"
    zone = str(form.get("timezone", "")).strip()
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):
        errors["timezone"] = "admin.error.timezone"
    else:
        if not zone:
            errors["timezone"] = "admin.error.timezone"
    languages = tuple(code for code in i18n.LANGUAGES if code in chosen(form, "languages"))
    if not languages:
        errors["languages"] = "admin.error.languages"
    language = str(form.get("language", ""))
    if language not in i18n.LANGUAGES:
        errors["language"] = "admin.error.choose"
    elif languages and language not in languages:
        errors["language"] = "admin.error.default_language"
    k = _int(form.get("anonymity_k"))
    if k is None or not 3 <= k <= 100:
        errors["anonymity_k"] = "admin.error.k"
    return {
        "name": name,
        "timezone": zone,
        "language": language,
        "languages": " ".join(languages),
        "anonymity_k": k,
    }


def chosen(form: Any, name: str) -> list[str]:
    """Every value of a field sent more than once (checkboxes), from a form or a dict."""
    getall = getattr(form, "getall", None)
    return [str(v) for v in (getall(name, []) if getall else form.get(name, []))]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


async def _save_org(db: Database, values: dict[str, Any], now: float) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE organisation SET name = ?, timezone = ?, default_language = ?,"
            " languages = ?, anonymity_k = ?, set_up_at = COALESCE(set_up_at, ?) WHERE id = 1",
            (
                values["name"],
                values["timezone"],
                values["language"],
                values["languages"],
                values["anonymity_k"],
                int(now),
            ),
        )


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


# --- pages --------------------------------------------------------------------------------


def _page(
    request: Request[Any, Any, Any], template: str, section: str, status: int = 200, **context: Any
) -> Template:
    common = {
        "who": _who(request),
        "section": section,
        "sections": SECTIONS,
        "href": lambda path: path,
    }
    return Template(
        f"admin/{template}", context={**common, **context}, status_code=status, headers=PRIVATE
    )


@get("/admin", guards=[admin_only], include_in_schema=False)
async def home(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """The admin home: the organisation at a glance and every section."""
    count, teams = await people.counts(ctx.db)
    org = await organisation(ctx.db)
    return _page(request, "home.html", "home", org=org, people_count=count, team_count=teams)


def _org_form(org: Organisation, settings: Settings) -> dict[str, Any]:
    return {
        "org_name": org.name,
        "timezone": settings.timezone,
        "language": org.language,
        "languages": list(org.languages),
        "anonymity_k": str(settings.anonymity_k),
        "comment_retention_days": str(org.comment_retention_days or ""),
        "enps_months": str(org.enps_months),
    }


@get("/admin/organisation", guards=[admin_only], include_in_schema=False)
async def organisation_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """The organisation's name, time zone, language, thresholds, eNPS cadence, retention."""
    org = await organisation(ctx.db)
    return _org_page(request, ctx, _org_form(org, ctx.settings), {})


def _org_page(
    request: Request[Any, Any, Any], ctx: Context, form: Any, errors: Errors, status: int = 200
) -> Template:
    fixed = {
        name: PREFIX + name.upper()
        for name in ("timezone", "anonymity_k")
        if os.environ.get(PREFIX + name.upper())
    }
    say = i18n.translator(people.page_language(request))
    return _page(
        request,
        "organisation.html",
        "organisation",
        status,
        form=form,
        errors=errors,
        zones=_zones(),
        offered=chosen(form, "languages"),
        fixed=fixed,
        enps_months=[(m, say(f"admin.org.enps.{m}")) for m in ENPS_MONTHS],
        saved=request.query_params.get("saved") == "1",
    )


@post("/admin/organisation", guards=[admin_only], include_in_schema=False)
async def save_organisation(request: Request[Any, Any, Any], ctx: Ctx) -> Response[Any]:
    form = await request.form()
    errors: Errors = {}
    values = check_org_form(form, errors)
    retention_text = str(form.get("comment_retention_days", "")).strip()
    retention = _int(retention_text) if retention_text else None
    if retention_text and (retention is None or not 1 <= retention <= 3650):
        errors["comment_retention_days"] = "admin.error.days"
    enps = _int(form.get("enps_months"))
    if enps not in ENPS_MONTHS:
        errors["enps_months"] = "admin.error.choose"
    if errors:
        return _org_page(request, ctx, form, errors, 400)
    now = ctx.clock()
    await _save_org(ctx.db, values, now)
    async with ctx.db.transaction() as tx:
        await tx.execute(
            "UPDATE organisation SET comment_retention_days = ?, enps_months = ? WHERE id = 1",
            (retention, enps),
        )
        detail = (
            f"zone {values['timezone']}, languages {values['languages']} ({values['language']}),"
            f" k {values['anonymity_k']}, retention {retention}, eNPS {enps}"
        )
        await _audit(tx, _who(request), "organisation.update", values["name"], now, detail)
    await _apply(request, ctx)
    return Redirect("/admin/organisation?saved=1", status_code=303)


# --- teams ----------------------------------------------------------------------------------


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


# --- people ---------------------------------------------------------------------------------


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


# --- questions ------------------------------------------------------------------------------


async def _questions_page(
    request: Request[Any, Any, Any],
    ctx: Context,
    errors: dict[int, Errors] | None = None,
    form: Any = None,
    status: int = 200,
) -> Template:
    return _page(
        request,
        "questions.html",
        "questions",
        status,
        questions=await questions.all_questions(ctx.db),
        rounds=await questions.mirror_rounds(ctx.db),
        aspects=await questions.mirror_aspects(ctx.db),
        smiley=questions.SMILEY_KINDS,
        mirror=questions.MIRROR_KINDS,
        errors=errors or {},
        form=form,
        org=await organisation(ctx.db),
    )


@get("/admin/questions", guards=[admin_only], include_in_schema=False)
async def questions_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Every question with its texts, faces and whether it is asked; mirror rounds."""
    return await _questions_page(request, ctx)


@post("/admin/questions/{question_id:int}", guards=[admin_only], include_in_schema=False)
async def change_question(
    question_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    form = await request.form()
    faces = _int(form.get("faces") or "")
    try:
        now_id = await questions.update_question(
            ctx.db,
            question_id,
            str(form.get("text_nl", "")),
            str(form.get("text_en", "")),
            faces,
            form.get("active") == "1",
            ctx.clock(),
        )
    except questions.QuestionError as exc:
        if exc.code == "unknown":
            raise NotFoundException(detail=f"No question {question_id}.") from exc
        errors = {question_id: {exc.field: f"admin.error.{exc.code}"}}
        return await _questions_page(request, ctx, errors, form, 400)
    await request.app.state.questions.reload(ctx.db)
    detail = "" if now_id == question_id else f"new faces: question {now_id}"
    await audit(
        ctx.db, _who(request), "question.update", f"question {question_id}", ctx.clock(), detail
    )
    return Redirect(f"/admin/questions#q{now_id}", status_code=303)


@post("/admin/mirror", guards=[admin_only], include_in_schema=False)
async def mirror_round(request: Request[Any, Any, Any], ctx: Ctx) -> Response[Any]:
    """Open a mirror round on the chosen aspects, or close the open one."""
    form = await request.form()
    now = ctx.clock()
    if form.get("action") == "close":
        await questions.close_mirror_round(ctx.db, now)
        action, target = "mirror.close", "mirror round"
    else:
        aspects = [str(a) for a in form.getall("aspects", [])]
        try:
            await questions.open_mirror_round(ctx.db, aspects, now)
        except questions.QuestionError:
            return await _questions_page(
                request, ctx, {0: {"aspects": "admin.error.aspects"}}, None, 400
            )
        action, target = "mirror.open", " ".join(sorted(aspects))
    await request.app.state.questions.reload(ctx.db)
    await audit(ctx.db, _who(request), action, target, now)
    return Redirect("/admin/questions#mirror", status_code=303)


# --- data protection ------------------------------------------------------------------------


@get("/admin/privacy", guards=[admin_only], include_in_schema=False)
async def privacy_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Retention, a person's export and deletion, and the audit log."""
    org = await organisation(ctx.db)
    log = await audit_log(ctx.db)
    zone = ctx.settings.zone
    for line in log:
        line["when"] = datetime.fromtimestamp(line["at"], zone).strftime("%Y-%m-%d %H:%M")
    return _page(
        request,
        "privacy.html",
        "privacy",
        org=org,
        log=log,
        people=await people.list_people(ctx.db),
    )


@get("/admin/people/{person_id:int}/export.json", guards=[admin_only], include_in_schema=False)
async def export_person(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[bytes]:
    """Everything stored about one person: who they are, their answers, their devices."""
    record = await people.person_record(ctx.db, person_id)
    if record is None:
        raise NotFoundException(detail=f"No person {person_id}.")
    body = {
        "person": record,
        "answers": await answers.answers_of_person(ctx.db, person_id),
        "devices": await auth.devices_of_person(ctx.db, person_id),
        "exported_at": int(ctx.clock()),
    }
    await audit(ctx.db, _who(request), "person.export", str(record["email"]), ctx.clock())
    name = f"spiegel-person-{person_id}.json"
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2).encode(),
        media_type="application/json",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@post("/admin/people/{person_id:int}/delete", guards=[admin_only], include_in_schema=False)
async def delete_person(
    person_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[Any]:
    """Delete a person and their answers; the figures are rebuilt without them. The form asks
    for their e-mail address again, so one slip of the finger cannot do it."""
    person = await _person_or_404(ctx.db, person_id)
    form = await request.form()
    if str(form.get("confirm", "")).strip().lower() != person.email:
        return await _person_page(
            request, ctx, person, None, {"confirm": "admin.error.confirm"}, 400
        )
    if person.role == "admin" and person.active and await people.count_admins(ctx.db) <= 1:
        return await _person_page(
            request, ctx, person, None, {"confirm": "admin.error.last_admin"}, 400
        )
    count = await remove_person(ctx, _who(request), person)
    return Redirect(f"/admin/people?deleted={count}", status_code=303)


async def remove_person(ctx: Context, who: Principal | None, person: people.PersonRow) -> int:
    """One transaction: their answers out of the rollups, the answers, the person, the audit
    line. Taking their rows off costs their own answers; a rebuild reads everyone's
    (docs/performance.md: 33-40 s at 3.7 million answers, writes waiting all the while)."""
    await reports.ensure_rollups(ctx)
    now = ctx.clock()
    async with ctx.db.transaction() as tx:
        await reports.forget_person(tx, person.id)
        count = await answers.delete_of_person(tx, person.id)
        await people.delete_person(tx, person.id)
        await reports.recompute(tx, ctx.settings.timezone, rebuild=False)
        await _audit(tx, who, "person.delete", person.email, now, f"{count} answers")
    auth.recent_sessions(ctx.db).forget_person(person.id)
    return count


async def erase_old_comments(ctx: Context) -> int:
    """Erase comments older than the organisation's retention period (none if unset)."""
    org = await organisation(ctx.db)
    if not org.comment_retention_days:
        return 0
    now = ctx.clock()
    async with ctx.db.transaction() as tx:
        erased = await answers.erase_comments(tx, now - org.comment_retention_days * 86400)
        if erased:
            await reports.recompute(tx, ctx.settings.timezone, rebuild=False)
            await _audit(
                tx,
                None,
                "comments.erase",
                f"{erased} comments",
                now,
                f"older than {org.comment_retention_days} days",
            )
    return erased


class Retention:
    """Erases expired comments at start and then every hour, inside the app process."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await erase_old_comments(self.ctx)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_SECONDS)
            with contextlib.suppress(Exception):  # a busy database: try again next hour
                await erase_old_comments(self.ctx)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


route_handlers = [
    setup_page,
    setup,
    home,
    organisation_page,
    save_organisation,
    teams_page,
    add_team,
    change_team,
    people_page,
    add_one,
    import_page,
    import_people,
    person_page,
    change_person,
    sign_out_person,
    set_active,
    invite_sheet,
    questions_page,
    change_question,
    mirror_round,
    privacy_page,
    export_person,
    delete_person,
]
