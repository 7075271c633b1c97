"""The manager view's pages: the overview of a manager's teams, a team page, a comparison.

Thin handlers over the reports room (server/reports.py), which reads the figures and applies
the anonymity rule; this room only chooses the period, draws the charts (server/charts.py)
and renders the templates in server/templates/manager/.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath
from litestar.response import Redirect, Response, Template

from server import charts, i18n, reports
from server.auth import principal_of
from server.callers import Principal
from server.deps import Ctx
from server.people import page_language

STAFF_APP = "/app/"


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


def _today(request: Request[Any, Any, Any], ctx: Any) -> date:
    return datetime.fromtimestamp(ctx.clock(), ctx.settings.zone).date()


def _period(request: Request[Any, Any, Any], ctx: Any) -> reports.Period:
    query = request.query_params
    today = _today(request, ctx)
    return reports.period_from(query.get("preset"), query.get("from"), query.get("to"), today)


def _query(period: reports.Period) -> str:
    """The period as a query string; the default period has none, so links stay short."""
    if period.preset == "4w":
        return ""
    if period.preset == "custom":
        return f"preset=custom&from={period.start.isoformat()}&to={period.end.isoformat()}"
    return f"preset={period.preset}"


def _common(request: Request[Any, Any, Any], ctx: Any, period: reports.Period) -> dict[str, Any]:
    """What every manager page shows around its figures: who, which period, the way back."""
    who = _who(request)
    language = page_language(request)
    now = datetime.fromtimestamp(ctx.clock(), ctx.settings.zone)
    return {
        "who": who,
        "period": period,
        "query": _query(period),
        "href": lambda path: f"{path}?{_query(period)}" if _query(period) else path,
        "k": ctx.settings.anonymity_k,
        "staff_app": STAFF_APP if who.team_id is not None else None,
        "generated": now.isoformat(timespec="seconds"),
        "day": lambda d: _short_date(d, language),
        "num": lambda v, digits=0: _number(v, language, digits),
    }


def _number(value: float | None, language: str, digits: int = 0) -> str:
    if value is None:
        return "\u2013"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language == "nl" else text


def _short_date(day: date, language: str) -> str:
    months = i18n.translator(language)("manager.months").split(",")
    return f"{day.day} {months[day.month - 1]}"


@get("/manager", guards=[manager_only], include_in_schema=False)
async def overview_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """The manager's teams side by side: alerts first, then every team's figures with n."""
    period = _period(request, ctx)
    found = await reports.overview(ctx, _who(request), period)
    context = {**_common(request, ctx, period), "overview": found}
    return Template("manager/overview.html", context=context, headers=_private())


@get("/manager/teams/{team_id:int}", guards=[manager_only], include_in_schema=False)
async def team_page(team_id: FromPath[int], request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """One team over time: mood and CSAT per week, the lag, gaps, the control chart, actions."""
    return await _team(request, ctx, team_id)


async def _team(
    request: Request[Any, Any, Any],
    ctx: Any,
    team_id: int,
    form: ActionForm | None = None,
    error: str | None = None,
) -> Template:
    period = _period(request, ctx)
    detail = await reports.team_detail(ctx, _who(request), team_id, period)
    common = _common(request, ctx, period)
    markers = [(action.on, action.what) for action in detail.actions]
    drawn = {
        "weekly": charts.weekly(detail.weeks, markers, common["day"]),
        "lag": charts.lag(detail.lag),
        "control": charts.control(detail.chart, common["day"]) if detail.chart else None,
        "mirror": charts.mirror(detail.mirror) if detail.mirror else None,
    }
    today = _today(request, ctx)
    context = {
        **common,
        "detail": detail,
        "charts": drawn,
        "form": form or ActionForm(what="", on=today.isoformat()),
        "error": error,
    }
    status = 400 if error else 200
    return Template("manager/team.html", context=context, status_code=status, headers=_private())


@get("/manager/compare", guards=[manager_only], include_in_schema=False)
async def compare_page(request: Request[Any, Any, Any], ctx: Ctx) -> Template:
    """Chosen teams in one table; with none chosen, all the manager may see."""
    period = _period(request, ctx)
    who = _who(request)
    teams = await reports.visible_teams(ctx, who)
    chosen = [int(v) for v in request.query_params.getall("team", []) if v.isdigit()]
    rows = await reports.compare(ctx, who, chosen or [t.id for t in teams], period)
    context = {**_common(request, ctx, period), "teams": teams, "chosen": set(chosen), "rows": rows}
    return Template("manager/compare.html", context=context, headers=_private())


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
        return await _team(request, ctx, team_id, data, "bad_date")
    who = _who(request)
    try:
        await reports.add_action(ctx, who, team_id, data.what, on, who.name)
    except ValidationException:
        return await _team(request, ctx, team_id, data, "bad_what")
    return Redirect(f"/manager/teams/{team_id}?{request.url.query}#actions", status_code=303)


def _private() -> dict[str, str]:
    # A manager's page is personal: no shared cache may keep it. The manager view's own
    # service worker keeps the last copy for offline reading.
    return {"Cache-Control": "private, no-cache"}


route_handlers = [overview_page, team_page, compare_page, record_action]
