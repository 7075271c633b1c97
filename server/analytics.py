"""Analytics: the figures managers see, as pure functions from pandas DataFrames to Structs.

No I/O and no imports of other rooms: the reports room reads rows into frames and calls these.

The answers frame, one row per stored answer:

    respondent   str    "p<person_id>" for a person; for an anonymous answer (kiosk, link,
                        API, import) the answer's id, so that each anonymous tap is its own
                        respondent. Answer ids are UUIDs and never start with "p".
    team         int    the team the answer counts for
    kind         str    checkin, contact_self, enps, mirror_staff, customer_csat,
                        customer_nps or customer_mirror
    question     int
    value        int
    scale_min    int    1 for smileys (2 to 5 faces), 0 for the 0..10 questions
    scale_max    int
    answered_at  int    seconds since the epoch, UTC, as stored
    contact_ref  str | None
    aspect       str | None   mirror questions only
    comment      str | None

`localise(frame, zone)` adds the columns every other function reads: `at` (tz-aware, in the
organisation's zone), `day` (naive local midnight) and `week` (naive local midnight of the
ISO week's Monday). Build the frame with it; nothing here converts time zones again.

Each figure function picks the rows of its own kinds and applies `latest_per_day` itself, so
a caller can pass one frame of a team and period to all of them. Figures of n = 0 are None,
never NaN. Whether a manager may see a figure is decided by `suppress` over the team tree,
per figure, from `respondents_by_team` of the rows behind that figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, tzinfo
from statistics import NormalDist
from typing import Literal

import msgspec
import pandas as pd

Z95 = NormalDist().inv_cdf(0.975)

# The EX->CX correlation needs this many team-week pairs after each team has spent one on
# its own mean; below it the product says "not enough data yet".
MIN_LAG_PAIRS = 10
MAX_LAG_WEEKS = 8

# Early warning: the textbook EWMA chart (Montgomery, Introduction to Statistical Quality
# Control, 9.2). With lambda 0.2 and L = 3 a simulation of the lower limit alone gave an
# average run of about 1,100 stable days to a false alarm, 10 days to catch a drop of one
# baseline sd and 3 days for two.
EWMA_LAMBDA = 0.2
EWMA_WIDTH = 3.0
BASELINE_DAYS = 56
MIN_BASELINE_DAYS = 20
WINDOW_DAYS = 28
# A baseline of days that were all alike (every check-in happy) has sd 0, and any dip would
# then alarm; a daily mean of ~10 two-face answers varies by more than this anyway.
MIN_BASELINE_SD = 5.0

MIN_K = 3
DEFAULT_K = 5
DEFAULT_COMMENT_K = 10

NetKind = Literal["enps", "customer_nps"]
Reason = Literal["shown", "fewer_than_k", "complementary"]


class Proportion(msgspec.Struct, frozen=True):
    """A share in percent with its Wilson 95 % interval; None when n is 0."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    count: int


class Mood(msgspec.Struct, frozen=True):
    """Mood index (mean check-in score, 0..100) and the positive share of check-ins."""

    index: float | None
    positive: Proportion
    n: int


class NetScore(msgspec.Struct, frozen=True):
    """NPS or eNPS (-100..100) with its adjusted-Wald 95 % interval."""

    score: float | None
    low: float | None
    high: float | None
    n: int
    promoters: int
    passives: int
    detractors: int


class SelfVsCustomer(msgspec.Struct, frozen=True):
    """Staff self-ratings against customer ratings of the same contacts."""

    pairs: int
    self_mean: float | None
    customer_mean: float | None
    mean_gap: float | None
    misses: int
    miss_rate: Proportion


class MirrorGap(msgspec.Struct, frozen=True):
    """One aspect of the mirror survey: staff's predicted mean score minus customers' mean."""

    aspect: str
    staff_mean: float | None
    staff_n: int
    customer_mean: float | None
    customer_n: int
    gap: float | None


