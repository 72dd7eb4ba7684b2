"""The open channel's queue editor: who takes its conversations, in which order.

The picker offers only people who can operate (the Operators group or an operator profile), by the name they
are shown by and with their presence. Rows are ordered by dragging a handle or by the keyboard
(``static/admin_queue/queue.js``); without JavaScript the positions are typed. Either way the formset stores
positions 1..n in the order shown, so two members never share a place, and refuses anyone who cannot operate
with a message that says what to do.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels_app import models as m
from channels_app.engine import roles

User = get_user_model()

# A position left empty (possible without JavaScript) puts the row at the end of the queue.
_LAST = 2**31


def _presence_label(user: Any) -> str:
    """As colleagues see them: offline without a live console or by choice, away by choice, else online."""
    profile = getattr(user, "operator_profile", None)
    if profile is None or not profile.is_online or profile.availability == m.OperatorAvailability.OFFLINE:
        return gettext("offline")
    return gettext("away") if profile.availability == m.OperatorAvailability.AWAY else gettext("online")


def cannot_operate_message(user: Any) -> str:
    return gettext(
        "%(name)s cannot take conversations: they have no operator profile and are not in the Operators group. "
        "Give them an operator profile under Operator profiles first (or add them to the Operators group), "
        "then add them to the queue."
    ) % {"name": m.operator_display_name(user)}


class QueueOperatorField(forms.ModelChoiceField):
    """A person who can operate, shown as "Olga N. (olga) · online"."""

    def label_from_instance(self, obj: Any) -> str:
        name = m.operator_display_name(obj)
        username = obj.get_username()
        shown = name if name == username else f"{name} ({username})"
        return f"{shown} · {_presence_label(obj)}"

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except ValidationError as error:
            # Not offered: if it is a real person, say why they cannot be in the queue.
            person = User._default_manager.filter(pk=value).first() if str(value).isdigit() else None
            if person is None or error.code != "invalid_choice":
                raise
            raise ValidationError(cannot_operate_message(person), code="cannot_operate") from None


class QueueMemberForm(forms.ModelForm):
    class Meta:
        model = m.QueueMember
        fields = ("position", "operator")
        field_classes = {"operator": QueueOperatorField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        position = self.fields["position"]
        position.required = False
        position.help_text = ""
        current = self.instance.operator_id if self.instance.pk else None
        offered = User._default_manager.filter(roles.can_operate_q(), is_active=True)
        if current is not None:  # a member who no longer qualifies still shows, and is refused on save
            offered = offered | User._default_manager.filter(pk=current)
        operator = self.fields["operator"]
        operator.queryset = (  # type: ignore[attr-defined]
            offered.distinct()
            .select_related("operator_profile")
            .order_by("operator_profile__display_name", "first_name", "last_name", "username")
        )
        operator.help_text = _("Only people who can operate are offered: the Operators group or an operator profile.")

    def clean_operator(self) -> Any:
        operator = self.cleaned_data.get("operator")
        if operator is not None and not roles.can_operate(operator):
            raise ValidationError(cannot_operate_message(operator), code="cannot_operate")
        return operator


class QueueMemberFormSet(BaseInlineFormSet):
    """Q1: the queue's members, in order, within the licence; positions stored as 1..n in that order."""

    def kept_forms(self) -> list[forms.ModelForm]:
        return [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("operator")
        ]

    def clean(self) -> None:
        # Before Django's own duplicate check, whose message ("Please correct the duplicate data for operator")
        # does not name the person.
        kept = self.kept_forms()
        limit = settings.MAX_QUEUE_OPERATORS
        if limit and len(kept) > limit:
            raise ValidationError(
                _("The licence allows at most %(limit)d operators in a queue; this queue would have %(count)d.")
                % {"limit": limit, "count": len(kept)}
            )
        seen: set[int] = set()
        for form in kept:
            operator = form.cleaned_data["operator"]
            if operator.pk in seen:
                raise ValidationError(
                    _("%(name)s appears twice in the queue: keep one row.")
                    % {"name": m.operator_display_name(operator)}
                )
            seen.add(operator.pk)
        super().clean()

        # The order shown (positions, then the rows' order on the page), numbered 1..n.
        def place(pair: tuple[int, forms.ModelForm]) -> tuple[int, int]:
            position = pair[1].cleaned_data.get("position")
            return (_LAST if position is None else position, pair[0])

        ordered = sorted(enumerate(kept), key=place)
        for number, (_index, form) in enumerate(ordered, start=1):
            form.instance.position = number

    def save(self, commit: bool = True) -> list:
        saved = super().save(commit)
        if commit:
            # Rows left unchanged on the page may still have moved: store their new place too.
            initial = set(self.initial_forms)
            for form in self.kept_forms():
                member = form.instance
                if form in initial and not form.has_changed() and member.position != form.initial.get("position"):
                    member.save(update_fields=["position"])
        return saved


class QueueMemberInline(admin.TabularInline):
    model = m.QueueMember
    form = QueueMemberForm
    formset = QueueMemberFormSet
    extra = 0
    fields = ("position", "operator", "last_assigned")
    readonly_fields = ("last_assigned",)
    ordering = ("position", "id")
    classes = ["tab-queue", "queue-editor"]
    verbose_name_plural = _("Queue (in order)")

    @admin.display(description=_("last assigned"))
    def last_assigned(self, obj: m.QueueMember) -> str:
        """When this member last got a conversation of this channel, in the channel's time zone, zone named."""
        if obj.pk is None or obj.last_assigned_at is None:
            return "—"
        zone = obj.open_channel.tz
        local = timezone.localtime(obj.last_assigned_at, zone)
        # A 24-hour clock in every language: "12/03/2026 08:00 (Europe/Warsaw)".
        return f"{formats.date_format(local, 'SHORT_DATE_FORMAT')} {formats.time_format(local, 'H:i')} ({zone.key})"


def queue_editor_texts() -> dict[str, str]:
    """The queue editor's words in the admin's language, for the page to hand to the script (``json_script``)."""
    return {
        "handle": gettext("Move %(name)s: drag, or press the up and down arrow keys"),
        "up": gettext("Move up"),
        "down": gettext("Move down"),
        "moved": gettext("%(name)s is now number %(position)s of %(count)s."),
        "newMember": gettext("the new member"),
        "hint": gettext(
            "The queue's order: drag a row by its handle, or focus the handle and press the up and down arrow keys."
        ),
    }
