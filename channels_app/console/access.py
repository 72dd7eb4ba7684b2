"""Who may use the console, and which conversations an operator may open in it.

Anything an operator may not see is answered as if it did not exist (404), so
ids of other channels' conversations reveal nothing.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from channels_app.engine import access
from channels_app.engine.errors import NotFound
from channels_app.models import Conversation, OperatorProfile, QueueMember


def uses_console(user) -> bool:
    """Who may open the console: operators (an operator profile or a place in a queue), and the supervisors and
    administrators who answer there the conversations they take over from the wallboard."""
    if not user.is_authenticated or not user.is_active:
        return False
    return (
        OperatorProfile.objects.filter(user_id=user.pk).exists()
        or QueueMember.objects.filter(operator_id=user.pk).exists()
        or access.uses_admin(user)
    )


class UsesConsole(BasePermission):
    message = "Only operators and supervisors use the console."

    def has_permission(self, request, view) -> bool:
        return uses_console(request.user)


def console_can_see(user, conversation: Conversation) -> bool:
    """The console shows what the person may read: see :func:`channels_app.engine.access.can_see_conversation`."""
    return access.can_see_conversation(user, conversation)


def visible_conversation(user, conversation_id: int) -> Conversation:
    """The conversation if ``user`` may see it; :class:`NotFound` otherwise (existence is not revealed)."""
    conversation = (
        Conversation.objects.select_related(
            "open_channel",
            "connector",
            "client__contact__responsible__operator_profile",
            "operator__operator_profile",
        )
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None or not console_can_see(user, conversation):
        raise NotFound(_("This conversation does not exist."))
    return conversation
