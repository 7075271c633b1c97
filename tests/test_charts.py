"""The manager view's charts: what is drawn, what is left out, and nothing unescaped."""

from __future__ import annotations

import re
from datetime import date, timedelta

from server import charts
from server.analytics import ChartPoint, ControlChart, LagPoint, MirrorGap, TeamWeek

MONDAY = date(2026, 9, 7)


def week(i: int, mood: float | None, csat: float | None) -> TeamWeek:
    monday = MONDAY + timedelta(weeks=i)
    return TeamWeek(1, monday, mood, 12 if mood else 0, csat, 30 if csat else 0)


def test_a_hidden_week_breaks_the_line_instead_of_bridging_it() -> None:
    svg = charts.weekly([week(0, 80, 70), week(1, None, 72), week(2, 60, None), week(3, 55, 50)])
    mood = re.search(r'class="line staff" d="([^"]*)"', svg)
    csat = re.search(r'class="line customer" d="([^"]*)"', svg)
    assert mood and csat
    assert mood.group(1).count("M") == 2, "mood: weeks 0 and 2-3, with a gap at week 1"
    assert csat.group(1).count("M") == 2, "csat: weeks 0-1 and 3, with a gap at week 2"
    assert svg.count('<circle class="dot staff"') == 3
    assert svg.count('<rect class="dot customer"') == 3


def test_values_are_placed_on_a_0_to_100_scale() -> None:
    svg = charts.weekly([week(0, 100, 0), week(1, 50, 50)])
    frame = charts.Frame(200, 0, 100)
    assert f'cy="{frame.y(100)}"' in svg
    assert f'y="{frame.y(0) - 4}"' in svg  # the square of CSAT 0 sits on the axis
    assert frame.y(100) == charts.TOP
    assert frame.y(0) == 200 - charts.BOTTOM


def test_an_action_is_a_marker_in_its_week_and_its_text_is_escaped() -> None:
    weeks = [week(i, 70, 70) for i in range(4)]
    svg = charts.weekly(weeks, [(MONDAY + timedelta(days=9), "<script>alert(1)</script>")])
    assert svg.count('class="marker"') == 1
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    x = re.search(r'class="marker" x1="([\d.]+)"', svg)
    assert x and float(x.group(1)) == charts._x(1, 4)
    outside = charts.weekly(weeks, [(MONDAY - timedelta(days=1), "before the period")])
    assert 'class="marker"' not in outside


def test_the_lag_chart_draws_only_the_lags_with_enough_data() -> None:
    points = [LagPoint(k, 0.5, 0.1, 0.8, 20, 1, True) for k in range(3)]
    points.append(LagPoint(3, None, None, None, 4, 1, False))
    svg = charts.lag(points)
    assert svg.count('class="interval"') == 3
    assert svg.count('<circle class="dot staff"') == 3
    assert ">3</text>" in svg, "the k axis still names the lag without data"


def test_the_control_chart_marks_each_day_below_the_lower_limit() -> None:
    days = [MONDAY + timedelta(days=i) for i in range(5)]
    points = [
        ChartPoint(d, 60, ewma, 70, 62, 78, ewma < 62)
        for d, ewma in zip(days, (70, 68, 64, 61, 58), strict=True)
    ]
    chart = ControlChart(points, 70, 8, 56, True, True, days[3])
    svg = charts.control(chart)
    assert svg.count('class="dot alarm"') == 2
    assert 'class="band"' in svg
    assert 'class="centre"' in svg


def test_the_mirror_chart_has_a_row_per_aspect_with_both_sides() -> None:
    gaps = [
        MirrorGap("speed", 80, 12, 55, 40, 25),
        MirrorGap("friendliness", 70, 12, 75, 40, -5),
        MirrorGap("expertise", None, 0, 60, 40, None),
    ]
    svg = charts.mirror(gaps, {"speed": "Snelheid", "friendliness": "Vriendelijkheid"}.get)
    assert "Snelheid" in svg and "Vriendelijkheid" in svg
    assert "expertise" not in svg, "an aspect without a staff side has nothing to compare"
    assert svg.count('class="gap"') == 2
    assert svg.count('class="dot customer"') == 2 and svg.count('class="dot staff"') == 2
