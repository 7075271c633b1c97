"""Analytics on literal frames whose right answers are worked out by hand in the comments."""

from __future__ import annotations

import math
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from scipy import stats

from server import analytics as a

# Hypothesis keeps a cache in ./.hypothesis even without an example database; in the
# working tree pytest (with this project's norecursedirs) warns about it, and warnings are
# errors.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "spiegel-hypothesis")

ZONE = "Europe/Amsterdam"
COLUMNS = [
    "respondent", "team", "kind", "question", "value", "scale_min", "scale_max",
    "answered_at", "contact_ref", "aspect", "comment",
]  # fmt: skip
# kind -> (question, scale_min, scale_max), as in the first migration's questions.
QUESTIONS = {
    "checkin": (1, 1, 2),
    "contact_self": (2, 1, 2),
    "enps": (3, 0, 10),
    "customer_csat": (4, 1, 4),
    "customer_nps": (5, 0, 10),
    "mirror_staff": (6, 1, 5),
    "customer_mirror": (9, 1, 5),
}


def epoch(local: str) -> int:
    """Seconds since the epoch of a wall-clock time in the organisation's zone."""
    return int(datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(ZONE)).timestamp())


def row(who: str, kind: str, value: int, when: str = "2026-11-02 09:00", **extra: Any) -> dict:
    question, low, high = QUESTIONS[kind]
    return {
        "respondent": who, "team": 1, "kind": kind, "question": question, "value": value,
        "scale_min": low, "scale_max": high, "answered_at": epoch(when),
        "contact_ref": None, "aspect": None, "comment": None, **extra,
    }  # fmt: skip


def frame(*rows: dict) -> pd.DataFrame:
    return a.localise(pd.DataFrame(list(rows), columns=COLUMNS), ZONE)


def checkins(values: list[int], scale: tuple[int, int] = (1, 2)) -> pd.DataFrame:
    """One check-in per person, all on the same day."""
    return frame(
        *(
            row(f"p{i}", "checkin", v, scale_min=scale[0], scale_max=scale[1])
            for i, v in enumerate(values)
        )
    )


# --- the frame and what counts ----------------------------------------------------------------


