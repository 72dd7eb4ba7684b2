"""Roles scoped to open channels: who may read and act on what. The one place a role is decided.

=================  ==========================================================================
administrator      a superuser, or a user with ``channels_app.configure_openchannel`` (the
                   Administrators group): configures the product and reads every open channel
supervisor         a user listed in an open channel's ``supervisors``: reads that channel's
                   conversations and KPI, rates its operators, takes its conversations over,
                   reassigns and closes them (the Supervisors group opens the pages; the
                   channels come from the relation)
operator           a user in an open channel's queue: works that channel's conversations in
                   the console
=================  ==========================================================================

``is_staff`` is never a role and plays no part: the admin opens for administrators and for the supervisors of
an open channel (:func:`uses_admin`), operators work in the console. A conversation an operator was offered or
held stays readable to them after it moved on (O2).
Files follow their conversation; a live-chat visitor opens their own conversation's files through signed links.
Everything a person may see is answered here, so the console, the REST API, the sockets, the
KPI pages and the admin apply the same scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core import signing
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.engine import events, operators
from channels_app.engine.errors import NotAllowed, NotFound
from channels_app.engine.file_links import VISITOR_FILE_MAX_AGE_SECONDS, VISITOR_FILE_SALT
from channels_app.engine.offers import withdraw_offers_to_departed
from channels_app.models import Attachment, Conversation, Offer, OpenChannel, QueueMember, StatusChange

CONFIGURE_PERMISSION = "channels_app.configure_openchannel"


@dataclass(frozen=True)
class ChannelScope:
    """The open channels one person works in (``operated``) and supervises; ``everything`` for administrators."""

    everything: bool
    operated: frozenset[int]
    supervised: frozenset[int]

    def reads(self, open_channel_id: int) -> bool:
        return self.everything or open_channel_id in self.operated or open_channel_id in self.supervised

    def supervises(self, open_channel_id: int) -> bool:
        return self.everything or open_channel_id in self.supervised

    @property
    def readable(self) -> frozenset[int]:
        return self.operated | self.supervised


NOBODY = ChannelScope(everything=False, operated=frozenset(), supervised=frozenset())


def _signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def is_administrator(user) -> bool:
    """Configures open channels (O4) and reads all of them."""
    return _signed_in(user) and (user.is_superuser or user.has_perm(CONFIGURE_PERMISSION))


def uses_admin(user) -> bool:
    """May ``user`` sign in to Django's admin: an administrator, or the supervisor of at least one open channel
    (one query). What they find there is still cut to their channels and their permissions."""
    if not _signed_in(user):
        return False
    return is_administrator(user) or OpenChannel.objects.filter(supervisors=user).exists()


def channel_scope(user) -> ChannelScope:
    """Where ``user`` works and what they supervise, read once (two small queries; none for an administrator)."""
    if not _signed_in(user):
        return NOBODY
    if is_administrator(user):
        return ChannelScope(everything=True, operated=frozenset(), supervised=frozenset())
    operated = QueueMember.objects.filter(operator_id=user.pk, open_channel__is_active=True).values_list(
        "open_channel_id", flat=True
    )
    supervised = OpenChannel.objects.filter(supervisors=user).values_list("pk", flat=True)
    return ChannelScope(everything=False, operated=frozenset(operated), supervised=frozenset(supervised))


def supervises(user, open_channel_id: int) -> bool:
    """May ``user`` take over, reassign and close this channel's conversations (and read its KPI)?"""
    return channel_scope(user).supervises(open_channel_id)


def supervised_channels(user) -> QuerySet[OpenChannel]:
    """The open channels whose KPI and conversations ``user`` supervises (every channel for an administrator)."""
    if is_administrator(user):
        return OpenChannel.objects.all()
    if not _signed_in(user):
        return OpenChannel.objects.none()
    return OpenChannel.objects.filter(supervisors=user)


def can_see_conversation(user, conversation: Conversation) -> bool:
    """Who may read a conversation: its channel's operators and supervisors, administrators, and the operators
    who were offered it or held it (the log stays readable after a transfer, O2)."""
    if not _signed_in(user):
        return False
    if channel_scope(user).reads(conversation.open_channel_id):
        return True
    return _took_part(user, conversation)


