"""People and teams: who belongs where, who manages what, and the signed-in person's own page."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request, get, patch
from litestar.exceptions import ValidationException
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
from server.i18n import DEFAULT_LANGUAGE, LANGUAGES, Offer


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
    # What the organisation offers (admin screens): the app shows these and, when neither the
    # person nor the browser names one of them, speaks default_language.
    languages: list[str] = msgspec.field(default_factory=lambda: list(LANGUAGES))
    default_language: str = DEFAULT_LANGUAGE


class MePatch(msgspec.Struct, forbid_unknown_fields=True):
    language: Literal["nl", "en"] | None


# Deliberately loose (one @, no spaces, a dot in the domain): the invite mail is the real test.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class PersonError(ValueError):
    """A person or team cannot be created or changed as asked; `field` names the form field
    at fault and `code` the kind of mistake (for a message in the reader's language)."""

    def __init__(self, message: str, field: str = "", code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


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


async def enps_cadence(db: Database) -> int:
    """Months between eNPS questions: 1, 2, 3, 6 or 12; 0 asks none."""
    # organisation.enps_months is set in the admin screens (migration 0006); read-only here.
    return int(await db.fetch_value("SELECT enps_months FROM organisation WHERE id = 1") or 0)


def enps_period_start(local: datetime, months: int) -> datetime:
    """The start of the eNPS period `local` lies in: periods of `months` calendar months,
    counted from January, in the zone of `local` (months > 0)."""
    first = local.month - (local.month - 1) % months
    return local.replace(month=first, day=1, hour=0, minute=0, second=0, microsecond=0)


async def enps_due(db: Database, person_id: int, now: float, settings: Settings) -> bool:
    """eNPS is asked once per period of the organisation's cadence (every 1, 2, 3, 6 or 12
    calendar months from January, in its time zone; 0: never)."""
    months = await enps_cadence(db)
    if not months:
        return False
    start = enps_period_start(datetime.fromtimestamp(now, settings.zone), months).timestamp()
    answered = await db.fetch_value(
        "SELECT COUNT(*) FROM answers a JOIN questions q ON q.id = a.question_id"
        " WHERE a.person_id = ? AND q.kind = 'enps' AND a.answered_at >= ?",
        (person_id, int(start)),
    )
    return not answered


# --- administration: teams and people as the admin screens and the CLI change them ----------


class TeamRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    parent_id: int | None
    archived: bool
    members: int


class PersonRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    name: str
    role: Role
    team_id: int | None
    active: bool
    manages: tuple[int, ...] = ()


class NewPerson(msgspec.Struct, frozen=True, kw_only=True):
    """One person to add: what a form or a CSV row gives, checked by check_new_people."""

    name: str
    email: str
    team: str
    role: Role


_TEAM_ROW = (
    "SELECT t.id, t.name, t.parent_id, t.archived_at,"
    " (SELECT COUNT(*) FROM people p WHERE p.team_id = t.id AND p.active = 1) AS members"
    " FROM teams t"
)


def _team_row(row: Any) -> TeamRow:
    return TeamRow(
        id=row["id"],
        name=row["name"],
        parent_id=row["parent_id"],
        archived=row["archived_at"] is not None,
        members=row["members"],
    )


async def list_teams(db: Database) -> list[TeamRow]:
    """Every team, archived ones too, by name."""
    return [_team_row(r) for r in await db.fetch_all(_TEAM_ROW + " ORDER BY t.name")]


async def team_by_name(db: Database, name: str) -> TeamRow | None:
    row = await db.fetch_one(_TEAM_ROW + " WHERE t.name = ?", (name.strip(),))
    return None if row is None else _team_row(row)


async def team_by_id(db: Database, team_id: int) -> TeamRow | None:
    row = await db.fetch_one(_TEAM_ROW + " WHERE t.id = ?", (team_id,))
    return None if row is None else _team_row(row)


def unknown_team(name: str, known: list[TeamRow]) -> PersonError:
    """The error for a team name that names no team: it lists the teams there are."""
    names = ", ".join(t.name for t in known if not t.archived) or "none yet"
    return PersonError(f"no team named {name!r}; known teams: {names}", "team", "unknown_team")


def _team_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise PersonError("a team needs a name", field="name", code="required")
    if len(name) > 100:
        raise PersonError("a team name has at most 100 characters", field="name", code="too_long")
    return name


async def _check_parent(tx: Writer, team_id: int | None, parent_id: int | None) -> None:
    """The parent must exist and must not lie under the team itself (no loops)."""
    node = parent_id
    while node is not None:
        if node == team_id:
            raise PersonError("a team cannot lie under itself", field="parent", code="loop")
        row = await tx.fetch_one("SELECT parent_id FROM teams WHERE id = ?", (node,))
        if row is None:
            raise PersonError("no such parent team", field="parent", code="unknown")
        node = row["parent_id"]


async def create_team(db: Database, name: str, parent_id: int | None, now: float) -> int:
    """A new team (under parent_id, if given); refuses a name in use."""
    name = _team_name(name)
    async with db.transaction() as tx:
        if await tx.fetch_one("SELECT id FROM teams WHERE name = ?", (name,)):
            raise PersonError(f"a team named {name!r} exists", field="name", code="taken")
        await _check_parent(tx, None, parent_id)
        _, team_id = await tx.execute(
            "INSERT INTO teams (name, parent_id, created_at) VALUES (?, ?, ?)",
            (name, parent_id, int(now)),
        )
    assert team_id is not None
    return team_id


async def update_team(db: Database, team_id: int, name: str, parent_id: int | None) -> None:
    """Rename a team and place it under another (or at the top)."""
    name = _team_name(name)
    async with db.transaction() as tx:
        if await tx.fetch_one("SELECT id FROM teams WHERE name = ? AND id <> ?", (name, team_id)):
            raise PersonError(f"a team named {name!r} exists", field="name", code="taken")
        await _check_parent(tx, team_id, parent_id)
        await tx.execute(
            "UPDATE teams SET name = ?, parent_id = ? WHERE id = ?", (name, parent_id, team_id)
        )


async def set_team_archived(db: Database, team_id: int, archived: bool, now: float) -> None:
    """Archive a team (its history stays in the reports) or bring it back."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE teams SET archived_at = ? WHERE id = ?",
            (int(now) if archived else None, team_id),
        )


_PERSON_ROW = "SELECT id, email, name, role, team_id, active FROM people"


async def _manages(db: Database) -> dict[int, tuple[int, ...]]:
    found: dict[int, list[int]] = {}
    for row in await db.fetch_all("SELECT person_id, team_id FROM team_managers ORDER BY team_id"):
        found.setdefault(row["person_id"], []).append(row["team_id"])
    return {person: tuple(teams) for person, teams in found.items()}


def _person_row(row: Any, manages: dict[int, tuple[int, ...]]) -> PersonRow:
    return PersonRow(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        team_id=row["team_id"],
        active=bool(row["active"]),
        manages=manages.get(row["id"], ()),
    )


async def list_people(db: Database) -> list[PersonRow]:
    """Everyone, deactivated people too, by name."""
    manages = await _manages(db)
    rows = await db.fetch_all(_PERSON_ROW + " ORDER BY name, id")
    return [_person_row(r, manages) for r in rows]


async def get_person(db: Database, person_id: int) -> PersonRow | None:
    row = await db.fetch_one(_PERSON_ROW + " WHERE id = ?", (person_id,))
    return None if row is None else _person_row(row, await _manages(db))


async def count_admins(db: Database) -> int:
    """Active administrators: with none, the organisation is not set up yet."""
    return int(
        await db.fetch_value("SELECT COUNT(*) FROM people WHERE role = 'admin' AND active = 1")
    )


async def counts(db: Database) -> tuple[int, int]:
    """(people, teams) in the organisation."""
    row = await db.fetch_one("SELECT (SELECT COUNT(*) FROM people), (SELECT COUNT(*) FROM teams)")
    assert row is not None
    return int(row[0]), int(row[1])


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise PersonError(f"not an e-mail address: {email!r}", field="email", code="email")
    return email


async def check_new_people(db: Database, rows: list[NewPerson]) -> list[list[PersonError]]:
    """Per row, what stops it from being added (an empty list: nothing); stores nothing. Teams
    must exist already; an e-mail address may appear once, in the file and in the database."""
    teams = await list_teams(db)
    live = {t.name: t for t in teams if not t.archived}
    taken = {r["email"] for r in await db.fetch_all("SELECT email FROM people")}
    seen: set[str] = set()
    found: list[list[PersonError]] = []
    for row in rows:
        errors: list[PersonError] = []
        if not row.name.strip():
            errors.append(PersonError("a name is required", field="name", code="required"))
        try:
            email = check_email(row.email)
        except PersonError as exc:
            errors.append(exc)
        else:
            if email in taken or email in seen:
                errors.append(PersonError(f"{email} already exists", field="email", code="taken"))
            seen.add(email)
        team = " ".join(row.team.split())
        if team and team not in live:
            errors.append(unknown_team(team, teams))
        elif not team and row.role in ("staff", "manager"):
            errors.append(PersonError("staff and managers need a team", field="team",
                                      code="required"))  # fmt: skip
        found.append(errors)
    return found


async def add_people(db: Database, rows: list[NewPerson], now: float) -> list[int]:
    """Add checked people in one transaction (all or none); a manager manages their team.
    Invite links are made separately (auth.reissue_invite), when the admin hands them out."""
    errors = await check_new_people(db, rows)
    if any(errors):
        raise next(e[0] for e in errors if e)
    ids: list[int] = []
    async with db.transaction() as tx:
        for row in rows:
            team_name = " ".join(row.team.split())
            team = await tx.fetch_one("SELECT id FROM teams WHERE name = ?", (team_name,))
            team_id = None if team is None else int(team["id"])
            _, person_id = await tx.execute(
                "INSERT INTO people (email, name, role, team_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (check_email(row.email), row.name.strip(), row.role,
                 None if row.role == "manager" else team_id, int(now)),
            )  # fmt: skip
            assert person_id is not None
            if row.role == "manager" and team_id is not None:
                await tx.execute(
                    "INSERT INTO team_managers (person_id, team_id) VALUES (?, ?)",
                    (person_id, team_id),
                )
            ids.append(person_id)
    return ids


async def update_person(
    db: Database,
    person_id: int,
    *,
    name: str,
    role: Role,
    team_id: int | None,
    manages: list[int],
) -> None:
    """Change a person's name, role, team and the teams they manage. A team must exist, and
    an archived one is refused unless the person is in it (or manages it) already."""
    if not name.strip():
        raise PersonError("a name is required", field="name", code="required")
    if role == "staff" and team_id is None:
        raise PersonError("staff need a team", field="team", code="required")
    async with db.transaction() as tx:
        await _check_teams_open(tx, person_id, team_id, manages if role == "manager" else [])
        await tx.execute(
            "UPDATE people SET name = ?, role = ?, team_id = ? WHERE id = ?",
            (name.strip(), role, team_id, person_id),
        )
        await tx.execute("DELETE FROM team_managers WHERE person_id = ?", (person_id,))
        for team in sorted(set(manages)) if role == "manager" else []:
            await tx.execute(
                "INSERT INTO team_managers (person_id, team_id) VALUES (?, ?)", (person_id, team)
            )
    recent_sessions(db).forget_person(person_id)


async def _check_teams_open(
    tx: Writer, person_id: int, team_id: int | None, manages: list[int]
) -> None:
    """Each team named exists; an archived one only where the person is already (an archived
    team takes no new people, but nobody is pushed out of it by an unrelated edit)."""
    named = [("team", team_id)] if team_id is not None else []
    for field, team in named + [("manages", m) for m in manages]:
        found = await tx.fetch_one(
            "SELECT t.archived_at, EXISTS (SELECT 1 FROM people p WHERE p.id = :person"
            " AND p.team_id = t.id) OR EXISTS (SELECT 1 FROM team_managers m"
            " WHERE m.person_id = :person AND m.team_id = t.id) AS already"
            " FROM teams t WHERE t.id = :team",
            {"person": person_id, "team": team},
        )
        if found is None:
            raise PersonError(f"no team {team}", field=field, code="unknown")
        if found["archived_at"] is not None and not found["already"]:
            raise PersonError(f"team {team} is archived", field=field, code="archived_team")


async def set_active(db: Database, person_id: int, active: bool, now: float) -> None:
    """Deactivate a person (their answers stay in the figures; they can no longer sign in, and
    are signed out everywhere) or bring them back."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE people SET active = ?, deactivated_at = ? WHERE id = ?",
            (1 if active else 0, None if active else int(now), person_id),
        )
    if not active:
        await revoke_sessions(db, person_id)
    recent_sessions(db).forget_person(person_id)


async def delete_person(tx: Writer, person_id: int) -> None:
    """Remove a person and what hangs on them (sessions, invites, devices, managed teams).
    Their answers must be gone first (answers.delete_of_person), in the same transaction."""
    await tx.execute("DELETE FROM people WHERE id = ?", (person_id,))


async def person_record(db: Database, person_id: int) -> dict[str, Any] | None:
    """What this room keeps of one person, for their data export."""
    person = await get_person(db, person_id)
    if person is None:
        return None
    row = await db.fetch_one(
        "SELECT p.language, p.created_at, p.deactivated_at, t.name AS team FROM people p"
        " LEFT JOIN teams t ON t.id = p.team_id WHERE p.id = ?",
        (person_id,),
    )
    assert row is not None
    managed = await db.fetch_all(
        "SELECT t.name FROM team_managers m JOIN teams t ON t.id = m.team_id"
        " WHERE m.person_id = ? ORDER BY t.name",
        (person_id,),
    )
    return {
        "id": person.id,
        "email": person.email,
        "name": person.name,
        "role": person.role,
        "team": row["team"],
        "manages": [r["name"] for r in managed],
        "language": row["language"],
        "active": person.active,
        "created_at": row["created_at"],
        "deactivated_at": row["deactivated_at"],
    }


# --- routes ----------------------------------------------------------------------------


async def _me(
    principal: Principal, db: Database, clock: Clock, settings: Settings, offer: Offer
) -> Me:
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
        language=principal.language if principal.language in offer.languages else None,
        enps_due=await enps_due(db, principal.person_id, clock(), settings),
        languages=list(offer.languages),
        default_language=offer.default,
    )


