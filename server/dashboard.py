"""The manager view's pages: the overview of a manager's teams, a team page, a comparison.

Thin handlers over the reports room (server/reports/), which reads the figures and applies
the anonymity rule; this room only chooses the period, draws the charts (server/charts.py)
and renders the templates in server/templates/manager/. Figures, charts and template all
run in the report worker process (db.ReadPool): the event loop only hands over a Page and
sends back the HTML, so dashboards do not slow the answers stored beside them.
"""

from __future__ import annotations

import html
import sqlite3
from datetime import date, datetime
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any

import jinja2
import msgspec
from litestar import MediaType, Request, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response
from litestar.utils.scope.state import ScopeState

from server import charts, i18n, reports
from server.auth import principal_of
from server.callers import Principal
from server.config import Settings
from server.deps import Ctx
from server.people import page_language

STAFF_APP = "/app/"
TEMPLATES = Path(__file__).parent / "templates"


class ActionForm(msgspec.Struct):
    what: str = ""
    on: str = ""


async def manager_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Managers and admins, signed in with a session; anyone else is told so."""
    who = principal_of(connection)
    if who is None:
        raise NotAuthorizedException(detail="Sign in first.")
    if not who.has_role("manager", "admin"):
        raise PermissionDeniedException(detail="This page is for managers and administrators.")


def _who(request: Request[Any, Any, Any]) -> Principal:
    who = principal_of(request)
    assert who is not None  # manager_only has run
    return who


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """What a manager page takes from its request, as plain data: the report worker renders
    the page from it, so that neither the figures, nor the charts, nor the template share
    the interpreter lock with the event loop that stores answers."""

    who: Principal
    period: reports.Period
    today: date
    now: datetime
    language: str
    csrf_token: str
    settings: Settings


def _page(request: Request[Any, Any, Any], ctx: Any) -> Page:
    now = datetime.fromtimestamp(ctx.clock(), ctx.settings.zone)
    query = request.query_params
    period = reports.period_from(
        query.get("preset"), query.get("from"), query.get("to"), now.date()
    )
    return Page(
        who=_who(request),
        period=period,
        today=now.date(),
        now=now,
        language=page_language(request),
        csrf_token=_csrf_token(request),
        settings=ctx.settings,
    )


def _csrf_token(request: Request[Any, Any, Any]) -> str:
    # Where Litestar's own Template response reads it (set by the CSRF middleware).
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


async def _send(ctx: Any, page: Page, work: Any, *args: Any, status: int = 200) -> Response[str]:
    """Run work(conn, page, *args) in the report worker; its HTML is the response."""
    await reports.ensure_rollups(ctx)
    html = await ctx.db.reports.run(work, page, *args)
    # A manager's page is personal: no shared cache may keep it. The manager view's own
    # service worker keeps the last copy for offline reading.
    headers = {"Cache-Control": "private, no-cache"}
    return Response(html, media_type=MediaType.HTML, status_code=status, headers=headers)


def _query(period: reports.Period) -> str:
    """The period as a query string; the default period has none, so links stay short."""
    if period.preset == "4w":
        return ""
    if period.preset == "custom":
        return f"preset=custom&from={period.start.isoformat()}&to={period.end.isoformat()}"
    return f"preset={period.preset}"


# --- in the report worker ---------------------------------------------------------------


@cache
def _templates() -> jinja2.Environment:
    # As Litestar's engine builds it for the other pages (autoescape on, the same folder).
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)


def _render(name: str, page: Page, **context: Any) -> str:
    """A manager template with what every manager page shows around its figures."""
    language, query = page.language, _query(page.period)
    token = html.escape(page.csrf_token)
    return (
        _templates()
        .get_template(name)
        .render(
            t=i18n.translator(language),
            lang=lambda: language,
            csrf_input=f'<input type="hidden" name="_csrf_token" value="{token}" />',
            who=page.who,
            period=page.period,
            query=query,
            href=lambda path: f"{path}?{query}" if query else path,
            k=page.settings.anonymity_k,
            staff_app=STAFF_APP if page.who.team_id is not None else None,
            generated=page.now.isoformat(timespec="seconds"),
            day=lambda d: _short_date(d, language),
            num=lambda v, digits=0: _number(v, language, digits),
            **context,
        )
    )


def _overview_html(conn: sqlite3.Connection, page: Page) -> str:
    found = reports.overview_on(conn, page.who, page.period, page.settings, page.today)
    return _render("manager/overview.html", page, overview=found)


def _team_html(
    conn: sqlite3.Connection, page: Page, team_id: int, form: ActionForm | None, error: str | None
) -> str:
    detail = reports.team_detail_on(conn, page.who, team_id, page.period, page.settings, page.today)
    day = partial(_short_date, language=page.language)
    markers = [(action.on, action.what) for action in detail.actions]
    drawn = {
        "weekly": charts.weekly(detail.weeks, markers, day),
        "lag": charts.lag(detail.lag),
        "control": charts.control(detail.chart, day) if detail.chart else None,
        "mirror": charts.mirror(detail.mirror) if detail.mirror else None,
    }
    form = form or ActionForm(what="", on=page.today.isoformat())
    return _render("manager/team.html", page, detail=detail, charts=drawn, form=form, error=error)


def _compare_html(conn: sqlite3.Connection, page: Page, chosen: list[int]) -> str:
    who, period, settings, today = page.who, page.period, page.settings, page.today
    teams = reports.visible_teams_on(conn, who)
    rows = reports.compare_on(conn, who, chosen or [t.id for t in teams], period, settings, today)
    return _render("manager/compare.html", page, teams=teams, chosen=set(chosen), rows=rows)


def _number(value: float | None, language: str, digits: int = 0) -> str:
    if value is None:
        return "\u2013"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language == "nl" else text


def _short_date(day: date, language: str) -> str:
    months = i18n.translator(language)("manager.months").split(",")
    return f"{day.day} {months[day.month - 1]}"


# --- routes -----------------------------------------------------------------------------


@get("/manager", guards=[manager_only], include_in_schema=False)
async def overview_page(request: Request[Any, Any, Any], ctx: Ctx) -> Response[str]:
    """The manager's teams side by side: alerts first, then every team's figures with n."""
    return await _send(ctx, _page(request, ctx), _overview_html)


@get("/manager/teams/{team_id:int}", guards=[manager_only], include_in_schema=False)
async def team_page(
    team_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx
) -> Response[str]:
    """One team over time: mood and CSAT per week, the lag, gaps, the control chart, actions."""
    return await _send(ctx, _page(request, ctx), _team_html, team_id, None, None)


@get("/manager/compare", guards=[manager_only], include_in_schema=False)
async def compare_page(request: Request[Any, Any, Any], ctx: Ctx) -> Response[str]:
    """Chosen teams in one table; with none chosen, all the manager may see."""
    chosen = [int(v) for v in request.query_params.getall("team", []) if v.isdigit()]
    return await _send(ctx, _page(request, ctx), _compare_html, chosen)


@post("/manager/teams/{team_id:int}/actions", guards=[manager_only], include_in_schema=False)
async def record_action(
    team_id: FromPath[int],
    request: Request[Any, Any, Any],
    ctx: Ctx,
    data: Annotated[ActionForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    """A follow-up action from the team page's form; back to the team page, which shows it.
    A mistake shows the page again with the message beside the field and what was typed."""
    try:
        on = date.fromisoformat(data.on)
    except ValueError:
        return await _send(
            ctx, _page(request, ctx), _team_html, team_id, data, "bad_date", status=400
        )
    who = _who(request)
    try:
        await reports.add_action(ctx, who, team_id, data.what, on, who.name)
    except ValidationException:
        return await _send(
            ctx, _page(request, ctx), _team_html, team_id, data, "bad_what", status=400
        )
    return Redirect(f"/manager/teams/{team_id}?{request.url.query}#actions", status_code=303)


route_handlers = [overview_page, team_page, compare_page, record_action]
