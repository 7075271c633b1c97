"""Charts for the manager view, drawn on the server as inline SVG: no script, no framework.

Pure functions: analytics Structs in, SVG markup out. Colours come from the design system's
CSS classes (pwa/app.css), so light and dark both work; every chart is `aria-hidden` and the
page puts the same numbers in a table beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from server.analytics import ControlChart, LagPoint, MirrorGap, TeamWeek

# Drawn for a phone: 360 units wide, so that 12-unit text stays readable at 360 px; on a
# wider screen the chart grows to at most 34 rem (pwa/app.css).
WIDTH = 360
LEFT, RIGHT, TOP, BOTTOM = 34, 10, 10, 24


@dataclass(frozen=True)
class Frame:
    """The plotting area of a chart and its value range on the y axis."""

    height: int
    low: float
    high: float

    @property
    def inner(self) -> int:
        return self.height - TOP - BOTTOM

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return round(TOP + (self.high - value) / span * self.inner, 1)


def _x(index: int, count: int) -> float:
    if count <= 1:
        return LEFT + (WIDTH - LEFT - RIGHT) / 2
    return round(LEFT + index * (WIDTH - LEFT - RIGHT) / (count - 1), 1)


def _svg(frame: Frame, body: str, css: str) -> Markup:
    return Markup(
        f'<svg class="plot {css}" viewBox="0 0 {WIDTH} {frame.height}" role="presentation"'
        f' aria-hidden="true" focusable="false">{body}</svg>'
    )


def _grid(frame: Frame, ticks: Sequence[float], label: Callable[[float], str]) -> str:
    lines = []
    for tick in ticks:
        y = frame.y(tick)
        lines.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{label(tick)}</text>'
        )
    return "".join(lines)


def _path(points: Sequence[tuple[float, float] | None]) -> str:
    """An SVG path through the points; a None breaks the line (a hidden or empty week)."""
    parts, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{point[0]},{point[1]}")
        pen_down = True
    return " ".join(parts)


def _dot(x: float, y: float, series: str, size: float = 4) -> str:
    """Staff are circles, customers squares: the shape tells the series without colour."""
    if series == "customer":
        return (
            f'<rect class="dot customer" x="{x - size}" y="{y - size}"'
            f' width="{2 * size}" height="{2 * size}"/>'
        )
    return f'<circle class="dot {series}" cx="{x}" cy="{y}" r="{size}"/>'


def _dots(points: Sequence[tuple[float, float] | None], series: str) -> str:
    return "".join(_dot(p[0], p[1], series) for p in points if p is not None)


def _series(frame: Frame, values: Sequence[float | None]) -> list[tuple[float, float] | None]:
    count = len(values)
    return [None if v is None else (_x(i, count), frame.y(v)) for i, v in enumerate(values)]


def _labels(frame: Frame, labels: Sequence[str], every: int = 1) -> str:
    count = len(labels)
    return "".join(
        f'<text class="axis" x="{_x(i, count)}" y="{frame.height - 8}" text-anchor="middle">'
        f"{escape(text)}</text>"
        for i, text in enumerate(labels)
        if i % every == 0
    )


def weekly(
    weeks: Sequence[TeamWeek],
    markers: Sequence[tuple[date, str]] = (),
    label: Callable[[date], str] = lambda d: f"{d.day}-{d.month}",
) -> Markup:
    """Mood index and CSAT per week on one 0..100 scale; actions as dashed markers."""
    frame = Frame(200, 0, 100)
    count = len(weeks)
    mood = _series(frame, [w.mood for w in weeks])
    csat = _series(frame, [w.csat for w in weeks])
    body = [_grid(frame, (0, 25, 50, 75, 100), lambda v: f"{v:.0f}")]
    body.append(_labels(frame, [label(w.week) for w in weeks], max(1, count // 4)))
    for on, what in markers:
        index = _week_index(weeks, on)
        if index is None:
            continue
        x = _x(index, count)
        body.append(
            f'<line class="marker" x1="{x}" x2="{x}" y1="{TOP}" y2="{TOP + frame.inner}"/>'
            f'<text class="marker-label" x="{x + 4}" y="{TOP + 12}">{escape(what[:24])}</text>'
        )
    body.append(f'<path class="line staff" d="{_path(mood)}"/>{_dots(mood, "staff")}')
    body.append(f'<path class="line customer" d="{_path(csat)}"/>{_dots(csat, "customer")}')
    return _svg(frame, "".join(body), "weekly")


def _week_index(weeks: Sequence[TeamWeek], on: date) -> int | None:
    for i, week in enumerate(weeks):
        if week.week <= on and (on - week.week).days < 7:
            return i
    return None


def lag(points: Sequence[LagPoint]) -> Markup:
    """The correlation of mood with CSAT k weeks later, with its 95 % interval per k."""
    frame = Frame(180, -1, 1)
    count = len(points)
    body = [_grid(frame, (-1, -0.5, 0, 0.5, 1), lambda v: f"{v:+.1f}".replace("+0.0", "0"))]
    body.append(_labels(frame, [str(p.k) for p in points]))
    for i, point in enumerate(points):
        x = _x(i, count)
        if point.r is None or point.low is None or point.high is None:
            continue
        body.append(
            f'<line class="interval" x1="{x}" x2="{x}" y1="{frame.y(point.high)}"'
            f' y2="{frame.y(point.low)}"/>{_dot(x, frame.y(point.r), "staff", 5)}'
        )
    return _svg(frame, "".join(body), "lag")


def control(
    chart: ControlChart, label: Callable[[date], str] = lambda d: f"{d.day}-{d.month}"
) -> Markup:
    """The daily mood's EWMA between its control limits; days below the lower limit marked."""
    points = chart.points
    values = [p.lcl for p in points] + [p.ucl for p in points] + [p.ewma for p in points]
    low, high = min(values, default=0.0), max(values, default=100.0)
    frame = Frame(180, max(0.0, low - 5), min(100.0, high + 5))
    count = len(points)
    band_top = [(_x(i, count), frame.y(p.ucl)) for i, p in enumerate(points)]
    band_low = [(_x(i, count), frame.y(p.lcl)) for i, p in reversed(list(enumerate(points)))]
    band = " ".join(f"{x},{y}" for x, y in band_top + band_low)
    ewma = [(_x(i, count), frame.y(p.ewma)) for i, p in enumerate(points)]
    ticks = sorted({round(frame.low), round((frame.low + frame.high) / 2), round(frame.high)})
    body = [_grid(frame, ticks, lambda v: f"{v:.0f}")]
    if band:
        body.append(f'<polygon class="band" points="{band}"/>')
    if chart.centre is not None:
        y = frame.y(chart.centre)
        body.append(f'<line class="centre" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
    body.append(f'<path class="line staff" d="{_path(ewma)}"/>')
    body.extend(
        _dot(x, y, "alarm", 4.5)
        for (x, y), p in zip(ewma, points, strict=True)
        if p.below
    )
    body.append(_labels(frame, [label(p.day) for p in points], max(1, count // 4)))
    return _svg(frame, "".join(body), "control")


def mirror(gaps: Sequence[MirrorGap], name: Callable[[str], str] = str) -> Markup:
    """Per aspect, staff's predicted mean against customers' mean: a bar from one to the other."""
    rows = [g for g in gaps if g.staff_mean is not None and g.customer_mean is not None]
    height = TOP + BOTTOM + 36 * max(1, len(rows))
    frame = Frame(height, 0, 100)
    left, right = 96, WIDTH - RIGHT

    def x(value: float) -> float:
        return round(left + value / 100 * (right - left), 1)

    body = [
        f'<line class="grid" x1="{x(v)}" x2="{x(v)}" y1="{TOP}" y2="{height - BOTTOM}"/>'
        f'<text class="axis" x="{x(v)}" y="{height - 8}" text-anchor="middle">{v}</text>'
        for v in (0, 50, 100)
    ]
    for i, gap in enumerate(rows):
        assert gap.staff_mean is not None and gap.customer_mean is not None
        y = TOP + 18 + i * 36
        body.append(
            f'<text class="axis" x="{left - 8}" y="{y + 4}" text-anchor="end">'
            f"{escape(name(gap.aspect))}</text>"
            f'<line class="gap" x1="{x(gap.customer_mean)}" x2="{x(gap.staff_mean)}"'
            f' y1="{y}" y2="{y}"/>'
            + _dot(x(gap.customer_mean), y, "customer", 6)
            + _dot(x(gap.staff_mean), y, "staff", 6)
        )
    return _svg(frame, "".join(body), "mirror")
