"""Forms of the supervisor pages: the period filter (K3, O2) and the supervisor rating (R3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from channels_app.models import OpenChannel
from channels_app.policy import search_text
from kpi.selectors import UNASSIGNED, KpiPeriod, OperatorFilter, channel_zones, today_for

DEFAULT_DAYS = 30
MAX_DAYS = 366


class KpiFilterForm(forms.Form):
    """Period (local dates, inclusive), open channel and, for the drill-down, operator.

    Every field is optional: an empty form means the last 30 days, all open
    channels, everyone. "Today" (the default and latest last day) is the open
    channel's local date; over several open channels, the latest of theirs.
    """

    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    open_channel = forms.ModelChoiceField(
        label=_("Open channel"), queryset=OpenChannel.objects.all(), required=False, empty_label=_("All open channels")
    )
    operator = forms.CharField(label=_("Operator"), required=False, widget=forms.HiddenInput)
    # The conversation list's search (issue 15): words of a message or the client's name, phone, e-mail.
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=search_text.QUERY_MAX_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Words, name, phone, e-mail")}),
    )

    def __init__(self, data, *, now: datetime, open_channels: QuerySet[OpenChannel], all_channels: bool) -> None:
        """``open_channels``: those the viewer supervises (every one when ``all_channels``, for an administrator)."""
        super().__init__(data)
        self.now = now
        self.all_channels = all_channels
        self.visible_channel_ids = frozenset(open_channels.values_list("pk", flat=True))
        cast(forms.ModelChoiceField, self.fields["open_channel"]).queryset = open_channels

    def clean_operator(self) -> OperatorFilter:
        value = (self.cleaned_data.get("operator") or "").strip()
        if not value:
            return None
        if value == UNASSIGNED:
            return UNASSIGNED
        if not value.isdigit() or not get_user_model().objects.filter(pk=int(value)).exists():
            raise forms.ValidationError("Unknown operator.")
        return int(value)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        channel = cleaned.get("open_channel")
        today = today_for(channel_zones(frozenset({channel.pk}) if channel else self.visible_channel_ids), self.now)
        end = cleaned.get("end") or (
            cleaned["start"] + timedelta(days=DEFAULT_DAYS - 1) if cleaned.get("start") else None
        )
        end = min(end, today) if end else today
        start = cleaned.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if start > end:
            raise forms.ValidationError("The period must start on or before its last day.")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"Choose a period of at most {MAX_DAYS} days.")
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def words(self) -> list[str]:
        """The search box's words, folded (none: no search)."""
        return search_text.query_words(self.cleaned_data.get("q") or "")

    def period(self) -> KpiPeriod:
        channel = self.cleaned_data.get("open_channel")
        return KpiPeriod(
            first_day=self.cleaned_data["start"],
            last_day=self.cleaned_data["end"],
            open_channel_id=channel.pk if channel else None,
            operator=self.cleaned_data.get("operator"),
            visible_channel_ids=None if self.all_channels else self.visible_channel_ids,
        )


class SupervisorRatingForm(forms.Form):
    """R3: a score from 1 to 5 and a comment."""

    score = forms.TypedChoiceField(
        label=_("Score"),
        choices=[(n, str(n)) for n in range(1, 6)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
