"""The open channel's working hours: a weekly grid over the ``WorkingPeriod`` rows, and its holidays.

The rows stay the storage (one per opening period) and, without JavaScript, the form. With it,
``static/admin_hours/hours.js`` shows a grid instead: per weekday closed or one or more periods, a
"Copy Monday to weekdays" button, the channel's time zone named above it; it writes the rows back on save.
Either way the formset refuses periods of one day that overlap, naming the day.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels_app import models as m

_MIDNIGHT_MINUTES = 24 * 60


def _minutes(value: Any, *, closing: bool) -> int:
    minutes = value.hour * 60 + value.minute
    return _MIDNIGHT_MINUTES if closing and minutes == 0 else minutes


class WorkingPeriodFormSet(BaseInlineFormSet):
    """H1: a day's periods may touch but not overlap (09:00–13:00 and 13:00–17:00 is fine)."""

    def clean(self) -> None:
        super().clean()
        by_day: dict[int, list[tuple[int, int, Any, Any]]] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            weekday, start, end = data.get("weekday"), data.get("start"), data.get("end")
            if weekday is None or start is None or end is None:
                continue
            by_day.setdefault(int(weekday), []).append(
                (_minutes(start, closing=False), _minutes(end, closing=True), start, end)
            )
        problems = []
        for weekday, periods in sorted(by_day.items()):
            periods.sort()
            for earlier, later in itertools.pairwise(periods):
                if later[0] < earlier[1]:
                    problems.append(
                        gettext(
                            "%(day)s: %(first)s and %(second)s overlap; make one period end before the next starts."
                        )
                        % {
                            "day": m.WorkingPeriod.Weekday(weekday).label,
                            "first": f"{earlier[2]:%H:%M}–{earlier[3]:%H:%M}",
                            "second": f"{later[2]:%H:%M}–{later[3]:%H:%M}",
                        }
                    )
        if problems:
            raise ValidationError(problems)


class WorkingPeriodInline(admin.TabularInline):
    model = m.WorkingPeriod
    formset = WorkingPeriodFormSet
    extra = 0
    fields = ("weekday", "start", "end")
    classes = ["tab-working-hours", "working-hours-editor"]
    verbose_name_plural = _("Working hours (in the channel's time zone)")


class HolidayInline(admin.TabularInline):
    model = m.Holiday
    extra = 0
    classes = ["tab-working-hours"]
    verbose_name_plural = _("Holidays (closed all day)")


def working_hours_texts() -> dict[str, Any]:
    """The grid's words in the admin's language, for the page to hand to the script (``json_script``)."""
    return {
        "weekdays": [capfirst(str(label)) for _value, label in m.WorkingPeriod.Weekday.choices],
        "title": gettext("Weekly hours"),
        "zone": gettext("Times in %(zone)s"),
        "day": gettext("Day"),
        "open": gettext("Open"),
        "periods": gettext("Opening periods"),
        "closed": gettext("Closed all day"),
        "opens": gettext("Opens"),
        "closes": gettext("Closes"),
        "addPeriod": gettext("Add a period"),
        "removePeriod": gettext("Remove this period"),
        "copyMonday": gettext("Copy Monday to weekdays"),
        "copied": gettext("Monday's hours copied to Tuesday–Friday."),
        "closeAfterOpen": gettext("The period must close after it opens (00:00 means midnight)."),
        "midnight": gettext(
            "Times on a 24-hour clock (HH:MM); 00:00 as closing time means midnight at the end of the day."
        ),
        "timeFormat": gettext("Write the time as HH:MM on a 24-hour clock, for example 09:00 or 17:30."),
    }
