"""People and teams: who belongs where, who manages what, and the signed-in person's own page."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request, get, patch
from litestar.params import JSONBody
from litestar.response import Redirect, Template

from server.auth import (
    all_of,
    caller,
    create_invite,
    home_path,
    person_only,
    principal_of,
    recent_sessions,
    same_origin_json,
)
from server.callers import Principal, Role
from server.clock import Clock
from server.config import Settings
from server.db import Database, Writer
from server.deps import Ctx
from server.i18n import negotiate


class TeamRef(msgspec.Struct, frozen=True):
    id: int
    name: str


class Me(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    email: str
    role: Role
    team: TeamRef | None
    language: str | None
    enps_due: bool


class MePatch(msgspec.Struct, forbid_unknown_fields=True):
    language: Literal["nl", "en"] | None


# Deliberately loose (one @, no spaces, a dot in the domain): the invite mail is the real test.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class PersonError(ValueError):
    """A person or team cannot be created as asked."""


# --- named functions other rooms and the CLI call ------------------------------------


async def ensure_team(tx: Writer, name: str, parent_id: int | None, now: float) -> int:
    row = await tx.fetch_one("SELECT id FROM teams WHERE name = ?", (name,))
    if row is not None:
        return int(row["id"])
    _, team_id = await tx.execute(
        "INSERT INTO teams (name, parent_id, created_at) VALUES (?, ?, ?)",
        (name, parent_id, int(now)),
    )
    assert team_id is not None
    return team_id


async def add_person(
    db: Database,
    *,
    email: str,
    name: str,
    team: str | None,
    role: Role,
    now: float,
    invite_hours: int,
) -> tuple[int, str]:
    """Create a person (and their team if new); return their id and a one-time sign-in token."""
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise PersonError(f"not an e-mail address: {email!r}")
    if not name.strip():
        raise PersonError("a name is required")
    team = (team or "").strip() or None
    if role == "staff" and not team:
        raise PersonError("staff need a team")
    async with db.transaction() as tx:
        if await tx.fetch_one("SELECT id FROM people WHERE email = ?", (email,)):
            raise PersonError(f"{email} already exists")
        team_id = await ensure_team(tx, team, None, now) if team else None
        _, person_id = await tx.execute(
            "INSERT INTO people (email, name, role, team_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (email, name.strip(), role, team_id if role != "manager" else None, int(now)),
        )
        assert person_id is not None
        if role == "manager" and team_id is not None:
            await tx.execute(
                "INSERT INTO team_managers (person_id, team_id) VALUES (?, ?)", (person_id, team_id)
            )
    return person_id, await create_invite(db, person_id, now, invite_hours)


async def has_people(db: Database) -> bool:
    """Whether anyone belongs to the organisation yet."""
    return await db.fetch_value("SELECT 1 FROM people LIMIT 1") is not None


async def add_team_manager(db: Database, person_id: int, team_id: int) -> None:
    """Make a person manager of one more team (a manager may lead several)."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO team_managers (person_id, team_id) VALUES (?, ?)"
            " ON CONFLICT (person_id, team_id) DO NOTHING",
            (person_id, team_id),
        )


async def person_id_by_email(db: Database, email: str) -> int | None:
    value = await db.fetch_value("SELECT id FROM people WHERE email = ?", (email.strip().lower(),))
    return None if value is None else int(value)


async def revoke_sessions(db: Database, person_id: int) -> int:
    """Sign a person out on every device."""
    async with db.transaction() as tx:
        changed, _ = await tx.execute("DELETE FROM sessions WHERE person_id = ?", (person_id,))
    recent_sessions(db).forget_person(person_id)
    return changed


def sign_in_link(settings: Settings, token: str) -> str:
    return f"{settings.public_url}/signin/{token}"


async def enps_due(db: Database, person_id: int, now: float, settings: Settings) -> bool:
    """eNPS is asked once a calendar month (in the organisation's time zone)."""
    local = datetime.fromtimestamp(now, settings.zone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    answered = await db.fetch_value(
        "SELECT COUNT(*) FROM answers a JOIN questions q ON q.id = a.question_id"
        " WHERE a.person_id = ? AND q.kind = 'enps' AND a.answered_at >= ?",
        (person_id, int(month_start)),
    )
    return not answered


# --- routes ----------------------------------------------------------------------------


async def _me(principal: Principal, db: Database, clock: Clock, settings: Settings) -> Me:
    assert principal.person_id is not None and principal.role is not None
    team = None
    if principal.team_id is not None:
        name = await db.fetch_value("SELECT name FROM teams WHERE id = ?", (principal.team_id,))
        team = TeamRef(id=principal.team_id, name=str(name))
    return Me(
        id=principal.person_id,
        name=principal.name,
        email=principal.email,
        role=principal.role,
        team=team,
        language=principal.language,
        enps_due=await enps_due(db, principal.person_id, clock(), settings),
    )


@get("/api/v1/me", guards=[person_only])
async def get_me(request: Request[Any, Any, Any], ctx: Ctx) -> Me:
    """The signed-in person, their team, language and whether this month's eNPS is due."""
    return await _me(caller(request), ctx.db, ctx.clock, ctx.settings)


@patch("/api/v1/me", guards=[all_of(person_only, same_origin_json)])
async def patch_me(data: JSONBody[MePatch], request: Request[Any, Any, Any], ctx: Ctx) -> Me:
    """Change the person's language (null follows the browser)."""
    principal = caller(request)
    async with ctx.db.transaction() as tx:
        await tx.execute(
            "UPDATE people SET language = ? WHERE id = ?", (data.language, principal.person_id)
        )
    recent_sessions(ctx.db).forget_person(principal.person_id or 0)
    changed = msgspec.structs.replace(principal, language=data.language)
    return await _me(changed, ctx.db, ctx.clock, ctx.settings)


@get("/", sync_to_thread=False)
def root(request: Request[Any, Any, Any]) -> Redirect | Template:
    principal = principal_of(request)
    if principal is None or not principal.is_person:
        return Template("landing.html")
    return Redirect(home_path(principal.role))


@get("/home", guards=[person_only], sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Template:
    """Who is signed in on this device, the way to their start page, and signing out."""
    me = principal_of(request)
    start = home_path(me.role if me else None)
    return Template("home.html", context={"me": me, "start": start})


def page_language(request: Request[Any, Any, Any]) -> str:
    principal = principal_of(request)
    preferred = principal.language if principal else None
    return negotiate(request.headers.get("accept-language"), preferred)


route_handlers = [get_me, patch_me, root, home]
