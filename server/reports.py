"""Reports: the figures managers see, read from rollups, with the anonymity rule applied here.

What counts. A person's latest answer to a question on a local day counts (a contact
self-rating: the latest per contact); every anonymous answer (kiosk, link, API) counts. The
rollups of migration 0002 keep exactly those answers summed per team, ISO week and kind,
and per team, day and check-in question, updated by triggers in the transaction that stores
the answer, so a late answer is in the next page load's figures.

The anonymity rule (k = SPIEGEL_ANONYMITY_K, comments: SPIEGEL_COMMENT_K):

- The atom is a *cell*: one team (with every team below it), one ISO week, one kind of
  answer. Its respondents are distinct people (each counted in one team a week) plus
  anonymous answers. Per week and kind, `analytics.suppress` over the whole team tree hides
  every cell of fewer than k respondents and every cell whose hiding would otherwise be undone
  by subtracting (a parent minus its shown children, hiding the next-smallest sibling).
- Periods are whole ISO weeks: custom dates widen to Monday..Sunday (end capped at today), and
  the presets end with the current week. Every figure of a period is the sum of its *shown*
  cells only; a week whose cell is hidden is left out of the figure and counted in
  `left_out`. So any figure a manager can see, for any period, is a sum of shown cells, and
  the difference of two overlapping periods (or of a parent and its children) is again a sum
  of shown cells or a suppression gap of at least k: "period minus sub-period" yields a set of
  whole weeks, each of which had k respondents or was left out of both.
- Participation (distinct people over a period / active members) is not a sum of weeks; it
  counts people, never answers, and is shown when the period's people pass `suppress`.
  Residual risk, accepted: two overlapping periods can tell how many people answered only in
  the weeks between them, though not what they answered.
- The daily mood chart uses days whose check-ins pass `suppress` for that day; its points
  carry no n. Comments come from weeks whose staff (or, for customer comments, customer)
  respondents pass `suppress` with the comment threshold, without names or times, newest
  first.
- Self vs customer and the mirror use self-ratings and mirror answers from shown weeks only,
  and need k pairs (k answers per side and aspect).
- The lag correlation uses the team's shown weeks of the last 52, whatever the period; the
  control chart the last 28 days and the 56 before them.
- Figures of the current, unfinished week change as answers arrive: someone who watches a
  figure change can tell that the latest answers moved it. That is inherent in live figures.

Who sees what: managers the teams they manage and every team below them; admins all teams;
API keys with the reports:read scope their teams and below (all teams for a key without
teams); staff, links, kiosks and other keys nothing (403).
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any, TypeVar
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pandas as pd
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from server import analytics
from server.analytics import Mood, NetScore, Proportion
from server.auth import (
    all_of,
    caller,
    person_only,
    same_origin_json,
    signed_in,
)
from server.callers import READ_SCOPE, Principal
from server.config import Settings
from server.db import Database, Writer
from server.deps import Context, Ctx

PRESET_WEEKS = {"4w": 4, "quarter": 13, "year": 52}
MAX_CUSTOM_DAYS = 731
LAG_WEEKS = 52
CHART_DAYS = analytics.WINDOW_DAYS + analytics.BASELINE_DAYS
MAX_COMMENTS = 50
MAX_WHAT = 500
DAY0 = date(1970, 1, 1)
T = TypeVar("T")

KINDS = (
    "checkin", "contact_self", "enps", "mirror_staff",
    "customer_csat", "customer_nps", "customer_mirror",
)  # fmt: skip
KIND = {kind: i for i, kind in enumerate(KINDS)}
STAFF, CUSTOMERS = [KIND[k] for k in KINDS[:4]], [KIND[k] for k in KINDS[4:]]
FIELDS = ("n", "score", "positive", "top", "promoters", "detractors", "anonymous", "persons")
N, SCORE, POSITIVE, TOP, PROMOTERS, DETRACTORS, ANONYMOUS, PERSONS = range(len(FIELDS))
FIGURE_KIND = {"mood": "checkin", "enps": "enps", "csat": "customer_csat", "nps": "customer_nps"}
FIGURES = (*FIGURE_KIND, "participation")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --- the contract: Structs -------------------------------------------------------------


class Period(msgspec.Struct, frozen=True):
    """Whole ISO weeks of local dates, end inclusive (today for a period that is still on)."""

    start: date
    end: date
    preset: str


class TeamRef(msgspec.Struct, frozen=True):
    """A team; depth counts its ancestors among the teams the caller sees (for indenting)."""

    id: int
    name: str
    parent_id: int | None
    depth: int


class TeamSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A team's figures over a period, each None when it has no answers or is hidden.

    Suppression is per figure (check-ins, eNPS, customers have their own respondents):
    `hidden` names each hidden figure's reason, `shown` says whether any figure shows, and
    `reason` is "shown" or, when none does, "fewer_than_k" or "complementary". `left_out`
    counts, per figure, the weeks with answers that were hidden and so left out of it.
    """

    team: TeamRef
    shown: bool
    reason: str
    mood: Mood | None
    enps: NetScore | None
    csat: Proportion | None
    nps: NetScore | None
    participation: Proportion | None
    trends: dict[str, str]
    alert: bool
    alert_since: date | None
    comments_allowed: bool
    hidden: dict[str, str] = {}
    left_out: dict[str, int] = {}


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


