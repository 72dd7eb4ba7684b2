"""Template filters of the KPI pages: durations and scores a person reads at a glance, SVG numbers for the browser."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format

from kpi import charts

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 03 min``, ``1 d 4 h``; an em dash when there is nothing to show."""
    if seconds is None or seconds == "":
        return "—"
    total = round(float(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def score(value) -> str:
    """An average supervisor score to one decimal in the active language (``4,5`` in Polish), or an em dash."""
    if value is None:
        return "—"
    return number_format(float(value), decimal_pos=1)


@register.filter
def svg_number(value) -> str:
    """A number for an SVG attribute, written the same in every language (Django's own output follows it)."""
    return charts.svg_number(value)