@get("/api/v1/me", guards=[person_only])
async def get_me(request: Request[Any, Any, Any], ctx: Ctx) -> Me:
    """The signed-in person, their team, language and whether this month's eNPS is due."""
    return await _me(caller(request), ctx.db, ctx.clock, ctx.settings, offer_of(request))


@patch("/api/v1/me", guards=[all_of(person_only, same_origin_json)])
async def patch_me(data: JSONBody[MePatch], request: Request[Any, Any, Any], ctx: Ctx) -> Me:
    """Change the person's language (null follows the browser) to one the organisation offers."""
    principal, offer = caller(request), offer_of(request)
    if data.language is not None and data.language not in offer.languages:
        raise ValidationException(
            detail=f"This organisation offers {', '.join(offer.languages)} only."
        )
    async with ctx.db.transaction() as tx:
        await tx.execute(
            "UPDATE people SET language = ? WHERE id = ?", (data.language, principal.person_id)
        )
    recent_sessions(ctx.db).forget_person(principal.person_id or 0)
    changed = msgspec.structs.replace(principal, language=data.language)
    return await _me(changed, ctx.db, ctx.clock, ctx.settings, offer)


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


def offer_of(request: Request[Any, Any, Any]) -> Offer:
    """The languages the organisation offers (app.state, kept current by the admin screens)."""
    found = request.app.state.get("languages")
    return found if isinstance(found, Offer) else Offer()


def page_language(request: Request[Any, Any, Any]) -> str:
    """The person's language, else the browser's, among those the organisation offers."""
    principal = principal_of(request)
    preferred = principal.language if principal else None
    return offer_of(request).pick(request.headers.get("accept-language"), preferred)


route_handlers = [get_me, patch_me, root, home]