class ActionIn(msgspec.Struct, forbid_unknown_fields=True):
    what: str
    on: date


# --- periods ---------------------------------------------------------------------------


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def day_number(day: date) -> int:
    return (day - DAY0).days


def day_date(number: int) -> date:
    return DAY0 + timedelta(days=number)


def period_from(preset: str | None, start: str | None, end: str | None, today: date) -> Period:
    """The period a page or the API asks for; ValidationException (400) on bad input."""
    if start or end or preset == "custom":
        if preset not in (None, "", "custom"):
            raise ValidationException(detail="Give a preset or from and to, not both.")
        return _custom(start, end, today)
    weeks = PRESET_WEEKS.get(preset or "4w")
    if weeks is None:
        raise ValidationException(
            detail=f"Unknown period {preset!r}: use 4w, quarter, year, or from and to."
        )
    return Period(monday(today) - timedelta(weeks=weeks - 1), today, preset or "4w")


def _custom(start: str | None, end: str | None, today: date) -> Period:
    if not start or not end:
        raise ValidationException(detail="A custom period needs from and to (YYYY-MM-DD).")
    first, last = _iso(start, "from"), _iso(end, "to")
    if first > last:
        raise ValidationException(detail="from must not lie after to.")
    if (last - first).days > MAX_CUSTOM_DAYS:
        raise ValidationException(detail="A period spans at most two years.")
    last += timedelta(days=6 - last.weekday())
    if first <= today < last:
        last = today
    return Period(monday(first), last, "custom")