def _took_part(user, conversation: Conversation) -> bool:
    if user.pk in (conversation.operator_id, conversation.first_operator_id):
        return True
    if Offer.objects.filter(conversation=conversation, operator=user).exists():
        return True
    return StatusChange.objects.filter(conversation=conversation, operator=user).exists()


def is_own_work(user, conversation: Conversation) -> bool:
    """Is reading this conversation part of ``user``'s own work: they held it, were offered it or moved it, or
    they answer its open channel's queue? Anything else someone reads is a supervisor's or an administrator's look
    at other people's work, which the audit log records (issue 19, ``engine.audit.transcript_opened``)."""
    if not _signed_in(user):
        return False
    if _took_part(user, conversation):
        return True
    return QueueMember.objects.filter(operator_id=user.pk, open_channel_id=conversation.open_channel_id).exists()


def restrict_to_channels(queryset: QuerySet, user, *open_channel_paths: str) -> QuerySet:
    """``queryset`` cut to the rows of the open channels ``user`` reads; each path leads from a row to an open
    channel (``"open_channel"``, ``"conversation__open_channel"``…) and a row reached by any path stays. For the
    admin's lists and pages."""
    scope = channel_scope(user)
    if scope.everything:
        return queryset
    reached = Q()
    for path in open_channel_paths:
        reached |= Q(**{f"{path}__in": scope.readable})
    # A path through a to-many relation repeats a row once per match.
    return queryset.filter(reached).distinct()


def conversations_seen_by(user) -> QuerySet[Conversation]:
    """Every conversation ``user`` may read (see :func:`can_see_conversation`), as one query."""
    scope = channel_scope(user)
    if scope.everything:
        return Conversation.objects.all()
    if not _signed_in(user):
        return Conversation.objects.none()
    # The offers and status changes are read once each (a hashed list of ids), not probed for every
    # conversation: History filters and pages over all of them (bench/search.py).
    took_part = (
        Q(open_channel_id__in=scope.readable)
        | Q(operator_id=user.pk)
        | Q(first_operator_id=user.pk)
        | Q(pk__in=Offer.objects.filter(operator_id=user.pk).values("conversation_id"))
        | Q(pk__in=StatusChange.objects.filter(operator_id=user.pk).values("conversation_id"))
    )
    return Conversation.objects.filter(took_part)


# --- Access that changes while a console is open ------------------------------------------------------------
# Connected to model signals by ``ChannelsAppConfig.ready``: a dismissed operator, one taken out of a queue, a
# supervisor removed from a channel, a channel switched off. Their open consoles re-check at once (events are
# sent after the change commits) instead of receiving that channel's events until they reconnect.


def announce_access_changed(user_ids: Iterable[int | None]) -> None:
    ids = sorted({user_id for user_id in user_ids if user_id is not None})
    events.publish([events.operator_group(user_id) for user_id in ids], events.access_changed())


def on_queue_member_saving(sender, instance: QueueMember, **kwargs) -> None:
    """Remember who held this queue place before the save: the admin's inline can put someone else in it."""
    if instance.pk is not None:
        instance._operator_before = (  # type: ignore[attr-defined]
            QueueMember.objects.filter(pk=instance.pk).values_list("operator_id", flat=True).first()
        )


def on_queue_member_changed(sender, instance: QueueMember, created: bool = False, **kwargs) -> None:
    # Joining a queue only adds: the console shows the new channel at its next list refresh.
    if created:
        return
    operator_before = getattr(instance, "_operator_before", None)
    announce_access_changed([instance.operator_id, operator_before])
    departed = operator_before if operator_before != instance.operator_id else None
    if kwargs.get("signal") is post_delete:
        departed = instance.operator_id
    if departed is not None:
        _withdraw_offers_after_commit(departed, open_channel_id=instance.open_channel_id)
        # Q10: out of the queue, out of its conversations: they are routed to the members at once.
        operators.requeue_held_after_commit(
            departed,
            now=timezone.now(),
            reason=operators.REASON_LEFT_QUEUE,
            open_channel_ids=[instance.open_channel_id],
        )


