"""The reports' HTTP routes: a team's summary, the CSV export, and recording a follow-up action."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from server.auth import (
    all_of,
    caller,
    person_only,
    same_origin_json,
    signed_in,
)
from server.deps import Ctx
from server.reports.figures import period_from
from server.reports.pages import (
    Action,
    TeamReport,
    add_action,
    csv_text,
    export_rows,
    team_report,
    today_of,
)


class ActionIn(msgspec.Struct, forbid_unknown_fields=True):
    what: str
    on: date


# --- routes ------------------------------------------------------------------------------

From = Annotated[str | None, QueryParameter(name="from", description="First day, YYYY-MM-DD")]
To = Annotated[str | None, QueryParameter(name="to", description="Last day, YYYY-MM-DD")]


@get("/api/v1/teams/{team_id:int}/summary", guards=[signed_in])
async def team_summary(
    team_id: FromPath[int],
    request: Request[Any, Any, Any],
    ctx: Ctx,
    start: From = None,
    end: To = None,
) -> TeamReport:
    """A team's figures and weeks with the pages' suppression; default: the last 4 weeks."""
    period = period_from(None, start, end, today_of(ctx))
    return await team_report(ctx, caller(request), team_id, period)


@get("/api/v1/reports/export.csv", guards=[signed_in])
async def export_csv(
    request: Request[Any, Any, Any],
    ctx: Ctx,
    preset: FromQuery[str | None] = None,
    start: From = None,
    end: To = None,
) -> Response[bytes]:
    """Every figure the caller may see, as CSV for Dutch Excel."""
    period = period_from(preset, start, end, today_of(ctx))
    rows = await export_rows(ctx, caller(request), period)
    name = f"spiegel-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        csv_text(rows).encode("utf-8"),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@post(
    "/api/v1/teams/{team_id:int}/actions",
    guards=[all_of(person_only, same_origin_json)],
    status_code=201,
)
async def post_action(
    team_id: FromPath[int], data: JSONBody[ActionIn], request: Request[Any, Any, Any], ctx: Ctx
) -> Action:
    """Record a follow-up action on a team; it shows as a marker on the team's charts."""
    who = caller(request)
    return await add_action(ctx, who, team_id, data.what, data.on, who.name)


route_handlers = [team_summary, export_csv, post_action]