def _iso(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationException(detail=f"{name} is not a date (YYYY-MM-DD): {text!r}") from None


def weeks_of(period: Period) -> range:
    """The period's ISO weeks as day numbers of their Mondays."""
    return range(day_number(monday(period.start)), day_number(monday(period.end)) + 1, 7)


def previous(period: Period) -> Period:
    """The period of as many weeks just before this one."""
    start = period.start - timedelta(weeks=len(weeks_of(period)))
    return Period(start, period.start - timedelta(days=1), period.preset)


# --- the rollups: zone and rebuild -----------------------------------------------------


def zone_offsets(zone: ZoneInfo, until: int = 2100) -> list[tuple[int, int]]:
    """(since, UTC offset in seconds) of the zone from 1970 on, one row per change."""

    def offset(t: int) -> int:
        delta = datetime.fromtimestamp(t, zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    current = offset(0)
    found = [(-(10**12), current)]
    end = int(datetime(until, 1, 1, tzinfo=UTC).timestamp())
    for t in range(0, end, 86400):
        if offset(t + 86400) != current:
            low, high = t, t + 86400
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            current = offset(high)
            found.append((high, current))
    return found


_REBUILD = (
    "DELETE FROM report_units",
    "DELETE FROM report_weeks",
    "DELETE FROM report_days",
    "DELETE FROM report_people",
    # Anonymous answers all count; report_anonymous_answer adds them one by one like this.
    "INSERT INTO report_weeks (team_id, week, kind, n, score, positive, top, promoters,"
    " detractors, anonymous, persons)"
    " SELECT team_id, week, kind, COUNT(*), SUM(score), SUM(positive), SUM(top),"
    " SUM(promoter), SUM(detractor), COUNT(*), 0 FROM report_facts"
    " WHERE person_id IS NULL AND team_id IS NOT NULL GROUP BY team_id, week, kind",
    "INSERT INTO report_days (team_id, day, question_id, n, score)"
    " SELECT team_id, day, question_id, COUNT(*), SUM(score) FROM report_facts"
    " WHERE person_id IS NULL AND team_id IS NOT NULL AND kind = 'checkin'"
    " GROUP BY team_id, day, question_id",
    # A person's latest answer per unit and day; report_unit_added fills the other rollups.
    "INSERT INTO report_units (day, person_id, question_id, unit, answer_id, answered_at,"
    " team_id, kind, week, score, positive, top, promoter, detractor)"
    " SELECT day, person_id, question_id, unit, id, answered_at, team_id, kind, week, score,"
    " positive, top, promoter, detractor FROM ("
    "  SELECT f.*, ROW_NUMBER() OVER (PARTITION BY f.day, f.person_id, f.question_id, f.unit"
    "   ORDER BY f.answered_at DESC, f.id DESC) AS latest"
    "  FROM report_facts f WHERE f.person_id IS NOT NULL AND f.team_id IS NOT NULL) counted"
    " WHERE latest = 1",
)


def rebuild_statements(zone: str) -> list[tuple[str, Sequence[Any]]]:
    """The SQL that sets the rollups' zone and rebuilds them from every answer stored."""
    offsets = zone_offsets(ZoneInfo(zone))
    values = ", ".join("(?, ?)" for _ in offsets)
    return [
        ("DELETE FROM report_offsets", ()),
        (f"INSERT INTO report_offsets (since, seconds) VALUES {values}", sum(offsets, ())),
        ("UPDATE report_zone SET name = ? WHERE id = 1", (zone,)),
        *((sql, ()) for sql in _REBUILD),
    ]


_ready: WeakKeyDictionary[Database, str] = WeakKeyDictionary()


async def ensure_rollups(ctx: Context) -> None:
    """Rebuild the rollups once if they were built in another zone than the organisation's
    (a new database starts in UTC; SPIEGEL_TIMEZONE may change)."""
    db, zone = ctx.db, ctx.settings.timezone
    if _ready.get(db) == zone:
        return
    async with db.transaction() as tx:
        row = await tx.fetch_one("SELECT name FROM report_zone WHERE id = 1")
        if row is None or row["name"] != zone:
            for sql, params in rebuild_statements(zone):
                await tx.execute(sql, params)
    _ready[db] = zone


# --- reading: the team tree --------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    """Every team in tree order, and the sums a subtree needs."""

    ids: list[int]
    names: list[str]
    parent_ids: list[int | None]
    index: dict[int, int]
    below: np.ndarray  # below[i, j] = 1 when team j is team i or lies under it
    members: np.ndarray  # active people whose team it is

    @property
    def parents(self) -> tuple[tuple[int, int | None], ...]:
        return tuple(zip(self.ids, self.parent_ids, strict=True))

    def subtree(self, i: int) -> list[int]:
        return [self.ids[j] for j in np.flatnonzero(self.below[i])]

    def positions(self, team_ids: np.ndarray) -> np.ndarray:
        """The index of each team id; len(ids) (one past the end) for an unknown one."""
        top = max(self.ids, default=0) + 1
        lookup = np.full(top + 1, len(self.ids), dtype=np.int64)
        lookup[self.ids] = np.arange(len(self.ids))
        return lookup[np.clip(np.asarray(team_ids, dtype=np.int64), 0, top)]


def read_org(conn: sqlite3.Connection) -> Org:
    rows = conn.execute("SELECT id, name, parent_id FROM teams").fetchall()
    known = {r[0] for r in rows}
    children: dict[int | None, list[tuple[str, int]]] = {}
    parent_of: dict[int, int | None] = {}
    for team, name, parent in rows:
        parent = parent if parent in known else None
        parent_of[team] = parent
        children.setdefault(parent, []).append((name, team))
    order: list[int] = []
    stack = sorted(children.get(None, []), reverse=True)
    while stack:
        _, team = stack.pop()
        order.append(team)
        stack.extend(sorted(children.get(team, []), reverse=True))
    names = {team: name for team, name, _ in rows}
    index = {team: i for i, team in enumerate(order)}
    below = np.zeros((len(order), len(order)))
    for i, team in enumerate(order):
        node: int | None = team
        while node is not None:
            below[index[node], i] = 1
            node = parent_of[node]
    members = np.zeros(len(order))
    for team, count in conn.execute(
        "SELECT team_id, COUNT(*) FROM people WHERE active = 1 AND team_id IS NOT NULL"
        " GROUP BY team_id"
    ):
        if team in index:
            members[index[team]] = count
    return Org(order, [names[t] for t in order], [parent_of[t] for t in order], index, below,
               members)  # fmt: skip


def reach(conn: sqlite3.Connection, who: Principal, org: Org) -> list[int] | None:
    """Indexes of the teams the caller may see, in tree order; None for a caller who may see
    no report at all (staff, a key without the read scope)."""
    if who.has_role("admin"):
        return list(range(len(org.ids)))
    if who.has_role("manager"):
        tops = [r[0] for r in conn.execute(
            "SELECT team_id FROM team_managers WHERE person_id = ?", (who.person_id,)
        )]  # fmt: skip
    elif who.channel == "apikey":
        # The key was found live for this very request (auth resolves it every time).
        if READ_SCOPE not in who.scopes:
            return None
        if who.allowed_teams is None:
            return list(range(len(org.ids)))
        tops = sorted(who.allowed_teams)
    else:
        return None
    seen = np.zeros(len(org.ids), dtype=bool)
    for team in tops:
        if team in org.index:
            seen |= org.below[org.index[team]] > 0
    return [int(i) for i in np.flatnonzero(seen)]


def team_refs(org: Org, visible: list[int]) -> list[TeamRef]:
    shown = set(visible)
    refs = []
    for i in visible:
        depth = int(sum(1 for a in np.flatnonzero(org.below[:, i]) if a != i and a in shown))
        refs.append(TeamRef(org.ids[i], org.names[i], org.parent_ids[i], depth))
    return refs


def _guard(org: Org, visible: list[int] | None, team_ids: list[int]) -> list[int]:
    if visible is None:
        raise PermissionDeniedException(detail="Reports are for managers and administrators.")
    for team in team_ids:
        if team not in org.index:
            raise NotFoundException(detail=f"No team {team}.")
        if org.index[team] not in visible:
            raise PermissionDeniedException(detail=f"Team {team} is not one of your teams.")
    return [org.index[t] for t in team_ids]


# --- reading: cells and what may be shown ----------------------------------------------


@lru_cache(maxsize=16384)
def _suppressed(
    parents: tuple[tuple[int, int | None], ...], counts: tuple[int, ...], k: int, comment_k: int
) -> tuple[tuple[bool, ...], tuple[bool, ...], tuple[bool, ...]]:
    """(shown, comments, hidden only to protect another cell) per team, for one cell set."""
    own = {team: n for (team, _), n in zip(parents, counts, strict=True) if n}
    seen = analytics.suppress(dict(parents), own, k, comment_k)
    teams = [team for team, _ in parents]
    return (
        tuple(seen[t].shown for t in teams),
        tuple(seen[t].comments for t in teams),
        tuple(seen[t].reason == "complementary" for t in teams),
    )


def visibility(org: Org, own: np.ndarray, k: int, comment_k: int) -> np.ndarray:
    """For own respondents (teams x cells): shown, comments, complementary (3 x teams x cells)."""
    parents = org.parents
    out = np.zeros((3, *own.shape), dtype=bool)
    for c, counts in enumerate(own.astype(np.int64).T.tolist()):
        out[:, :, c] = _suppressed(parents, tuple(counts), k, comment_k)
    return out


def subtree_sums(org: Org, own: np.ndarray) -> np.ndarray:
    """Each team's figures with everything below it added (own: teams x ...). Children come
    after their parent in tree order, so one backward pass adds each into its parent (a
    matrix product would do the same, but OpenBLAS would take the other core for it)."""
    sums = own.copy()
    for i in range(len(org.ids) - 1, -1, -1):
        parent = org.parent_ids[i]
        if parent is not None:
            sums[org.index[parent]] += sums[i]
    return sums


@dataclass
class Weeks:
    """Cells of a range of weeks: own sums, subtree sums, and their visibility per kind."""

    first: int
    own: np.ndarray  # teams x weeks x kinds x FIELDS
    sub: np.ndarray
    seen: np.ndarray  # kinds x (shown, comments, complementary) x teams x weeks

    def index(self, weeks: range) -> slice:
        return slice((weeks.start - self.first) // 7, (weeks.stop - 1 - self.first) // 7 + 1)


_KIND_NUMBER = " ".join(f"WHEN '{kind}' THEN {i}" for i, kind in enumerate(KINDS))


# (query, columns) of each rollup, its first column the week or day.
_ROLLUP_SQL = {
    "weeks": (
        f"SELECT week, team_id, CASE kind {_KIND_NUMBER} END, n, score, positive, top,"
        " promoters, detractors, anonymous, persons FROM report_weeks WHERE week BETWEEN ? AND ?",
        3 + len(FIELDS),
    ),
    "people": (
        "SELECT week, person_id, MIN(team_id) FROM report_people"
        " WHERE week BETWEEN ? AND ? GROUP BY week, person_id",
        3,
    ),
    "days": ("SELECT day, team_id, n, score FROM report_days WHERE day BETWEEN ? AND ?", 4),
}


class Rollups:
    """The rollup rows of past reads, per week or day, kept until an answer of that day arrives.

    Rollup rows change only when answers are stored, so the highest answer rowid is a
    watermark: a read first asks which local days the answers above the last watermark fall
    on and forgets those days and their weeks, then reads only what it does not hold. A
    watermark that went down (an older snapshot, a restored file) starts the cache afresh.

    Results worked out from answers themselves are kept the same way: self vs customer and
    the mirror while no answer with a contact or to a mirror question arrives for a team and
    week they cover, comments while no comment does, and in both cases while the visibility
    they were made with is unchanged.
    """

    MAX_ENTRIES = 5000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mark: tuple[str, int] | None = None
        self._rows: dict[tuple[str, int], np.ndarray] = {}
        # (topic, team, week): the watermark of the last answer of the topic there; topics
        # "pairs" (answers with a contact or to a mirror question) and "comments".
        self._touched: dict[tuple[str, int, int], int] = {}
        self._kept: dict[Any, tuple[int, bytes, Any]] = {}

    def remember(
        self, conn: sqlite3.Connection, zone: str, key: Any, topic: str, teams: list[int],
        weeks: range, check: bytes, make: Callable[[], T],
    ) -> T:  # fmt: skip
        """make(), or what it gave before for the same key and check if no answer of the
        topic has arrived since for these teams and weeks."""
        with self._lock:
            mark = self._refresh(conn, zone)
            kept = self._kept.get(key)
            if kept is not None and kept[1] == check:
                changed = max(
                    (self._touched.get((topic, t, w), 0) for t in teams for w in weeks),
                    default=0,
                )
                if changed <= kept[0]:
                    value: T = kept[2]
                    return value
        value = make()
        with self._lock:
            if len(self._kept) > self.MAX_ENTRIES:
                self._kept.clear()
            self._kept[key] = (mark, check, value)
        return value

    def read(self, conn: sqlite3.Connection, zone: str, table: str, numbers: range) -> np.ndarray:
        """The table's rows for these weeks or days (first column: the week or day)."""
        with self._lock:
            self._refresh(conn, zone)
            missing = [n for n in numbers if (table, n) not in self._rows]
            if missing:
                fetched = self._fetch(conn, table, range(missing[0], missing[-1] + 1))
                for n in missing:
                    self._rows[(table, n)] = fetched[fetched[:, 0] == n]
            return np.concatenate([self._rows[(table, n)] for n in numbers])

    def _refresh(self, conn: sqlite3.Connection, zone: str) -> int:
        """Forget what answers stored since the last call changed; the new watermark."""
        top = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM answers").fetchone()[0]
        # Deleted answers and erased comments need not lower the newest answer's rowid: they
        # raise report_zone.generation instead (see recompute), which starts the cache afresh.
        zone = f"{zone}#{conn.execute('SELECT generation FROM report_zone').fetchone()[0]}"
        mark = self._mark
        if mark is None or mark[0] != zone or top < mark[1] or len(self._rows) > self.MAX_ENTRIES:
            self._rows.clear()
            self._touched.clear()
            self._kept.clear()
        elif top > mark[1]:
            for team, day, pairs, said in conn.execute(
                "SELECT DISTINCT a.team_id, (a.answered_at + (SELECT o.seconds"
                " FROM report_offsets o WHERE o.since <= a.answered_at"
                " ORDER BY o.since DESC LIMIT 1)) / 86400,"
                " a.contact_ref IS NOT NULL OR q.kind IN ('mirror_staff', 'customer_mirror'),"
                " a.comment IS NOT NULL"
                " FROM answers a JOIN questions q ON q.id = a.question_id"
                " WHERE a.rowid > ? AND a.rowid <= ?",
                (mark[1], top),
            ):
                week = day - (day + 3) % 7
                for topic, hit in (("pairs", pairs), ("comments", said)):
                    if hit:
                        self._touched[(topic, team, week)] = top
                for key in (("days", day), ("weeks", week), ("people", week)):
                    self._rows.pop(key, None)
        self._mark = (zone, top)
        return int(top)

    def _fetch(self, conn: sqlite3.Connection, table: str, numbers: range) -> np.ndarray:
        sql, width = _ROLLUP_SQL[table]
        rows = conn.execute(sql, (numbers.start, numbers.stop - 1)).fetchall()
        return np.array(rows, dtype=np.float64).reshape(-1, width)


_rollups: dict[str, Rollups] = {}


def rollups(conn: sqlite3.Connection) -> Rollups:
    """The cache of this database file."""
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    return _rollups.setdefault(path, Rollups())


def read_weeks(
    conn: sqlite3.Connection, org: Org, weeks: range, settings: Settings,
    kinds: Sequence[str] = KINDS,
) -> Weeks:  # fmt: skip
    """The cells of these weeks (of these kinds; the others stay empty) and their visibility."""
    cells = rollups(conn).read(conn, settings.timezone, "weeks", weeks)
    numbers = [KIND[kind] for kind in kinds]
    cells = cells[np.isin(cells[:, 2], numbers)]
    own = np.zeros((len(org.ids) + 1, len(weeks), len(KINDS), len(FIELDS)))
    week, kind = ((cells[:, 0] - weeks.start) // 7).astype(np.int64), cells[:, 2].astype(np.int64)
    own[org.positions(cells[:, 1]), week, kind] = cells[:, 3:]
    own = own[:-1]
    respondents = own[..., ANONYMOUS] + own[..., PERSONS]
    seen = np.zeros((len(KINDS), 3, len(org.ids), len(weeks)), dtype=bool)
    k, ck = settings.anonymity_k, settings.comment_k
    for c in numbers:
        seen[c] = visibility(org, respondents[:, :, c], k, ck)
    return Weeks(weeks.start, own, subtree_sums(org, own), seen)


@dataclass
class People:
    """Who answered staff questions, per week: (week, person, their lowest team that week)."""

    rows: np.ndarray  # n x 3

    def own(self, org: Org, weeks: range) -> np.ndarray:
        """Distinct people per team over the weeks, each in one team (their lowest id)."""
        rows = self.rows[(self.rows[:, 0] >= weeks.start) & (self.rows[:, 0] < weeks.stop)]
        counts = np.zeros(len(org.ids) + 1)
        if len(rows):
            lowest = pd.Series(rows[:, 2]).groupby(rows[:, 1]).min().to_numpy()
            np.add.at(counts, org.positions(lowest), 1)
        return counts[:-1]

    def weekly(self, org: Org, weeks: range) -> np.ndarray:
        counts = np.zeros((len(org.ids) + 1, len(weeks)))
        rows = self.rows[(self.rows[:, 0] >= weeks.start) & (self.rows[:, 0] < weeks.stop)]
        np.add.at(counts, (org.positions(rows[:, 2]), (rows[:, 0] - weeks.start) // 7), 1)
        return counts[:-1]


def read_people(conn: sqlite3.Connection, weeks: range, settings: Settings) -> People:
    rows = rollups(conn).read(conn, settings.timezone, "people", weeks)
    return People(rows.astype(np.int64))


# --- figures -----------------------------------------------------------------------------


def _figure(kind: str, sums: np.ndarray) -> Mood | NetScore | Proportion:
    n = int(sums[N])
    if kind == "checkin":
        positive = analytics.wilson(int(sums[POSITIVE]), n)
        return Mood(float(sums[SCORE]) / n, positive, n)
    if kind in ("enps", "customer_nps"):
        promoters, detractors = int(sums[PROMOTERS]), int(sums[DETRACTORS])
        return analytics.net_from_counts(promoters, n - promoters - detractors, detractors)
    return analytics.wilson(int(sums[TOP]), n)


@dataclass
class Figure:
    value: Any = None
    hidden: str | None = None
    left_out: int = 0


def period_figures(weeks: Weeks, kind: str, span: slice) -> list[Figure]:
    """Per team, the sum of its shown cells of the kind; why not, when none is shown."""
    c = KIND[kind]
    sub = weeks.sub[:, span, c]
    shown, complementary = weeks.seen[c, 0, :, span], weeks.seen[c, 2, :, span]
    has = sub[..., ANONYMOUS] + sub[..., PERSONS] > 0
    left_out = (has & ~shown).sum(axis=1)
    sums = (sub * shown[..., None]).sum(axis=1)
    only_complementary = (complementary | ~has).all(axis=1)
    found = []
    for i, total in enumerate(sums):
        if total[N] > 0:
            found.append(Figure(_figure(kind, total), None, int(left_out[i])))
        elif not has[i].any():
            found.append(Figure())
        else:
            why = "complementary" if only_complementary[i] else "fewer_than_k"
            found.append(Figure(None, why, int(left_out[i])))
    return found


def participations(org: Org, own: np.ndarray, k: int, ck: int) -> list[Figure]:
    """Per team, distinct people who answered over active members, if the people may show."""
    members, people = subtree_sums(org, org.members), subtree_sums(org, own)
    shown, _, complementary = _suppressed(org.parents, tuple(int(x) for x in own), k, ck)
    found = []
    for i, (m, n) in enumerate(zip(members, people, strict=True)):
        if m == 0 and n == 0:
            found.append(Figure())
        elif not shown[i]:
            found.append(Figure(None, "complementary" if complementary[i] else "fewer_than_k"))
        else:
            found.append(Figure(analytics.wilson(int(min(n, m)), int(m))) if m else Figure())
    return found


def _spread(figure: Any) -> tuple[float, float] | None:
    """(value, interval half-width) of a figure, for trends."""
    if isinstance(figure, Mood):
        positive = figure.positive
        if figure.index is None or positive.low is None or positive.high is None:
            return None
        return figure.index, (positive.high - positive.low) / 2
    if isinstance(figure, NetScore):
        if figure.score is None or figure.low is None or figure.high is None:
            return None
        return figure.score, (figure.high - figure.low) / 2
    if isinstance(figure, Proportion):
        if figure.value is None or figure.low is None or figure.high is None:
            return None
        return figure.value, (figure.high - figure.low) / 2
    return None


def trend(now: Any, before: Any) -> str | None:
    """up, down or flat against the previous period; flat within now's interval half-width.
    The mood index has no interval of its own: its positive share's is used."""
    a, b = _spread(now), _spread(before)
    if a is None or b is None:
        return None
    change = a[0] - b[0]
    if abs(change) < a[1]:
        return "flat"
    return "up" if change > 0 else "down"


# --- one request's reading ---------------------------------------------------------------


@dataclass
class Book:
    """What one report request reads, in one snapshot, and the figures made from it."""

    conn: sqlite3.Connection
    org: Org
    period: Period
    settings: Settings
    today: date
    weeks: Weeks = field(init=False)
    people: People = field(init=False)
    _days: tuple[np.ndarray, np.ndarray] | None = None
    _made: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        span = range(weeks_of(previous(self.period)).start, weeks_of(self.period).stop, 7)
        self.weeks = read_weeks(self.conn, self.org, span, self.settings)
        self.people = read_people(self.conn, span, self.settings)

    @property
    def k(self) -> int:
        return self.settings.anonymity_k

    def _once(self, key: Any, make: Any) -> Any:
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def remember(self, topic: str, i: int, kinds: Sequence[str], make: Callable[[], T]) -> T:
        """make() for team i over the period, or its earlier result while no answer of the
        topic has come for the team's subtree in the period and the visibility of these kinds
        (and of its comments) is unchanged."""
        weeks = weeks_of(self.period)
        span = self.weeks.index(weeks)
        check = b"".join(self.weeks.seen[KIND[kind], :, i, span].tobytes() for kind in kinds)
        check += self.comment_weeks(i).tobytes() + f"{self.k},{self.settings.comment_k}".encode()
        key = (topic, self.org.ids[i], self.period)
        return rollups(self.conn).remember(
            self.conn, self.settings.timezone, key, topic, self.org.subtree(i), weeks, check,
            make,
        )  # fmt: skip

    def figures(self, i: int, period: Period) -> dict[str, Figure]:
        weeks = weeks_of(period)
        span = self.weeks.index(weeks)
        found = {
            name: self._once((name, weeks), lambda k=kind: period_figures(self.weeks, k, span))[i]
            for name, kind in FIGURE_KIND.items()
        }
        people = self._once(
            ("participation", weeks),
            lambda: participations(self.org, self.people.own(self.org, weeks), self.k,
                                   self.settings.comment_k),
        )  # fmt: skip
        found["participation"] = people[i]
        return found

    def summary(self, i: int, ref: TeamRef) -> TeamSummary:
        now, before = self.figures(i, self.period), self.figures(i, previous(self.period))
        trends = {name: t for name in FIGURES if (t := trend(now[name].value, before[name].value))}
        hidden = {name: f.hidden for name, f in now.items() if f.hidden}
        shown = any(f.value is not None for f in now.values())
        reason = "shown" if shown else (
            "complementary" if hidden and set(hidden.values()) == {"complementary"}
            else "fewer_than_k"
        )  # fmt: skip
        chart = self.chart(i)
        return TeamSummary(
            team=ref,
            shown=shown,
            reason=reason,
            mood=now["mood"].value,
            enps=now["enps"].value,
            csat=now["csat"].value,
            nps=now["nps"].value,
            participation=now["participation"].value,
            trends=trends,
            alert=chart.alert,
            alert_since=chart.alert_since,
            comments_allowed=bool(self.comment_weeks(i).any()),
            hidden=hidden,
            left_out={name: f.left_out for name, f in now.items() if f.left_out},
        )

    def team_weeks(self, i: int) -> list[analytics.TeamWeek]:
        weeks = weeks_of(self.period)
        span = self.weeks.index(weeks)
        return list(weekly(self.weeks, i, span, self.org.ids[i], weeks.start))

    # the daily chart

    def days(self) -> tuple[np.ndarray, np.ndarray]:
        """Subtree check-in (n, score) per team and day of the chart, shown days only."""
        if self._days is None:
            self._days = read_days(self.conn, self.org, self.chart_days(), self.settings)
        return self._days

    def chart_days(self) -> range:
        last = day_number(self.today)
        return range(last - CHART_DAYS + 1, last + 1)

    def chart(self, i: int) -> analytics.ControlChart:
        n, score = self.days()
        days = self.chart_days()
        points = tuple(
            (days.start + int(d), float(score[i, d] / n[i, d])) for d in np.flatnonzero(n[i])
        )
        return control_chart(points, days.stop - 1)

    # comments

    def comment_weeks(self, i: int) -> np.ndarray:
        """Per week of the period: may staff comments, may customer comments be shown."""
        return self._once("comments", self._comment_weeks)[:, i]

    def _comment_weeks(self) -> np.ndarray:
        weeks = weeks_of(self.period)
        own = self.weeks.own[:, self.weeks.index(weeks)]
        staff = self.people.weekly(self.org, weeks) + own[:, :, STAFF, ANONYMOUS].sum(axis=2)
        customers = own[:, :, CUSTOMERS, ANONYMOUS].sum(axis=2)
        k, ck = self.k, self.settings.comment_k
        return np.stack(
            [visibility(self.org, staff, k, ck)[1], visibility(self.org, customers, k, ck)[1]]
        )


def weekly(weeks: Weeks, i: int, span: slice, team: int, first: int) -> list[analytics.TeamWeek]:
    """The team's mood and CSAT per week; a hidden cell has no figure and n 0."""
    out = []
    checkin, csat = KIND["checkin"], KIND["customer_csat"]
    for w, (mood, rating) in enumerate(
        zip(weeks.sub[i, span, checkin], weeks.sub[i, span, csat], strict=True)
    ):
        week = span.start + w
        mood_ok = bool(weeks.seen[checkin, 0, i, week] and mood[N])
        csat_ok = bool(weeks.seen[csat, 0, i, week] and rating[N])
        out.append(analytics.TeamWeek(
            team=team,
            week=day_date(first + 7 * w),
            mood=float(mood[SCORE] / mood[N]) if mood_ok else None,
            mood_n=int(mood[N]) if mood_ok else 0,
            csat=float(rating[TOP] / rating[N] * 100) if csat_ok else None,
            csat_n=int(rating[N]) if csat_ok else 0,
        ))  # fmt: skip
    return out


def read_days(
    conn: sqlite3.Connection, org: Org, days: range, settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    cells = rollups(conn).read(conn, settings.timezone, "days", days)
    at = (org.positions(cells[:, 1]), (cells[:, 0] - days.start).astype(np.int64))
    n, score, respondents = (np.zeros((len(org.ids) + 1, len(days))) for _ in range(3))
    np.add.at(n, at, cells[:, 2])
    np.add.at(score, at, cells[:, 3])
    # Per question, counted answers are distinct respondents; over several check-in questions
    # the largest is a lower bound, which errs on the safe side.
    np.maximum.at(respondents, at, cells[:, 2])
    shown = visibility(org, respondents[:-1], settings.anonymity_k, settings.comment_k)[0]
    return subtree_sums(org, n[:-1]) * shown, subtree_sums(org, score[:-1]) * shown


@lru_cache(maxsize=4096)
def control_chart(points: tuple[tuple[int, float], ...], end: int) -> analytics.ControlChart:
    index = pd.DatetimeIndex([pd.Timestamp(day_date(d)) for d, _ in points])
    daily = pd.Series([v for _, v in points], index=index, dtype=float)
    return analytics.control_chart(daily, end=day_date(end))


@lru_cache(maxsize=1024)
def lag(rows: tuple[tuple[int, float, int, float, int], ...]) -> tuple[analytics.LagPoint, ...]:
    frame = pd.DataFrame(list(rows), columns=["week", "mood", "mood_n", "csat", "csat_n"])
    frame["week"] = pd.Timestamp(DAY0) + pd.to_timedelta(frame["week"], unit="D")
    return tuple(analytics.lag_correlation(frame.assign(team=0)))


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


async def recompute(tx: Writer, zone: str, rebuild: bool = True) -> None:
    """After answers were deleted or comments erased (inside the caller's transaction): rebuild
    the rollups from the answers that remain (the triggers only ever add), and make every
    report process forget what it cached."""
    if rebuild:
        for sql, params in rebuild_statements(zone):
            await tx.execute(sql, params)
    await tx.execute("UPDATE report_zone SET generation = generation + 1 WHERE id = 1")


# The local days a person answered on: report_units' primary key starts with (day, person_id),
# so the person's counted answers are found by seeks, not by reading every unit.
_THEIR_DAYS = (
    "SELECT DISTINCT (a.answered_at + (SELECT o.seconds FROM report_offsets o"
    " WHERE o.since <= a.answered_at ORDER BY o.since DESC LIMIT 1)) / 86400"
    " FROM answers a WHERE a.person_id = :person"
)
_THEIR_UNITS = f"u.person_id = :person AND u.day IN ({_THEIR_DAYS})"

_FORGET = (
    # What their counted answers added to each team's week and day, taken off again.
    "UPDATE report_weeks SET n = report_weeks.n - g.n, score = report_weeks.score - g.score,"
    " positive = report_weeks.positive - g.positive, top = report_weeks.top - g.top,"
    " promoters = report_weeks.promoters - g.promoters,"
    " detractors = report_weeks.detractors - g.detractors"
    " FROM (SELECT u.team_id, u.week, u.kind, COUNT(*) AS n, SUM(u.score) AS score,"
    "  SUM(u.positive) AS positive, SUM(u.top) AS top, SUM(u.promoter) AS promoters,"
    f"  SUM(u.detractor) AS detractors FROM report_units u WHERE {_THEIR_UNITS}"
    "  GROUP BY u.team_id, u.week, u.kind) g"
    " WHERE report_weeks.week = g.week AND report_weeks.team_id = g.team_id"
    " AND report_weeks.kind = g.kind",
    "UPDATE report_days SET n = report_days.n - g.n, score = report_days.score - g.score"
    " FROM (SELECT u.team_id, u.day, u.question_id, COUNT(*) AS n, SUM(u.score) AS score"
    f"  FROM report_units u WHERE {_THEIR_UNITS} AND u.kind = 'checkin'"
    "  GROUP BY u.team_id, u.day, u.question_id) g"
    " WHERE report_days.day = g.day AND report_days.team_id = g.team_id"
    " AND report_days.question_id = g.question_id",
    # report_person_uncounted moves each team's respondent count as their rows go.
    "DELETE FROM report_people WHERE person_id = :person",
    f"DELETE FROM report_units WHERE person_id = :person AND day IN ({_THEIR_DAYS})",
    # A rebuild has no row for a week or day nobody answered in; neither may this.
    "DELETE FROM report_weeks WHERE n = 0",
    "DELETE FROM report_days WHERE n = 0",
)


async def forget_person(tx: Writer, person_id: int) -> None:
    """Take one person's answers out of the rollups (inside the caller's transaction, before
    their answers are deleted): the same result as a rebuild without them, at the cost of
    their own answers rather than everyone's."""
    for sql in _FORGET:
        await tx.execute(sql, {"person": person_id})


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