class TeamWeek(msgspec.Struct, frozen=True):
    """A team's mood index and CSAT (percent) in one ISO week."""

    team: int
    week: date
    mood: float | None
    mood_n: int
    csat: float | None
    csat_n: int


class LagPoint(msgspec.Struct, frozen=True):
    """Within-team correlation of mood with CSAT k weeks later, with its Fisher z interval."""

    k: int
    r: float | None
    low: float | None
    high: float | None
    n: int
    teams: int
    enough_data: bool


class ChartPoint(msgspec.Struct, frozen=True):
    """One day of an EWMA control chart."""

    day: date
    value: float
    ewma: float
    centre: float
    lcl: float
    ucl: float
    below: bool


class ControlChart(msgspec.Struct, frozen=True):
    """A team's daily mood EWMA chart against its own baseline, and whether it alarms now."""

    points: list[ChartPoint]
    centre: float | None
    sd: float | None
    baseline_days: int
    enough_data: bool
    alert: bool
    alert_since: date | None


class Visibility(msgspec.Struct, frozen=True):
    """Whether a team's figure and its comments may be shown; respondents is never displayed."""

    team: int
    respondents: int
    shown: bool
    comments: bool
    reason: Reason


# --- the frame -------------------------------------------------------------------------


def localise(frame: pd.DataFrame, zone: str | tzinfo) -> pd.DataFrame:
    """The frame with `at`, `day` and `week` in the organisation's zone, from `answered_at`."""
    at = pd.to_datetime(frame["answered_at"], unit="s", utc=True).dt.tz_convert(zone)
    # Local wall time first: flooring a tz-aware stamp can land in a DST gap.
    day = at.dt.tz_localize(None).dt.normalize()
    week = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    return frame.assign(at=at, day=day, week=week)


def latest_per_day(frame: pd.DataFrame) -> pd.DataFrame:
    """The answers that count: a respondent's latest answer to a question on a local day.

    The staff app stores a re-tap, and a comment, as a new answer; only the day's last counts.
    Anonymous answers each have their own respondent, so every tap counts. A contact
    self-rating is about a contact, not the day: the latest per contact_ref counts, and a
    rating without a reference always counts (the app rests the faces after a tap).
    """
    ordered = frame.sort_values("at", kind="stable")
    contact = ordered["kind"].eq("contact_self")
    unit = ordered["contact_ref"].where(contact, "")
    free = contact & ordered["contact_ref"].isna()
    repeated = ordered.assign(_unit=unit).duplicated(
        ["respondent", "question", "day", "_unit"], keep="last"
    )
    return ordered[free | ~repeated]


def scores(frame: pd.DataFrame) -> pd.Series:
    """Each answer's score in 0..100: (value - min) / (max - min) * 100."""
    span = frame["scale_max"] - frame["scale_min"]
    return (frame["value"] - frame["scale_min"]) / span * 100.0


def respondents_by_team(frame: pd.DataFrame, kinds: Iterable[str]) -> dict[int, int]:
    """Distinct respondents per team among answers of these kinds, each in their latest team."""
    rows = frame[frame["kind"].isin(list(kinds))].sort_values("at", kind="stable")
    # A person who moved team in the period counts once, so the counts of a tree add up.
    last = rows.drop_duplicates("respondent", keep="last")
    return {int(team): int(n) for team, n in last.groupby("team").size().items()}


def _counted(frame: pd.DataFrame, *kinds: str) -> pd.DataFrame:
    return latest_per_day(frame[frame["kind"].isin(kinds)])


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def _positive(score: pd.Series) -> pd.Series:
    # Upper half of the scale: above the midpoint, so the middle face of 3 or 5 is neither.
    return score > 50


def _negative(score: pd.Series) -> pd.Series:
    return score < 50


def _top_faces(frame: pd.DataFrame) -> pd.Series:
    faces = frame["scale_max"] - frame["scale_min"] + 1
    two = frame["value"] >= frame["scale_max"] - 1
    return two.where(faces >= 4, frame["value"] == frame["scale_max"]).astype(bool)


