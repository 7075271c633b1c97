"""What pages, the API and the CSV export read (the report worker's `..._on` functions); actions."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pandas as pd
from litestar.exceptions import PermissionDeniedException, ValidationException

from server import analytics
from server.analytics import NetScore, Proportion
from server.callers import Principal
from server.config import Settings
from server.deps import Context
from server.reports.figures import (
    DAY0,
    Book,
    Period,
    TeamSummary,
    day_number,
    lag,
    monday,
    read_weeks,
    weekly,
    weeks_of,
)
from server.reports.org import TeamRef, _guard, reach, read_org, team_refs
from server.reports.rollups import KIND, STAFF, ensure_rollups

LAG_WEEKS = 52
MAX_COMMENTS = 50
MAX_WHAT = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --- the contract: Structs -------------------------------------------------------------


class Overview(msgspec.Struct, frozen=True):
    period: Period
    k: int
    teams: list[TeamSummary]


class Action(msgspec.Struct, frozen=True):
    """A follow-up action a manager recorded on a team."""

    id: int
    team_id: int
    what: str
    on: date
    who: str
    created_at: int


class TeamDetail(msgspec.Struct, frozen=True):
    summary: TeamSummary
    weeks: list[analytics.TeamWeek]
    lag: list[analytics.LagPoint]
    self_vs_customer: analytics.SelfVsCustomer | None
    mirror: list[analytics.MirrorGap]
    chart: analytics.ControlChart | None
    comments: list[str] | None
    actions: list[Action]


class TeamReport(msgspec.Struct, frozen=True):
    """The JSON summary route: a team's figures and its weeks, as the pages show them."""

    period: Period
    k: int
    summary: TeamSummary
    weeks: list[analytics.TeamWeek]


# --- the team page's other parts --------------------------------------------------------


def lag_points(conn: sqlite3.Connection, book: Book, i: int) -> list[analytics.LagPoint]:
    """The team's own shown weeks of the last LAG_WEEKS, whatever the period."""
    current = day_number(monday(book.today))
    span = range(current - 7 * (LAG_WEEKS - 1), current + 1, 7)
    kinds = ("checkin", "customer_csat")
    weeks = read_weeks(conn, book.org, span, book.settings, kinds)
    rows = tuple(
        (day_number(w.week), w.mood if w.mood is not None else np.nan, w.mood_n,
         w.csat if w.csat is not None else np.nan, w.csat_n)
        for w in weekly(weeks, i, slice(0, len(span)), book.org.ids[i], span.start)
        if w.mood is not None or w.csat is not None
    )  # fmt: skip
    return list(lag(rows))


def _bounds(period: Period, zone: ZoneInfo) -> tuple[int, int]:
    """The period's first and last-plus-one second, UTC, from local midnights."""
    start = datetime.combine(period.start, time(), zone)
    end = datetime.combine(period.end + timedelta(days=1), time(), zone)
    return int(start.timestamp()), int(end.timestamp())


def _in(items: Sequence[Any]) -> str:
    return ", ".join("?" for _ in items)


def paired_rows(conn: sqlite3.Connection, book: Book, i: int) -> pd.DataFrame:
    """Answers behind self vs customer and the mirror, of shown weeks only (analytics frame)."""
    teams = book.org.subtree(i)
    sql = (
        "SELECT CASE WHEN a.person_id IS NULL THEN a.id ELSE 'p' || a.person_id END,"
        " a.team_id, q.kind, a.question_id, a.value, q.scale_min, q.scale_max, a.answered_at,"
        " a.contact_ref, q.aspect FROM answers a JOIN questions q ON q.id = a.question_id"
        f" WHERE a.team_id IN ({_in(teams)}) AND a.answered_at >= ? AND a.answered_at < ?"
        " AND ((q.kind IN ('contact_self', 'customer_csat') AND a.contact_ref IS NOT NULL)"
        "  OR q.kind IN ('mirror_staff', 'customer_mirror'))"
    )
    columns = ["respondent", "team", "kind", "question", "value", "scale_min", "scale_max",
               "answered_at", "contact_ref", "aspect"]  # fmt: skip
    rows = conn.execute(sql, (*teams, *_bounds(book.period, book.settings.zone))).fetchall()
    frame = analytics.localise(
        pd.DataFrame(rows, columns=columns).assign(comment=None), book.settings.zone
    )
    weeks = weeks_of(book.period)
    span = book.weeks.index(weeks)
    week = ((frame["week"] - pd.Timestamp(DAY0)).dt.days - weeks.start) // 7
    keep = pd.Series(False, index=frame.index)
    for kind in PAIRED:
        shown = book.weeks.seen[KIND[kind], 0, i, span]
        rows_of = frame["kind"].eq(kind) & week.between(0, len(shown) - 1)
        keep |= rows_of & pd.Series(shown[week.clip(0, len(shown) - 1)], index=frame.index)
    return frame[keep]