def test_localise_puts_days_and_iso_weeks_in_the_organisations_zone() -> None:
    # 23:30 UTC on Sunday 1 November is 00:30 on Monday 2 November in Amsterdam (CET, +1).
    late = int(datetime(2026, 11, 1, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp())
    f = a.localise(pd.DataFrame({"answered_at": [late, epoch("2026-11-01 22:30")]}), ZONE)
    assert [d.date() for d in f["day"]] == [date(2026, 11, 2), date(2026, 11, 1)]
    assert [w.date() for w in f["week"]] == [date(2026, 11, 2), date(2026, 10, 26)]
    assert f["at"].iloc[0].hour == 0


def test_retap_and_comment_answer_count_once_per_day_and_kiosk_taps_all_count() -> None:
    f = frame(
        row("p1", "checkin", 1, "2026-11-02 16:30"),
        row("p1", "checkin", 2, "2026-11-02 16:31"),  # re-tap: the happy face
        row("p1", "checkin", 2, "2026-11-02 16:33", comment="Drukke dag"),  # comment answer
        row("p1", "checkin", 1, "2026-11-03 16:30"),  # the next day counts on its own
        row("k-1", "checkin", 1, "2026-11-02 17:00"),  # three anonymous kiosk taps
        row("k-2", "checkin", 1, "2026-11-02 17:00"),
        row("k-3", "checkin", 2, "2026-11-02 17:00"),
    )
    counted = a.latest_per_day(f)
    p1 = counted[counted["respondent"] == "p1"]
    assert list(p1["value"]) == [2, 1]
    assert list(p1["comment"].fillna("")) == ["Drukke dag", ""]
    assert len(counted) == 5
    # Mood over the counted five: scores 100, 0, 0, 0, 100 -> 40; not 6 of 7 answers.
    assert a.mood(f).index == pytest.approx(40.0)
    assert a.mood(f).n == 5


def test_contact_ratings_count_per_contact_not_per_day() -> None:
    f = frame(
        row("p1", "contact_self", 2, "2026-11-02 10:00"),  # no reference: each a contact
        row("p1", "contact_self", 1, "2026-11-02 10:05"),
        row("p1", "contact_self", 1, "2026-11-02 11:00", contact_ref="T-1"),
        row("p1", "contact_self", 2, "2026-11-02 11:01", contact_ref="T-1"),  # re-rated
        row("p1", "contact_self", 2, "2026-11-02 12:00", contact_ref="T-2"),
    )
    counted = a.latest_per_day(f)
    assert len(counted) == 4
    assert list(counted.loc[counted["contact_ref"] == "T-1", "value"]) == [2]


# --- mood, participation, NPS, CSAT -----------------------------------------------------------


def test_mood_index_and_positive_share_with_hand_worked_wilson_interval() -> None:
    # Two faces: scores 100, 100, 100, 0 -> index 75; positive 3 of 4 = 75 %.
    # Wilson, z^2 = 3.8415: centre = (0.75 + 3.8415/8) / (1 + 3.8415/4) = 1.23019 / 1.96037
    # = 0.62753; half = 1.95996 / 1.96037 * sqrt(0.1875/4 + 3.8415/64) = 0.99979 * 0.32696
    # = 0.32689 -> 30.06 % .. 95.44 %.
    m = a.mood(checkins([2, 2, 2, 1]))
    assert m.index == pytest.approx(75.0)
    assert (m.positive.value, m.positive.count, m.n) == (75.0, 3, 4)
    assert m.positive.low == pytest.approx(30.06, abs=0.01)
    assert m.positive.high == pytest.approx(95.44, abs=0.01)


def test_positive_share_leaves_out_the_middle_face_of_three_and_five() -> None:
    # Three faces: scores 0, 50, 100 -> index 50; only the top face (100) is upper half.
    three = a.mood(checkins([1, 2, 3], scale=(1, 3)))
    assert three.index == pytest.approx(50.0)
    assert three.positive.count == 1
    # Five faces: 2, 3, 4, 5 -> scores 25, 50, 75, 100; positive 4 and 5 only.
    five = a.mood(checkins([2, 3, 4, 5], scale=(1, 5)))
    assert five.index == pytest.approx(62.5)
    assert five.positive.count == 2


def test_mood_of_no_checkins_is_none_not_nan() -> None:
    m = a.mood(frame(row("p1", "enps", 9)))
    assert m.index is None and m.positive.value is None and m.n == 0


def test_participation_counts_distinct_people_and_not_kiosk_taps() -> None:
    f = frame(
        row("p1", "checkin", 2, "2026-11-02 16:00"),
        row("p1", "checkin", 2, "2026-11-03 16:00"),
        row("p2", "enps", 7),
        row("k-1", "checkin", 2),
        row("k-2", "checkin", 2),
    )
    share = a.participation(f, members=8)  # p1 and p2 of 8 members
    assert (share.value, share.count, share.n) == (25.0, 2, 8)
    assert a.participation(f, members=0).value is None


def test_nps_of_known_set_matches_hand_worked_interval() -> None:
    # 10, 10, 9, 9, 9 promote (5), 8, 7 are passive (2), 6, 3, 0 detract (3) of n = 10:
    # NPS = 50 % - 30 % = 20.
    # Adjusted Wald: n' = 13, p = 5.75/13 = 0.44231, d = 3.75/13 = 0.28846, p - d = 0.15385;
    # SE = sqrt((0.73077 - 0.15385^2) / 13) = sqrt(0.70710 / 13) = 0.23322;
    # 0.15385 -/+ 1.96 * 0.23322 = -0.30326 .. 0.61096 -> -30.33 .. 61.10.
    values = [10, 10, 9, 9, 9, 8, 7, 6, 3, 0]
    f = frame(*(row(f"p{i}", "enps", v) for i, v in enumerate(values)))
    nps = a.net_score(f, "enps")
    assert (nps.score, nps.n) == (20.0, 10)
    assert (nps.promoters, nps.passives, nps.detractors) == (5, 2, 3)
    assert nps.low == pytest.approx(-30.33, abs=0.01)
    assert nps.high == pytest.approx(61.10, abs=0.01)
    assert a.net_score(f, "customer_nps").score is None


def test_nps_interval_is_clipped_at_100_when_everyone_promotes() -> None:
    # Four 10s: n' = 7, p = 4.75/7, d = 0.75/7, p - d = 0.57143, SE = 0.25612;
    # high = 0.57143 + 0.50200 = 1.0734 -> clipped to 100; low = 6.94.
    f = frame(*(row(f"c{i}", "customer_nps", 10) for i in range(4)))
    nps = a.net_score(f, "customer_nps")
    assert (nps.score, nps.high) == (100.0, 100.0)
    assert nps.low == pytest.approx(6.94, abs=0.01)


def test_csat_on_four_faces_counts_the_top_two() -> None:
    f = frame(*(row(f"c{i}", "customer_csat", v) for i, v in enumerate([1, 2, 3, 4, 4])))
    share = a.csat(f)  # 3, 4, 4 of five
    assert (share.value, share.count, share.n) == (60.0, 3, 5)


def test_csat_on_five_faces_counts_four_and_five_but_not_three() -> None:
    f = frame(
        *(
            row(f"c{i}", "customer_csat", v, scale_max=5)
            for i, v in enumerate([5, 4, 3, 3, 2, 1, 5, 4])
        )
    )
    assert a.csat(f).count == 4
    assert a.csat(f).value == 50.0


def test_csat_on_two_and_three_faces_counts_the_top_face_only() -> None:
    two = frame(*(row(f"c{i}", "customer_csat", v, scale_max=2) for i, v in enumerate([1, 2, 2])))
    three = frame(
        *(row(f"c{i}", "customer_csat", v, scale_max=3) for i, v in enumerate([1, 2, 3, 3]))
    )
    assert a.csat(two).count == 2
    assert a.csat(three).count == 2  # the middle face 2 is not satisfied


@pytest.mark.parametrize(("count", "n"), [(0, 5), (3, 4), (17, 40), (40, 40), (1, 1)])
def test_wilson_interval_agrees_with_scipy(count: int, n: int) -> None:
    ours = a.wilson(count, n)
    theirs = stats.binomtest(count, n).proportion_ci(0.95, method="wilson")
    assert ours.low == pytest.approx(theirs.low * 100, abs=1e-9)
    assert ours.high == pytest.approx(theirs.high * 100, abs=1e-9)


# --- self vs customer and the mirror ----------------------------------------------------------


def test_self_vs_customer_pairs_contacts_within_the_window_and_finds_one_miss() -> None:
    f = frame(
        # T-1: agent happy (100), customer 4 of 4 (100): gap 0.
        row("p1", "contact_self", 2, "2026-11-02 10:00", contact_ref="T-1"),
        row("x-1", "customer_csat", 4, "2026-11-02 10:30", contact_ref="T-1"),
        # T-2: agent happy (100), customer 1 of 4 (0): gap 100, a miss.
        row("p1", "contact_self", 2, "2026-11-02 11:00", contact_ref="T-2"),
        row("x-2", "customer_csat", 1, "2026-11-03 09:00", contact_ref="T-2"),
        # T-3: agent unhappy (0), customer 3 of 4 (66.67): gap -66.67, not a miss.
        row("p2", "contact_self", 1, "2026-11-02 12:00", contact_ref="T-3"),
        row("x-3", "customer_csat", 3, "2026-11-02 12:10", contact_ref="T-3"),
        # T-4: the customer answered 20 days later, outside the 14-day window: no pair.
        row("p2", "contact_self", 2, "2026-11-02 13:00", contact_ref="T-4"),
        row("x-4", "customer_csat", 1, "2026-11-22 13:00", contact_ref="T-4"),
        # T-5: no customer rating at all.
        row("p2", "contact_self", 2, "2026-11-02 14:00", contact_ref="T-5"),
        # T-6: agent happy, customer the middle face 3 of 5 (50): gap 50, neither half: no miss.
        row("p3", "contact_self", 2, "2026-11-02 15:00", contact_ref="T-6"),
        row("x-6", "customer_csat", 3, "2026-11-02 15:05", contact_ref="T-6", scale_max=5),
    )
    result = a.self_vs_customer(f, window_days=14)
    # Gaps 0, 100, -66.67, 50 -> mean 83.33 / 4 = 20.83; self mean 300 / 4 = 75; customer
    # mean (100 + 0 + 66.67 + 50) / 4 = 54.17.
    assert result.pairs == 4
    assert result.mean_gap == pytest.approx(250 / 12)
    assert result.self_mean == pytest.approx(75.0)
    assert result.customer_mean == pytest.approx(650 / 12)
    assert (result.misses, result.miss_rate.count, result.miss_rate.n) == (1, 1, 4)
    assert result.miss_rate.value == pytest.approx(25.0)
    # With a 30-day window T-4 pairs too, and is a second miss.
    assert a.self_vs_customer(f, window_days=30).misses == 2


def test_mirror_gap_is_staff_prediction_minus_customer_mean_per_aspect() -> None:
    staff = {"speed": 6, "friendliness": 7}  # a question per aspect, as in the migration
    customer = {"speed": 9, "friendliness": 10, "expertise": 11}

    def mirror(who: str, kind: str, value: int, aspect: str) -> dict:
        question = (staff if kind == "mirror_staff" else customer)[aspect]
        return row(who, kind, value, question=question, aspect=aspect)

    f = frame(
        # speed, five faces: staff predict 4 and 5 (75, 100 -> 87.5); customers give 2 and 3
        # (25, 50 -> 37.5): gap 50.
        mirror("p1", "mirror_staff", 4, "speed"),
        mirror("p2", "mirror_staff", 5, "speed"),
        mirror("c1", "customer_mirror", 2, "speed"),
        mirror("c2", "customer_mirror", 3, "speed"),
        # friendliness: staff 3 (50), customers 5, 5, 4 (100, 100, 75 -> 91.67): gap -41.67.
        mirror("p1", "mirror_staff", 3, "friendliness"),
        mirror("c3", "customer_mirror", 5, "friendliness"),
        mirror("c4", "customer_mirror", 5, "friendliness"),
        mirror("c5", "customer_mirror", 4, "friendliness"),
        # expertise: only customers so far.
        mirror("c6", "customer_mirror", 4, "expertise"),
    )
    gaps = {g.aspect: g for g in a.mirror_gaps(f)}
    assert list(gaps) == ["expertise", "friendliness", "speed"]
    assert gaps["speed"].gap == pytest.approx(50.0)
    assert (gaps["speed"].staff_n, gaps["speed"].customer_n) == (2, 2)
    assert gaps["friendliness"].gap == pytest.approx(50 - 275 / 3)
    assert gaps["expertise"].gap is None and gaps["expertise"].staff_mean is None


# --- EX -> CX ----------------------------------------------------------------------------------


def test_weekly_by_team_gives_mood_and_csat_per_iso_week() -> None:
    f = frame(
        row("p1", "checkin", 2, "2026-11-02 16:00"),  # week of Monday 2 November
        row("p2", "checkin", 1, "2026-11-08 16:00"),  # Sunday: same week
        row("p1", "checkin", 2, "2026-11-09 16:00"),  # next week
        row("c1", "customer_csat", 4, "2026-11-03 12:00"),
        row("c2", "customer_csat", 2, "2026-11-03 12:00", team=2),
    )
    weeks = a.team_weeks(a.weekly_by_team(f))
    assert weeks == [
        a.TeamWeek(1, date(2026, 11, 2), 50.0, 2, 100.0, 1),
        a.TeamWeek(1, date(2026, 11, 9), 100.0, 1, None, 0),
        a.TeamWeek(2, date(2026, 11, 2), None, 0, 0.0, 1),
    ]


MONDAY = pd.Timestamp("2026-01-05")


def weekly(teams: dict[int, tuple[list[float], list[float]]]) -> pd.DataFrame:
    """A weekly frame from per-team (mood, csat) series starting on the same Monday."""
    parts = [
        pd.DataFrame(
            {
                "team": team,
                "week": [MONDAY + pd.Timedelta(weeks=w) for w in range(len(mood))],
                "mood": mood,
                "csat": csat,
            }
        )
        for team, (mood, csat) in teams.items()
    ]
    return pd.concat(parts, ignore_index=True)


def following(rng: np.random.Generator, weeks: int, level: float, lag: int) -> tuple[list, list]:
    """A mood series and a CSAT series that repeats it `lag` weeks later, plus some noise."""
    mood = level + rng.normal(0, 10, weeks + lag)
    csat = 0.8 * mood[:weeks] + 15 + rng.normal(0, 3, weeks)
    return list(mood[lag:]), list(csat)


def test_lag_correlation_peaks_at_two_weeks_when_csat_follows_mood_by_two() -> None:
    rng = np.random.default_rng(42)
    # csat[w] follows mood[w - 2]: three teams at different levels, 26 weeks each.
    data = weekly({t: following(rng, 26, level, lag=2) for t, level in [(1, 60), (2, 75), (3, 85)]})
    points = a.lag_correlation(data)
    assert [p.k for p in points] == list(range(9))
    best = max(points, key=lambda p: p.r or -1)
    assert best.k == 2
    assert best.r is not None and best.r > 0.8
    assert all(p.r is not None and abs(p.r) < 0.5 for p in points if p.k != 2)
    # 3 teams x (26 - 2) pairs; the interval excludes 0 only at the peak.
    assert (best.n, best.teams, best.enough_data) == (72, 3, True)
    assert best.low is not None and best.low > 0.6


def test_lag_correlation_of_one_team_agrees_with_scipy_pearsonr_and_its_interval() -> None:
    rng = np.random.default_rng(3)
    mood, csat = following(rng, 20, 70, lag=1)
    point = a.lag_correlation(weekly({1: (mood, csat)}), max_lag=1)[1]
    # Mood of weeks 0..18 against CSAT of weeks 1..19.
    reference = stats.pearsonr(mood[:-1], csat[1:])
    interval = reference.confidence_interval(0.95)
    assert point.n == 19
    assert point.r == pytest.approx(reference.statistic, abs=1e-12)
    assert (point.low, point.high) == pytest.approx((interval.low, interval.high), abs=1e-9)


def test_lag_correlation_is_within_team_so_levels_alone_correlate_nothing() -> None:
    rng = np.random.default_rng(5)
    # Team 2 is better at both, but within each team CSAT is unrelated to mood.
    noise = {t: lvl + rng.normal(0, 5, (2, 15)) for t, lvl in [(1, 40), (2, 90)]}
    data = weekly({t: (list(mood), list(csat)) for t, (mood, csat) in noise.items()})
    pooled = stats.pearsonr(data["mood"], data["csat"]).statistic
    point = a.lag_correlation(data, max_lag=0)[0]
    centred = data.groupby("team")[["mood", "csat"]].transform(lambda s: s - s.mean())
    assert pooled > 0.9
    assert point.r == pytest.approx(stats.pearsonr(centred["mood"], centred["csat"]).statistic)
    assert point.r is not None and abs(point.r) < 0.5
    # Fisher z with n' = 30 - 2 + 1 = 29 pairs: half-width 1.96 / sqrt(26) on the z scale.
    half = 1.959964 / math.sqrt(26)
    assert point.low == pytest.approx(math.tanh(math.atanh(point.r) - half), abs=1e-6)


def test_lag_correlation_says_not_enough_data_below_the_minimum_of_pairs() -> None:
    rng = np.random.default_rng(1)
    mood, csat = following(rng, 10, 70, lag=0)
    ten = a.lag_correlation(weekly({1: (mood, csat)}), max_lag=1)
    nine = a.lag_correlation(weekly({1: (mood[:9], csat[:9])}), max_lag=0)
    assert (ten[0].n, ten[0].enough_data) == (10, True) and ten[0].r is not None
    assert (ten[1].n, ten[1].enough_data, ten[1].r, ten[1].low) == (9, False, None, None)
    assert (nine[0].n, nine[0].r) == (9, None)


# --- early warning -------------------------------------------------------------------------------


def days_series(values: list[float], first: str = "2026-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(first, periods=len(values), freq="D"))


def test_ewma_chart_matches_hand_worked_limits_and_alarms_on_the_second_low_day() -> None:
    # Baseline: 56 days alternating 70 and 90 -> centre 80, sd = sqrt(56 * 100 / 55) = 10.0905.
    # Day 1 at 50: ewma = 0.2 * 50 + 0.8 * 80 = 74; LCL = 80 - 3 * sd * sqrt(0.2 / 1.8 * (1 -
    # 0.8^2)) = 80 - 0.6 * sd = 73.946: not below. Day 2 at 50: ewma = 10 + 0.8 * 74 = 69.2;
    # LCL = 80 - 3 * sd * sqrt(0.2 / 1.8 * (1 - 0.8^4)) = 80 - 0.76838 * sd = 72.247: below.
    daily = days_series([70.0, 90.0] * 28 + [50.0, 50.0])
    chart = a.control_chart(daily, window_days=2)
    first, second = chart.points
    assert (chart.centre, chart.baseline_days) == (80.0, 56)
    assert chart.sd == pytest.approx(10.0905, abs=1e-4)
    assert (first.ewma, first.below) == (pytest.approx(74.0), False)
    assert first.lcl == pytest.approx(73.946, abs=1e-3)
    assert second.ewma == pytest.approx(69.2)
    assert second.lcl == pytest.approx(72.247, abs=1e-3)
    assert (chart.alert, chart.alert_since) == (True, second.day)


def test_ewma_chart_gives_no_alert_on_stable_noise() -> None:
    rng = np.random.default_rng(2026)
    daily = days_series(list(np.clip(rng.normal(75, 8, 84), 0, 100)))
    chart = a.control_chart(daily)
    assert chart.enough_data and len(chart.points) == 28
    assert not chart.alert and chart.alert_since is None
    assert not any(p.below for p in chart.points)


def test_ewma_chart_alerts_soon_after_a_constructed_drop_in_answers() -> None:
    rng = np.random.default_rng(11)
    start, drop = date(2026, 1, 1), date(2026, 3, 12)  # 84 days; the last 14 are bad
    rows = []
    for d in range(84):
        day = start + timedelta(days=d)
        happy = 0.8 if day < drop else 0.45
        for person in range(12):
            value = 2 if rng.random() < happy else 1
            rows.append(row(f"p{person}", "checkin", value, f"{day} 16:30"))
            if rng.random() < 0.2:  # a re-tap the same day must not count twice
                rows.append(row(f"p{person}", "checkin", 3 - value, f"{day} 16:00"))
    chart = a.control_chart(a.daily_mood(frame(*rows)))
    assert chart.alert
    assert chart.alert_since is not None and drop <= chart.alert_since <= drop + timedelta(days=4)
    assert not any(p.below for p in chart.points if p.day < drop)


def test_ewma_chart_needs_a_baseline_of_twenty_days() -> None:
    chart = a.control_chart(days_series([80.0] * 19 + [10.0] * 28))
    assert (chart.enough_data, chart.alert, chart.points, chart.baseline_days) == (
        False, False, [], 19,
    )  # fmt: skip


# --- anonymity ----------------------------------------------------------------------------------


def test_team_of_four_is_hidden_with_k_five() -> None:
    shown = a.suppress({1: None}, {1: 4}, k=5)[1]
    assert (shown.shown, shown.comments, shown.reason) == (False, False, "fewer_than_k")
    assert a.suppress({1: None}, {1: 5}, k=5)[1].shown


def test_hidden_child_takes_the_next_smallest_sibling_with_it() -> None:
    # Region 1 (no own members) over shops 2 (6), 3 (7), 4 (4). Shop 4 is under k = 5; the
    # region (17) minus shops 2 and 3 would reveal it, so shop 2, the smallest shown sibling,
    # is hidden too: the region minus shop 3 now gives shops 2 and 4 together, 10 people.
    seen = a.suppress({1: None, 2: 1, 3: 1, 4: 1}, {2: 6, 3: 7, 4: 4}, k=5)
    assert {t: v.reason for t, v in seen.items()} == {
        1: "shown", 2: "complementary", 3: "shown", 4: "fewer_than_k",
    }  # fmt: skip


def test_parents_own_few_members_cannot_be_found_by_subtraction() -> None:
    # Team 1 has 2 members of its own and children of 6 and 8: 16 minus 6 minus 8 would give
    # the two. Hiding child 2 makes the remainder 8 people.
    seen = a.suppress({1: None, 2: 1, 3: 1}, {1: 2, 2: 6, 3: 8}, k=5)
    assert [seen[t].shown for t in (1, 2, 3)] == [True, False, True]
    # With no own members there is nothing to reveal, and both children show.
    assert all(v.shown for v in a.suppress({1: None, 2: 1, 3: 1}, {2: 6, 3: 8}, k=5).values())


def test_comments_show_only_for_groups_of_the_comment_threshold() -> None:
    seen = a.suppress({1: None, 2: 1, 3: 1}, {2: 12, 3: 6}, k=5, comment_k=10)
    # Figures: 18, 12 and 6 all show. Comments: team 3 (6) is too small, and team 1's comments
    # minus team 2's would be team 3's, so team 2's comments are hidden as well.
    assert [seen[t].shown for t in (1, 2, 3)] == [True, True, True]
    assert [seen[t].comments for t in (1, 2, 3)] == [True, False, False]


def test_a_threshold_below_three_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        a.suppress({1: None}, {1: 2}, k=2)


def test_respondents_by_team_counts_a_person_who_moved_once_in_their_latest_team() -> None:
    f = frame(
        row("p1", "checkin", 2, "2026-11-02 16:00", team=1),
        row("p1", "checkin", 2, "2026-11-05 16:00", team=2),
        row("p2", "checkin", 2, "2026-11-02 16:00", team=1),
        row("k-1", "checkin", 2, "2026-11-02 16:00", team=2),
        row("p3", "enps", 8, team=1),
    )
    assert a.respondents_by_team(f, ["checkin"]) == {1: 1, 2: 2}


@st.composite
def organisations(draw: st.DrawFn) -> tuple[dict[int, int | None], dict[int, int], int, int]:
    size = draw(st.integers(1, 12))
    parents: dict[int, int | None] = {}
    for team in range(size):
        parents[team] = draw(st.none() | st.integers(0, team - 1)) if team else None
    own = {team: draw(st.integers(0, 12)) for team in range(size)}
    k = draw(st.integers(3, 7))
    return parents, own, k, draw(st.integers(k, 14))


def members(parents: dict[int, int | None], own: dict[int, int]) -> dict[int, set[str]]:
    """Each team's subtree as explicit respondents."""
    sets: dict[int, set[str]] = {team: set() for team in parents}
    for team, count in own.items():
        node: int | None = team
        while node is not None:
            sets[node] |= {f"{team}-{i}" for i in range(count)}
            node = parents[node]
    return sets


def hidden_remainders(sets: dict[int, set[str]], visible: set[int]) -> list[set[str]]:
    """For each visible team, its respondents minus those of every visible team inside it.

    Subtracting visible figures (with their n) from one another can isolate exactly these
    remainders and their unions, nothing smaller: the teams form a nested family.
    """
    remainders = []
    for team in visible:
        inside = [sets[o] for o in visible if o != team and sets[o] < sets[team]]
        remainders.append(sets[team] - set().union(*inside))
    return remainders


@settings(max_examples=300, deadline=None, database=None)
@given(organisations())
def test_no_suppressed_group_can_be_derived_by_subtraction(
    org: tuple[dict[int, int | None], dict[int, int], int, int],
) -> None:
    parents, own, k, comment_k = org
    seen = a.suppress(parents, own, k=k, comment_k=comment_k)
    sets = members(parents, own)
    shown = {t for t, v in seen.items() if v.shown}
    commented = {t for t, v in seen.items() if v.comments}
    assert all(len(sets[t]) >= k for t in shown)
    assert all(len(sets[t]) >= comment_k for t in commented) and commented <= shown
    assert all(len(r) == 0 or len(r) >= k for r in hidden_remainders(sets, shown))
    assert all(len(r) == 0 or len(r) >= comment_k for r in hidden_remainders(sets, commented))
    # Not by hiding everything: a top team with enough respondents always shows.
    assert all(t in shown for t, p in parents.items() if p is None and len(sets[t]) >= k)