# --- proportions and scores --------------------------------------------------------------


def wilson(count: int, n: int) -> Proportion:
    """count of n as a percentage with its Wilson score 95 % interval."""
    if n <= 0:
        return Proportion(None, None, None, 0, 0)
    p = count / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return Proportion(p * 100, low * 100, high * 100, n, count)


def mood(frame: pd.DataFrame) -> Mood:
    """Mood index and positive share of the check-ins in the frame."""
    score = scores(_counted(frame, "checkin"))
    return Mood(_mean(score), wilson(int(_positive(score).sum()), len(score)), len(score))


def participation(frame: pd.DataFrame, members: int) -> Proportion:
    """Distinct people who answered a staff question, as a share of the active members.

    Anonymous kiosk taps cannot be matched to members and are left out; a person who answered
    and then left may make the count exceed members, and is capped there.
    """
    people = frame.loc[frame["respondent"].str.startswith("p"), "respondent"].nunique()
    if members <= 0:
        return Proportion(None, None, None, 0, int(people))
    return wilson(min(int(people), members), members)


def net_score(frame: pd.DataFrame, kind: NetKind = "enps") -> NetScore:
    """NPS or eNPS: % of 9-10 minus % of 0-6, with the adjusted-Wald interval (Rocks 2016)."""
    value = _counted(frame, kind)["value"]
    promoters, detractors = int((value >= 9).sum()), int((value <= 6).sum())
    return net_from_counts(promoters, len(value) - promoters - detractors, detractors)


def net_from_counts(promoters: int, passives: int, detractors: int) -> NetScore:
    """net_score from counts alone (the reports' rollups hold counts, not answers)."""
    n = promoters + passives + detractors
    if n == 0:
        return NetScore(None, None, None, 0, 0, 0, 0)
    adjusted = n + 3
    p, d = (promoters + 0.75) / adjusted, (detractors + 0.75) / adjusted
    se = math.sqrt((p + d - (p - d) ** 2) / adjusted)
    low, high = max(-1.0, p - d - Z95 * se), min(1.0, p - d + Z95 * se)
    score = (promoters - detractors) / n * 100
    return NetScore(score, low * 100, high * 100, n, promoters, passives, detractors)


def csat(frame: pd.DataFrame) -> Proportion:
    """CSAT: the share of customer ratings in the top two faces of 4 or 5 (top face of 2 or 3)."""
    rows = _counted(frame, "customer_csat")
    return wilson(int(_top_faces(rows).sum()), len(rows))


# --- self vs customer and the mirror -------------------------------------------------------


