"""The rollups: layout, zone, rebuild, the report worker's cache of their rows, forget_person."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import numpy as np

from server.db import Database, Writer
from server.deps import Context

T = TypeVar("T")

KINDS = (
    "checkin", "contact_self", "enps", "mirror_staff",
    "customer_csat", "customer_nps", "customer_mirror",
)  # fmt: skip
KIND = {kind: i for i, kind in enumerate(KINDS)}
STAFF, CUSTOMERS = [KIND[k] for k in KINDS[:4]], [KIND[k] for k in KINDS[4:]]
FIELDS = ("n", "score", "positive", "top", "promoters", "detractors", "anonymous", "persons")
N, SCORE, POSITIVE, TOP, PROMOTERS, DETRACTORS, ANONYMOUS, PERSONS = range(len(FIELDS))


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


# --- reading: the rollups' rows, cached in the report worker ---------------------------


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