PAIRED = ("contact_self", "customer_csat", "mirror_staff", "customer_mirror")


def paired(
    conn: sqlite3.Connection, book: Book, i: int
) -> tuple[analytics.SelfVsCustomer | None, list[analytics.MirrorGap]]:
    """Self vs customer and the mirror gaps of team i over the period's shown weeks."""
    frame = paired_rows(conn, book, i)
    mirrored = frame["kind"].isin(["mirror_staff", "customer_mirror"]).any()
    window = book.settings.contact_match_days
    found = frame["contact_ref"].notna().any()
    pairs = self_vs_customer(frame, book.k, window) if found else None
    return pairs, mirror(frame, book.k) if mirrored else []


def self_vs_customer(
    frame: pd.DataFrame, k: int, window_days: int = 14
) -> analytics.SelfVsCustomer | None:
    """Contacts paired by reference within the window (SPIEGEL_CONTACT_MATCH_DAYS); shown
    from k pairs. The pairing is computed here every time, never stored or typed in."""
    found = analytics.self_vs_customer(frame, window_days)
    return found if found.pairs >= k else None


def mirror(frame: pd.DataFrame, k: int) -> list[analytics.MirrorGap]:
    """Mirror gaps; a side of fewer than k answers has no mean (and then no gap)."""
    gaps = []
    for gap in analytics.mirror_gaps(frame):
        staff = gap.staff_n >= k
        customers = gap.customer_n >= k
        gaps.append(analytics.MirrorGap(
            aspect=gap.aspect,
            staff_mean=gap.staff_mean if staff else None,
            staff_n=gap.staff_n if staff else 0,
            customer_mean=gap.customer_mean if customers else None,
            customer_n=gap.customer_n if customers else 0,
            gap=gap.gap if staff and customers else None,
        ))  # fmt: skip
    return gaps


def comments(conn: sqlite3.Connection, book: Book, i: int) -> list[str] | None:
    """The period's comments from weeks whose group is large enough, newest first; None
    when no week of the period is."""
    allowed = book.comment_weeks(i)
    if not allowed.any():
        return None
    teams = book.org.subtree(i)
    weeks = weeks_of(book.period)
    zone = book.settings.zone
    found = []
    for text, at, kind in conn.execute(
        "SELECT a.comment, a.answered_at, q.kind FROM answers a"
        " JOIN questions q ON q.id = a.question_id"
        f" WHERE a.team_id IN ({_in(teams)}) AND a.comment IS NOT NULL"
        " AND a.answered_at >= ? AND a.answered_at < ? ORDER BY a.answered_at DESC, a.id DESC",
        (*teams, *_bounds(book.period, zone)),
    ):
        day = datetime.fromtimestamp(at, zone).date()
        w = (day_number(monday(day)) - weeks.start) // 7
        if 0 <= w < allowed.shape[1] and allowed[0 if KIND[kind] in STAFF else 1, w]:
            found.append(text)
            if len(found) == MAX_COMMENTS:
                break
    return found


def actions(conn: sqlite3.Connection, team_id: int) -> list[Action]:
    rows = conn.execute(
        "SELECT id, team_id, what, on_day, who, created_at FROM team_actions WHERE team_id = ?"
        " ORDER BY on_day DESC, id DESC LIMIT 200",
        (team_id,),
    ).fetchall()
    return [Action(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4], r[5]) for r in rows]


