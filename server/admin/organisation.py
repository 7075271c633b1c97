"""The organisation's settings, stored and in effect; the admin home and the settings screen."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import msgspec
from litestar import Request, get, post
from litestar.response import Redirect, Response, Template

from server import i18n, people
from server.admin.common import Errors, _audit, _int, _page, _who, admin_only, chosen
from server.config import PREFIX, Settings
from server.db import Database
from server.deps import Context, Ctx

ENPS_MONTHS = (0, 1, 2, 3, 6, 12)


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


route_handlers = [home, organisation_page, save_organisation]
