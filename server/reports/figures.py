"""Periods, cells and what of them may be shown, the figures, and one request's Book."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import msgspec
import numpy as np
import pandas as pd
from litestar.exceptions import ValidationException

from server import analytics
from server.analytics import Mood, NetScore, Proportion
from server.config import Settings
from server.reports.org import Org, TeamRef
from server.reports.rollups import (
    ANONYMOUS,
    CUSTOMERS,
    DETRACTORS,
    FIELDS,
    KIND,
    KINDS,
    PERSONS,
    POSITIVE,
    PROMOTERS,
    SCORE,
    STAFF,
    TOP,
    N,
    rollups,
)

PRESET_WEEKS = {"4w": 4, "quarter": 13, "year": 52}
MAX_CUSTOM_DAYS = 731
CHART_DAYS = analytics.WINDOW_DAYS + analytics.BASELINE_DAYS
DAY0 = date(1970, 1, 1)
T = TypeVar("T")
FIGURE_KIND = {"mood": "checkin", "enps": "enps", "csat": "customer_csat", "nps": "customer_nps"}
FIGURES = (*FIGURE_KIND, "participation")


# --- the contract: Structs -------------------------------------------------------------


class Period(msgspec.Struct, frozen=True):
    """Whole ISO weeks of local dates, end inclusive (today for a period that is still on)."""

    start: date
    end: date
    preset: str


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