# --- the room's functions (pages and routes call these) -------------------------------


def today_of(ctx: Context) -> date:
    return datetime.fromtimestamp(ctx.clock(), ctx.settings.zone).date()


async def visible_teams(ctx: Context, who: Principal) -> list[TeamRef]:
    """The teams the caller may see, parents before children."""
    return await ctx.db.reports.run(visible_teams_on, who)


def visible_teams_on(conn: sqlite3.Connection, who: Principal) -> list[TeamRef]:
    """visible_teams on a read connection (the `..._on` functions run in the report worker)."""
    org = read_org(conn)
    return team_refs(org, reach(conn, who, org) or [])


async def overview(ctx: Context, who: Principal, period: Period) -> Overview:
    """Every visible team's figures over the period; alerts are those with alert=True."""
    await ensure_rollups(ctx)
    return await ctx.db.reports.run(overview_on, who, period, ctx.settings, today_of(ctx))


def overview_on(
    conn: sqlite3.Connection, who: Principal, period: Period, settings: Settings, today: date
) -> Overview:
    org = read_org(conn)
    visible = reach(conn, who, org)
    _guard(org, visible, [])
    book = Book(conn, org, period, settings, today)
    teams = [book.summary(org.index[r.id], r) for r in team_refs(org, visible or [])]
    return Overview(period, settings.anonymity_k, teams)


async def compare(
    ctx: Context, who: Principal, team_ids: list[int], period: Period
) -> list[TeamSummary]:
    """The chosen teams' figures, in the order asked; 404 unknown, 403 outside reach."""
    await ensure_rollups(ctx)
    return await ctx.db.reports.run(compare_on, who, team_ids, period, ctx.settings, today_of(ctx))


def compare_on(
    conn: sqlite3.Connection, who: Principal, team_ids: list[int], period: Period,
    settings: Settings, today: date,
) -> list[TeamSummary]:  # fmt: skip
    org = read_org(conn)
    visible = reach(conn, who, org)
    chosen = _guard(org, visible, team_ids)
    refs = {ref.id: ref for ref in team_refs(org, visible or [])}
    book = Book(conn, org, period, settings, today)
    return [book.summary(i, refs[org.ids[i]]) for i in chosen]


async def team_detail(ctx: Context, who: Principal, team_id: int, period: Period) -> TeamDetail:
    """One team's page: figures, weeks, lag, self vs customer, mirror, chart, comments, actions."""
    await ensure_rollups(ctx)
    return await ctx.db.reports.run(
        team_detail_on, who, team_id, period, ctx.settings, today_of(ctx)
    )


def team_detail_on(
    conn: sqlite3.Connection, who: Principal, team_id: int, period: Period, settings: Settings,
    today: date,
) -> TeamDetail:  # fmt: skip
    org = read_org(conn)
    visible = reach(conn, who, org)
    [i] = _guard(org, visible, [team_id])
    ref = next(r for r in team_refs(org, visible or []) if r.id == team_id)
    book = Book(conn, org, period, settings, today)
    chart = book.chart(i)
    pairs, gaps = book.remember("pairs", i, PAIRED, lambda: paired(conn, book, i))
    said = book.remember("comments", i, (), lambda: comments(conn, book, i))
    return TeamDetail(
        summary=book.summary(i, ref),
        weeks=book.team_weeks(i),
        lag=lag_points(conn, book, i),
        self_vs_customer=pairs,
        mirror=gaps,
        chart=chart if chart.enough_data else None,
        comments=said,
        actions=actions(conn, team_id),
    )


async def team_report(ctx: Context, who: Principal, team_id: int, period: Period) -> TeamReport:
    """The summary route's figures: the same summary and weeks as the team page."""
    await ensure_rollups(ctx)
    return await ctx.db.reports.run(_team_report, who, team_id, period, ctx.settings, today_of(ctx))


