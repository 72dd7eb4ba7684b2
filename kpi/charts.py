"""Geometry of the KPI page's daily chart, drawn as inline SVG by the template (no JavaScript).

Two kinds of numbers meet here. Geometry (coordinates, sizes, point lists) is
read by the browser and is written by ``svg_number`` in plain notation in every
language: a Polish or Vietnamese decimal comma (``y="16,0"``) or a grouping
space (``1 100``) would make the browser drop the shape. Axis labels and
titles are read by people and follow the active language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kpi.selectors import DayPoint

WIDTH, HEIGHT = 1100, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 44, 16, 34
MAX_DATE_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    lines: list[str]  # SVG polyline point lists; a day with no answer breaks the line
    dots: list[Dot]
    bars: list[Bar]
    minute_ticks: list[Tick]  # left axis: average response time
    miss_ticks: list[Tick]  # right axis: misses per day
    date_ticks: list[Tick]
    has_data: bool


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^n at or above ``value`` (a readable axis maximum)."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def svg_number(value: float) -> str:
    """A coordinate or size for an SVG attribute: at most one decimal, a dot, no grouping, whatever the language."""
    return f"{round(float(value), 1):g}"


def _axis_label(value: float) -> str:
    """An axis value as people read it in the active language (``2.5`` in English, ``2,5`` in Polish)."""
    return number_format(Decimal(f"{value:g}"))


def daily_chart(days: list[DayPoint]) -> Chart:
    """Average response time per day (line, minutes, left axis) over misses per day (bars, right axis)."""
    plot_right, plot_bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    plot_width, plot_height = plot_right - LEFT, plot_bottom - TOP
    step = plot_width / max(len(days), 1)
    minute_max = _nice_ceiling(max((d.average_seconds or 0) / 60 for d in days) if days else 0)
    miss_max = _nice_ceiling(max((d.misses for d in days), default=0))
    miss_max = max(miss_max, 1.0)

    def y_for(value: float, maximum: float) -> float:
        return plot_bottom - plot_height * (value / maximum)

    lines: list[str] = []
    segment: list[str] = []
    dots: list[Dot] = []
    bars: list[Bar] = []
    for index, day in enumerate(days):
        x = LEFT + step * (index + 0.5)
        label = date_format(day.day, "D j M Y")  # in the active language
        if day.misses:
            top = y_for(day.misses, miss_max)
            width = max(step * 0.6, 1.0)
            bars.append(
                Bar(
                    x - width / 2,
                    top,
                    width,
                    plot_bottom - top,
                    _("%(day)s: %(count)d missed") % {"day": label, "count": day.misses},
                )
            )
        if day.average_seconds is None:
            if segment:
                lines.append(" ".join(segment))
                segment = []
            continue
        y = y_for(day.average_seconds / 60, minute_max)
        segment.append(f"{svg_number(x)},{svg_number(y)}")
        minutes = day.average_seconds / 60
        title = ngettext(
            "%(day)s: average %(minutes).1f min over %(count)d response",
            "%(day)s: average %(minutes).1f min over %(count)d responses",
            day.responses,
        ) % {"day": label, "minutes": minutes, "count": day.responses}
        dots.append(Dot(x, y, title))
    if segment:
        lines.append(" ".join(segment))

    minute_ticks = [Tick(y_for(minute_max * n / 4, minute_max), _axis_label(minute_max * n / 4)) for n in range(5)]
    miss_ticks = [Tick(y_for(miss_max * n / 4, miss_max), _axis_label(round(miss_max * n / 4, 2))) for n in range(5)]
    label_every = max(1, math.ceil(len(days) / MAX_DATE_LABELS))
    date_ticks = [
        Tick(LEFT + step * (index + 0.5), date_format(day.day, "d M"))  # month in the active language
        for index, day in enumerate(days)
        if index % label_every == 0
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=plot_right,
        plot_top=TOP,
        plot_bottom=plot_bottom,
        lines=lines,
        dots=dots,
        bars=bars,
        minute_ticks=minute_ticks,
        miss_ticks=miss_ticks,
        date_ticks=date_ticks,
        has_data=any(d.responses or d.misses for d in days),
    )