def on_user_saved(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    # A save of chosen fields that leaves ``is_active`` alone (last_login on sign-in, a new password) changes
    # nothing a console shows; a whole save (the admin's form) may have dismissed the user.
    if created or (update_fields is not None and "is_active" not in update_fields):
        return
    announce_access_changed([instance.pk])
    if not instance.is_active:
        # Q10 at once: their offers move on and their held conversations return to the queue (the daily sweep
        # is only the backstop).
        _withdraw_offers_after_commit(instance.pk, open_channel_id=None)
        operators.requeue_held_after_commit(instance.pk, now=timezone.now(), reason=operators.REASON_DISMISSED)


def on_user_deleting(sender, instance, **kwargs) -> None:
    """Q10 for a deleted user, before the rows that name them go: their offers move on and what they hold
    returns to the queue (an active conversation must have an operator, so the delete would fail otherwise)."""
    now = timezone.now()
    withdraw_offers_to_departed(instance.pk, now=now, open_channel_id=None)
    operators.held_conversations_requeue(
        operator_id=instance.pk,
        conversation_ids=operators.held_conversation_ids(instance.pk),
        now=now,
        reason=operators.REASON_DISMISSED,
    )


def _withdraw_offers_after_commit(operator_id: int, *, open_channel_id: int | None) -> None:
    transaction.on_commit(
        lambda: withdraw_offers_to_departed(operator_id, now=timezone.now(), open_channel_id=open_channel_id)
    )


def on_operator_profile_deleted(sender, instance, **kwargs) -> None:
    announce_access_changed([instance.user_id])


def on_open_channel_saved(sender, instance: OpenChannel, created: bool = False, **kwargs) -> None:
    if created:
        return
    members = QueueMember.objects.filter(open_channel=instance).values_list("operator_id", flat=True)
    announce_access_changed([*members, *instance.supervisors.values_list("pk", flat=True)])


def on_supervisors_changed(sender, instance, action: str, reverse: bool, pk_set=None, **kwargs) -> None:
    """``OpenChannel.supervisors`` changed, from the channel's side or (``reverse``) from the user's."""
    if action == "pre_clear" and not reverse:
        # After the clear the removed people are gone from the relation: remember them now.
        instance._supervisors_before_clear = list(instance.supervisors.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if reverse:
        announce_access_changed([instance.pk])
    elif action == "post_clear":
        announce_access_changed(getattr(instance, "_supervisors_before_clear", []))
    else:
        announce_access_changed(pk_set or ())


# --- files ---------------------------------------------------------------------------------------------


def attachment_for_user(user, public_id) -> Attachment:
    """The file, if ``user`` may read its conversation; otherwise :class:`NotFound` (nothing to learn by probing)."""
    attachment = _ready_attachment(public_id)
    if not can_see_conversation(user, attachment.message.conversation):
        raise NotFound(_("No such file."))
    return attachment


def attachment_for_visitor(public_id, signature: str) -> Attachment:
    """The file, if ``signature`` was issued for it to a client of its conversation; otherwise :class:`NotFound`."""
    attachment = _ready_attachment(public_id)
    try:
        signed_id, client_id = signing.loads(signature, salt=VISITOR_FILE_SALT, max_age=VISITOR_FILE_MAX_AGE_SECONDS)
    except (signing.BadSignature, TypeError, ValueError):
        raise NotAllowed(_("This link is not valid any more. Reload the chat.")) from None
    if signed_id != str(attachment.public_id) or client_id != attachment.message.conversation.client_id:
        raise NotFound(_("No such file."))
    return attachment


def _ready_attachment(public_id) -> Attachment:
    attachment = (
        Attachment.objects.stored()
        .select_related("message__conversation")
        .filter(public_id=public_id)
        .exclude(file="")
        .first()
    )
    if attachment is None:
        raise NotFound(_("No such file."))
    return attachment