def _team_report(
    conn: sqlite3.Connection, who: Principal, team_id: int, period: Period, settings: Settings,
    today: date,
) -> TeamReport:  # fmt: skip
    org = read_org(conn)
    visible = reach(conn, who, org)
    [i] = _guard(org, visible, [team_id])
    ref = next(r for r in team_refs(org, visible or []) if r.id == team_id)
    book = Book(conn, org, period, settings, today)
    return TeamReport(period, settings.anonymity_k, book.summary(i, ref), book.team_weeks(i))


def _may_see(conn: sqlite3.Connection, who: Principal, team_id: int) -> None:
    org = read_org(conn)
    _guard(org, reach(conn, who, org), [team_id])


def clean_action(what: str) -> str:
    """The action's text, or ValidationException: 1..500 characters, no control characters."""
    text = what.strip()
    if not 1 <= len(text) <= MAX_WHAT:
        raise ValidationException(detail=f"Say what was done in 1 to {MAX_WHAT} characters.")
    if _CONTROL.search(text):
        raise ValidationException(detail="The text may not hold control characters.")
    return text


async def add_action(
    ctx: Context, who: Principal, team_id: int, what: str, on: date, who_name: str
) -> Action:
    """Record a follow-up action on a team the manager (or admin) sees."""
    text = clean_action(what)
    if not isinstance(on, date) or isinstance(on, datetime):
        raise ValidationException(detail="on must be a date (YYYY-MM-DD).")
    if not who.is_person:
        raise PermissionDeniedException(detail="Actions are recorded by managers.")

    await ctx.db.reports.run(_may_see, who, team_id)
    [row] = await ctx.db.write(
        "INSERT INTO team_actions (team_id, what, on_day, who, person_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id, created_at",
        (team_id, text, on.isoformat(), who_name, who.person_id, int(ctx.clock())),
    )
    return Action(row[0], team_id, text, on, who_name, row[1])


# --- CSV for Dutch Excel -----------------------------------------------------------------

HEADER = ["team", "parent", "from", "to", "figure", "value", "low", "high", "n", "note"]
NOTES = {
    "fewer_than_k": "fewer than {k} answers",
    "complementary": "hidden so that a smaller group cannot be worked out",
    None: "no answers",
}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}".replace(".", ",")


def _csv_figures(s: TeamSummary) -> list[tuple[str, Any, Any]]:
    """(figure name, (value, low, high, n) or None, hidden reason) for one team."""
    mood, enps, csat, nps, part = s.mood, s.enps, s.csat, s.nps, s.participation

    def prop(p: Proportion | None) -> Any:
        return None if p is None else (p.value, p.low, p.high, p.n)

    def net(x: NetScore | None) -> Any:
        return None if x is None else (x.score, x.low, x.high, x.n)

    return [
        ("mood_index", None if mood is None else (mood.index, None, None, mood.n), "mood"),
        ("mood_positive_share", None if mood is None else prop(mood.positive), "mood"),
        ("enps", net(enps), "enps"),
        ("csat", prop(csat), "csat"),
        ("nps", net(nps), "nps"),
        ("participation", prop(part), "participation"),
    ]


async def export_rows(ctx: Context, who: Principal, period: Period) -> list[list[str]]:
    """Every figure of every visible team, one row each; a hidden cell carries no number."""
    found = await overview(ctx, who, period)
    names = {s.team.id: s.team.name for s in found.teams}
    rows = [HEADER]
    for s in found.teams:
        parent = names.get(s.team.parent_id, "") if s.team.parent_id else ""
        for figure, numbers, key in _csv_figures(s):
            head = [s.team.name, parent, period.start.isoformat(), period.end.isoformat(), figure]
            if numbers is None:
                note = NOTES[s.hidden.get(key)].format(k=found.k)
                rows.append([*head, "", "", "", "", note])
            else:
                value, low, high, n = numbers
                rows.append([*head, _number(value), _number(low), _number(high), str(n), ""])
    return rows


def csv_text(rows: list[list[str]]) -> str:
    """The rows as Dutch Excel opens them: BOM, semicolons, CRLF (numbers carry commas)."""
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return "\ufeff" + out.getvalue()
