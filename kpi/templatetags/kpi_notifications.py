"""``{{ request.user|unread_notifications }}``: the count beside the supervisor pages' notifications link."""

from __future__ import annotations

from django import template

from channels_app.engine import notes, notifications
from channels_app.models import operator_display_name

register = template.Library()


@register.filter
def unread_notifications(user) -> int:
    return notifications.unread_count(user)


@register.filter
def mention_segments(note) -> list[tuple[str, bool]]:
    """A note's text as (piece, is an @mention) pairs, so the page can highlight whom it mentions."""
    return notes.mention_segments(note.text, [operator_display_name(user) for user in note.mentioned.all()])