def _scored_refs(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    rows = _counted(frame, kind)
    rows = rows[rows["contact_ref"].notna()]
    return rows[["contact_ref", "at"]].assign(score=scores(rows))


def contact_pairs(frame: pd.DataFrame, window_days: int = 14) -> pd.DataFrame:
    """Self-ratings paired with customer CSAT ratings of the same contact_ref within the window.

    A contact counts once: of its candidate pairs, the two answers closest in time.
    """
    pairs = _scored_refs(frame, "contact_self").merge(
        _scored_refs(frame, "customer_csat"), on="contact_ref", suffixes=("_self", "_customer")
    )
    apart = (pairs["at_customer"] - pairs["at_self"]).abs()
    pairs = pairs.assign(apart=apart)[apart <= pd.Timedelta(days=window_days)]
    return pairs.sort_values("apart", kind="stable").drop_duplicates("contact_ref")


def self_vs_customer(frame: pd.DataFrame, window_days: int = 14) -> SelfVsCustomer:
    """Mean gap (self score - customer score) and misses: agent positive, customer negative."""
    pairs = contact_pairs(frame, window_days)
    own, theirs = pairs["score_self"], pairs["score_customer"]
    misses = int((_positive(own) & _negative(theirs)).sum())
    return SelfVsCustomer(
        pairs=len(pairs),
        self_mean=_mean(own),
        customer_mean=_mean(theirs),
        mean_gap=_mean(own - theirs),
        misses=misses,
        miss_rate=wilson(misses, len(pairs)),
    )


def mirror_gaps(frame: pd.DataFrame) -> list[MirrorGap]:
    """Per aspect, staff's predicted mean score minus customers' mean score, by aspect name."""
    staff = _aspect_scores(frame, "mirror_staff")
    customers = _aspect_scores(frame, "customer_mirror")
    gaps = []
    for aspect in sorted(set(staff) | set(customers)):
        s_mean, s_n = staff.get(aspect, (None, 0))
        c_mean, c_n = customers.get(aspect, (None, 0))
        gap = s_mean - c_mean if s_mean is not None and c_mean is not None else None
        gaps.append(MirrorGap(aspect, s_mean, s_n, c_mean, c_n, gap))
    return gaps


def _aspect_scores(frame: pd.DataFrame, kind: str) -> dict[str, tuple[float | None, int]]:
    rows = _counted(frame, kind)
    rows = rows[rows["aspect"].notna()]
    grouped = scores(rows).groupby(rows["aspect"]).agg(["mean", "size"])
    return {str(a): (float(m), int(n)) for a, m, n in grouped.itertuples(name=None)}


# --- EX -> CX ------------------------------------------------------------------------------


def weekly_by_team(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns team, week, mood, mood_n, csat (percent), csat_n: one row per team and ISO week."""
    checkins = _counted(frame, "checkin")
    ratings = _counted(frame, "customer_csat")
    keys = ["team", "week"]
    mood_w = scores(checkins).groupby([checkins[k] for k in keys]).agg(mood="mean", mood_n="size")
    top = _top_faces(ratings).astype(float) * 100
    csat_w = top.groupby([ratings[k] for k in keys]).agg(csat="mean", csat_n="size")
    weekly = mood_w.join(csat_w, how="outer").reset_index()
    for column in ("mood_n", "csat_n"):
        weekly[column] = weekly[column].fillna(0).astype(int)
    return weekly.sort_values(keys, kind="stable", ignore_index=True)


def team_weeks(weekly: pd.DataFrame) -> list[TeamWeek]:
    """The rows of `weekly_by_team` as Structs, for charts and the JSON API."""
    return [
        TeamWeek(
            team=int(row.team),
            week=row.week.date(),
            mood=_value(row.mood),
            mood_n=int(row.mood_n),
            csat=_value(row.csat),
            csat_n=int(row.csat_n),
        )
        for row in weekly.itertuples(index=False)
    ]


def _value(x: float) -> float | None:
    return None if pd.isna(x) else float(x)


def lag_pairs(weekly: pd.DataFrame, k: int) -> pd.DataFrame:
    """Within-team demeaned (mood at week w, CSAT at week w + k) pairs, with their team.

    Each team's mood and CSAT are centred on that team's own means over its pairs before
    pooling, so a team that is simply better at both does not make a correlation. A team with
    one pair carries no within-team information and is left out.
    """
    moods = weekly.loc[weekly["mood"].notna(), ["team", "week", "mood"]]
    later = weekly.loc[weekly["csat"].notna(), ["team", "week", "csat"]]
    later = later.assign(week=later["week"] - pd.Timedelta(weeks=k))
    pairs = moods.merge(later, on=["team", "week"])
    pairs = pairs[pairs.groupby("team")["week"].transform("size") >= 2]
    means = pairs.groupby("team")[["mood", "csat"]].transform("mean")
    return pairs.assign(mood=pairs["mood"] - means["mood"], csat=pairs["csat"] - means["csat"])


def lag_correlation(
    weekly: pd.DataFrame, max_lag: int = MAX_LAG_WEEKS, min_pairs: int = MIN_LAG_PAIRS
) -> list[LagPoint]:
    """Within-team Pearson r of mood with CSAT k weeks later, k = 0..max_lag.

    n counts team-week pairs; demeaning spends one degree of freedom per team, so the Fisher
    z interval uses n' = n - teams + 1 (n itself for one team, as scipy does) and the figure
    needs n' >= min_pairs, else r is None and enough_data False.
    """
    return [_lag_point(lag_pairs(weekly, k), k, min_pairs) for k in range(max_lag + 1)]


def _lag_point(pairs: pd.DataFrame, k: int, min_pairs: int) -> LagPoint:
    n, teams = len(pairs), int(pairs["team"].nunique())
    effective = n - teams + 1
    x, y = pairs["mood"].to_numpy(float), pairs["csat"].to_numpy(float)
    sxx, syy = float(x @ x), float(y @ y)
    # Tiny sums are rounding left over from demeaning a constant series.
    if effective < max(min_pairs, 4) or sxx < 1e-9 or syy < 1e-9:
        return LagPoint(k, None, None, None, n, teams, False)
    r = max(-1.0, min(1.0, float(x @ y) / math.sqrt(sxx * syy)))
    low, high = fisher_interval(r, effective)
    return LagPoint(k, r, low, high, n, teams, True)


def fisher_interval(r: float, n: int) -> tuple[float, float]:
    """The 95 % interval of a correlation r from n pairs by Fisher's z transformation."""
    if abs(r) >= 1.0:
        return r, r
    z, half = math.atanh(r), Z95 / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


# --- early warning ---------------------------------------------------------------------------


def daily_mood(frame: pd.DataFrame) -> pd.Series:
    """The mood index per local day (index: day), from the check-ins that count."""
    rows = _counted(frame, "checkin")
    return scores(rows).groupby(rows["day"]).mean().sort_index()


def control_chart(
    daily: pd.Series,
    end: date | None = None,
    window_days: int = WINDOW_DAYS,
    lam: float = EWMA_LAMBDA,
    width: float = EWMA_WIDTH,
) -> ControlChart:
    """An EWMA chart of the daily mood over the window ending at `end` (default: the last day).

    The centre and sd come from the BASELINE_DAYS before the window (days with answers, at
    least MIN_BASELINE_DAYS of them); the limits are the time-varying ones,
    centre -/+ width * sd * sqrt(lam / (2 - lam) * (1 - (1 - lam)^(2i))) at the window's i-th
    observed day. The chart alerts while its latest point lies below the lower limit.
    """
    last = pd.Timestamp(end) if end is not None else (daily.index.max() if len(daily) else None)
    if last is None:
        return ControlChart([], None, None, 0, False, False, None)
    start = last - pd.Timedelta(days=window_days - 1)
    first = start - pd.Timedelta(days=BASELINE_DAYS)
    baseline = daily[(daily.index >= first) & (daily.index < start)]
    if len(baseline) < MIN_BASELINE_DAYS:
        return ControlChart([], None, None, len(baseline), False, False, None)
    centre, sd = float(baseline.mean()), max(float(baseline.std(ddof=1)), MIN_BASELINE_SD)
    window = daily[(daily.index >= start) & (daily.index <= last)]
    points = _ewma_points(window, centre, sd, lam, width)
    return ControlChart(points, centre, sd, len(baseline), True, *_alert(points))


def _ewma_points(
    window: pd.Series, centre: float, sd: float, lam: float, width: float
) -> list[ChartPoint]:
    points, ewma = [], centre
    days, values = pd.DatetimeIndex(window.index), window.to_numpy(float)
    for i, (day, value) in enumerate(zip(days, values, strict=True), start=1):
        ewma = lam * float(value) + (1 - lam) * ewma
        half = width * sd * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
        lcl, ucl = centre - half, centre + half
        points.append(ChartPoint(day.date(), float(value), ewma, centre, lcl, ucl, ewma < lcl))
    return points


def _alert(points: list[ChartPoint]) -> tuple[bool, date | None]:
    since = None
    for point in reversed(points):
        if not point.below:
            break
        since = point.day
    return since is not None, since


# --- anonymity ---------------------------------------------------------------------------------


def suppress(
    parents: Mapping[int, int | None],
    respondents: Mapping[int, int],
    k: int = DEFAULT_K,
    comment_k: int = DEFAULT_COMMENT_K,
) -> dict[int, Visibility]:
    """Which teams' figures and comments a manager may see, for one figure and period.

    A team's figure covers its whole subtree; `respondents` holds each team's own distinct
    respondents, each respondent in one team only (`respondents_by_team` does that).

    1. A figure from fewer than k respondents is hidden ("fewer than k answers").
    2. Shown figures of a laminar tree can be subtracted: a shown team minus the shown teams
       just below it (its frontier, looking through hidden teams) yields its *gap*: its own
       members plus every hidden team in between. Sums of gaps and shown figures are all that
       can be derived, so each shown team's gap must hold 0 or at least k respondents.
       Where it holds 1..k-1, the smallest team of the frontier is hidden too (the
       next-smallest sibling), until it holds enough; the parent stays shown.
    3. Comments follow the same rule with max(comment_k, k), and only where the figure shows.

    An organisation-wide figure needs a root team in `parents`; overlapping periods and
    filters are not covered here: show fixed periods, and run this once per filter.
    """
    if k < MIN_K:
        raise ValueError(f"the anonymity threshold k must be at least {MIN_K}, not {k}")
    children = _children(parents)
    totals = _subtree_totals(parents, respondents, children)
    small = {team for team, n in totals.items() if n < k}
    hidden = _complete(children, totals, k, small)
    ck = max(comment_k, k)
    quiet = _complete(children, totals, ck, {t for t, n in totals.items() if n < ck} | hidden)
    reasons = {team: _reason(team, small, hidden) for team in totals}
    return {
        team: Visibility(team, n, team not in hidden, team not in quiet, reasons[team])
        for team, n in totals.items()
    }


def _reason(team: int, small: set[int], hidden: set[int]) -> Reason:
    if team in small:
        return "fewer_than_k"
    return "complementary" if team in hidden else "shown"


def _children(parents: Mapping[int, int | None]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {team: [] for team in parents}
    for team, parent in parents.items():
        if parent is not None:
            if parent not in children:
                raise ValueError(f"team {team} has unknown parent {parent}")
            children[parent].append(team)
    return children


def _subtree_totals(
    parents: Mapping[int, int | None], own: Mapping[int, int], children: dict[int, list[int]]
) -> dict[int, int]:
    totals: dict[int, int] = {}
    for team in _bottom_up(parents, children):
        totals[team] = own.get(team, 0) + sum(totals[c] for c in children[team])
    return totals


def _bottom_up(parents: Mapping[int, int | None], children: dict[int, list[int]]) -> list[int]:
    order: list[int] = []
    stack = [team for team, parent in parents.items() if parent is None]
    while stack:
        team = stack.pop()
        order.append(team)
        stack.extend(children[team])
    if len(order) != len(parents):
        raise ValueError("the team tree has a cycle")
    return order[::-1]


def _complete(
    children: dict[int, list[int]], totals: dict[int, int], k: int, hidden: set[int]
) -> set[int]:
    # Hiding a frontier team changes only the gap of the team whose frontier it was in, so
    # one pass in any order reaches the fixed point.
    hidden = set(hidden)
    for team in totals:
        if team in hidden:
            continue
        frontier = _frontier(team, children, hidden)
        while 0 < totals[team] - sum(totals[f] for f in frontier) < k:
            smallest = min(frontier, key=lambda f: (totals[f], f))
            hidden.add(smallest)
            frontier = _frontier(team, children, hidden)
    return hidden


def _frontier(team: int, children: dict[int, list[int]], hidden: set[int]) -> list[int]:
    """The shown teams just below a team, looking through hidden ones."""
    found, stack = [], list(children[team])
    while stack:
        child = stack.pop()
        if child in hidden:
            stack.extend(children[child])
        else:
            found.append(child)
    return found
