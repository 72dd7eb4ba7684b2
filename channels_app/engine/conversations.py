"""What operators, clients and chatbots do to a conversation: reply, close, rate, transfer, hand over."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from channels_app.engine import access, availability, events, locks, messages, notifications, transitions
from channels_app.engine.attachments import IncomingFile
from channels_app.engine.errors import InvalidState, NeedsConfirmation, NotAllowed, NotFound, ServiceError
from channels_app.engine.offers import pending_offer_of, take_conversation
from channels_app.engine.queue import conversation_requeue, request_redistribution, request_route
from channels_app.engine.texts import client_text
from channels_app.models import (
    CLOSED_STATUSES,
    MESSAGE_TEXT_MAX_LENGTH,
    ClientRating,
    Conversation,
    ConversationStatus,
    Message,
    Notification,
    OpenChannel,
    OperatorProfile,
    QueueMember,
    WhatsAppTemplate,
    operator_display_name,
)
from channels_app.policy import message_templates, messaging_window
from crm.models import Contact


def message_send_by_operator(
    *, conversation_id: int, operator, text: str, now: datetime, files: list[IncomingFile] | None = None
) -> Message:
    """The operator answers the client; answering an offered conversation accepts the offer first.

    A reply is console activity (Q6) and may free a chat-limit slot under the
    *answered* and *waiting for the client* exclusions (Q8), which routes the
    queue at once (Q9).
    """
    text = _clean_text(text, files)
    with transaction.atomic():
        locks.lock_operators([operator.pk])
        conversation = locks.locked_conversation(conversation_id)
        _claim_for_reply(conversation, operator, now)
        _check_messaging_window(conversation, now)
        return _store_operator_reply(conversation, operator, text=text, now=now, files=files)


def message_send_template(
    *, conversation_id: int, operator, template_id: int, parameters: list[str], now: datetime
) -> Message:
    """S2: the operator sends an approved WhatsApp template, the one message WhatsApp takes after its 24-hour
    window has closed (so the window is not checked); otherwise exactly a reply (who may send, Q6, Q8, Q9).

    The stored text is the template's body with the parameters filled in (what the console and the transcript
    show); the message's ``template`` holds what goes to WhatsApp: the name, the language and the parameters.
    """
    with transaction.atomic():
        locks.lock_operators([operator.pk])
        conversation = locks.locked_conversation(conversation_id)
        template = WhatsAppTemplate.objects.filter(
            pk=template_id, connector_id=conversation.connector_id, is_active=True
        ).first()
        if template is None:
            # Also a template of another connector: it was approved for another WhatsApp number.
            raise NotFound(_("This conversation's WhatsApp number has no such template."))
        parameters = _template_parameters(template, parameters)
        _claim_for_reply(conversation, operator, now)
        return _store_operator_reply(
            conversation,
            operator,
            text=message_templates.filled_body(template.body, parameters),
            now=now,
            template={"name": template.name, "language": template.language, "parameters": parameters},
        )


def _template_parameters(template: WhatsAppTemplate, parameters: list[str]) -> list[str]:
    """The parameters, trimmed, when there is one per placeholder and WhatsApp would take each of them."""
    expected = message_templates.parameter_count(template.body)
    if len(parameters) != expected:
        raise ServiceError(
            _("The template %(name)s needs %(expected)d text(s); %(given)d were given.")
            % {"name": template.name, "expected": expected, "given": len(parameters)}
        )
    cleaned = [parameter.strip() for parameter in parameters]
    for number, parameter in enumerate(cleaned, start=1):
        problem = message_templates.parameter_problem(parameter)
        if problem:
            reasons = {
                "empty": _("Text %(number)d of the template is empty."),
                "too_long": _("Text %(number)d of the template is longer than WhatsApp accepts."),
                "layout": _("Text %(number)d of the template may not hold line breaks, tabs or four spaces in a row."),
            }
            raise ServiceError(reasons[problem] % {"number": number})
    return cleaned


def _claim_for_reply(conversation: Conversation, operator, now: datetime) -> None:
    """Refuse a reply from anyone but the holder or the operator it is offered to; a pending offer is taken."""
    if conversation.status in CLOSED_STATUSES:
        raise InvalidState(_("This conversation is closed."))
    if conversation.status == ConversationStatus.OFFERED:
        offer = pending_offer_of(conversation, operator.pk)
        if offer is None:
            raise NotAllowed(_("This conversation is not assigned to you."))
        if offer.expires_at <= now:
            raise InvalidState(_("This offer has expired; the conversation was passed on."))
        take_conversation(conversation, offer=offer, operator_id=operator.pk, now=now)
    elif conversation.status != ConversationStatus.ACTIVE or conversation.operator_id != operator.pk:
        raise NotAllowed(_("This conversation is not assigned to you."))


def _store_operator_reply(
    conversation: Conversation,
    operator,
    *,
    text: str,
    now: datetime,
    files: list[IncomingFile] | None = None,
    template: dict | None = None,
) -> Message:
    """Store the operator's reply: console activity (Q6), and a chat-limit slot freed where the exclusion says."""
    had_replied = bool(
        conversation.last_operator_message_at
        and conversation.assigned_at
        and conversation.last_operator_message_at >= conversation.assigned_at
    )
    was_waiting_for_operator = conversation.last_message_author != Message.Author.OPERATOR
    message = messages.create_message(
        conversation,
        author_kind=Message.Author.OPERATOR,
        text=text,
        now=now,
        author=operator,
        files=files,
        template=template,
    )
    OperatorProfile.objects.filter(user_id=operator.pk).update(last_activity_at=now)
    exclusion = conversation.open_channel.chat_limit_exclusion
    if (exclusion == "answered" and not had_replied) or (exclusion == "waiting_client" and was_waiting_for_operator):
        _slot_freed(operator.pk, now)
    return message


def _check_messaging_window(conversation: Conversation, now: datetime) -> None:
    """S2: refuse a reply Meta would refuse (its 24-hour window has closed) before it is stored or sent."""
    if not messaging_window.may_reply_freely(
        kind=conversation.connector.kind, last_client_message_at=conversation.last_client_message_at, now=now
    ):
        raise InvalidState(
            _(
                "More than 24 hours have passed since the client's last message: %(source)s accepts no reply "
                "until the client writes again."
            )
            % {"source": conversation.connector.get_kind_display()}
        )


def conversation_close_by_operator(*, conversation_id: int, operator, now: datetime) -> Conversation:
    """The operator closes the conversation: M3 closing message, R1 rating request, slot freed (Q9).

    With rating on, the conversation waits ``closed_pending_rating`` until the
    client rates or the time runs out; M3 may be held back until then.
    Closing an already closed conversation returns it unchanged.
    """
    with transaction.atomic():
        locks.lock_operators([operator.pk])
        conversation = locks.locked_conversation(conversation_id)
        if conversation.status in CLOSED_STATUSES:
            if conversation.operator_id == operator.pk or access.supervises(operator, conversation.open_channel_id):
                return conversation
            raise NotAllowed(_("This conversation is not assigned to you."))
        holds = conversation.status == ConversationStatus.ACTIVE and conversation.operator_id == operator.pk
        if not holds and not access.supervises(operator, conversation.open_channel_id):
            raise NotAllowed(_("This conversation is not assigned to you."))

        channel = conversation.open_channel
        transitions.withdraw_pending_offers(conversation, now=now, reason="conversation closed")
        conversation.closed_at = now
        conversation.closed_by = Conversation.ClosedBy.OPERATOR
        fields = ["closed_at", "closed_by"]
        rating = channel.rating_enabled and conversation.operator_id is not None
        if rating:
            to_status = ConversationStatus.CLOSED_PENDING_RATING
            conversation.rating_deadline = now + timedelta(minutes=channel.rating_timeout_minutes)
            fields.append("rating_deadline")
        else:
            to_status = ConversationStatus.CLOSED
            conversation.fully_closed_at = now
            fields.append("fully_closed_at")
        transitions.set_status(
            conversation,
            to_status=to_status,
            now=now,
            reason=f"closed by {operator.get_username()}",
            extra_fields=fields,
            actor_id=operator.pk,
        )
        if channel.close_message_enabled and not (rating and channel.close_message_after_rating):
            messages.send_system_message(conversation, key="close", text=channel.close_text, now=now)
        if rating:
            messages.send_system_message(conversation, key="rating_request", text=channel.rating_request_text, now=now)
        events.publish_to_conversation(
            conversation, events.conversation_closed(conversation), operator_ids=[conversation.operator_id]
        )
        if conversation.operator_id is not None:
            _slot_freed(conversation.operator_id, now)
        return conversation


def conversation_rate_by_client(*, conversation_id: int, value: str, now: datetime) -> Conversation:
    """R1, R2: the client's like / dislike after close; with *close on rating* it closes the conversation."""
    if value not in ClientRating.Value.values:
        raise ServiceError(_("A rating is “like” or “dislike”."))
    with transaction.atomic():
        conversation = locks.locked_conversation(conversation_id)
        rate_locked(conversation, value=value, now=now)
        return conversation


def rate_locked(conversation: Conversation, *, value: str, now: datetime) -> None:
    """Record the rating on a conversation the caller has locked (also used for messenger replies)."""
    if ClientRating.objects.filter(conversation=conversation).exists():
        return
    if conversation.status != ConversationStatus.CLOSED_PENDING_RATING:
        raise InvalidState(_("This conversation is not waiting for a rating."))
    if conversation.rating_deadline is not None and conversation.rating_deadline <= now:
        raise InvalidState(_("The time to rate this conversation is over."))
    ClientRating.objects.create(
        conversation=conversation, operator_id=conversation.operator_id, value=value, rated_at=now
    )
    events.nudge_wallboards([conversation.open_channel_id])
    channel = conversation.open_channel
    messages.send_system_message(conversation, key="rating_thanks", text=channel.rating_thanks_text, now=now)
    if channel.close_on_rating:
        close_fully(conversation, now=now, closed_by=Conversation.ClosedBy.CLIENT_RATING, reason="client rated (R2)")


def close_fully(conversation: Conversation, *, now: datetime, closed_by: str, reason: str) -> None:
    """End the rating step (R1/R2): final ``closed`` status and the held-back M3 closing message."""
    channel = conversation.open_channel
    conversation.fully_closed_at = now
    conversation.closed_by = closed_by
    transitions.set_status(
        conversation,
        to_status=ConversationStatus.CLOSED,
        now=now,
        reason=reason,
        extra_fields=["fully_closed_at", "closed_by"],
    )
    if channel.close_message_enabled and channel.close_message_after_rating:
        messages.send_system_message(conversation, key="close", text=channel.close_text, now=now)
    events.publish_to_conversation(
        conversation, events.conversation_closed(conversation), operator_ids=[conversation.operator_id]
    )


def conversation_transfer(
    *,
    conversation_id: int,
    operator,
    now: datetime,
    to_operator_id: int | None = None,
    to_open_channel_id: int | None = None,
    confirmed: bool = False,
) -> Conversation:
    """Q13: hand the conversation to another operator, or to another open channel's queue.

    To an operator: they hold it at once. They must not be dismissed, and
    they must pass the rules routing would offer them the conversation by
    (Q5, Q6, Q8: on leave, offline, not clocked in or on a break, at the
    chat limit; their row is locked while checking): otherwise the transfer
    is refused with the reasons in plain words. When the channel allows
    transfers to unavailable colleagues after a warning, the refusal is a
    :class:`NeedsConfirmation` and the same request with ``confirmed`` goes
    through. With C5 on they also become the client's responsible person.
    To an open channel: the conversation joins that queue and is routed
    there at once (after commit).
    """
    if (to_operator_id is None) == (to_open_channel_id is None):
        raise ServiceError(_("Choose either an operator or an open channel to transfer to."))
    snapshot = locks.get_conversation(conversation_id)
    if to_operator_id is not None:
        target = get_user_model().objects.filter(pk=to_operator_id).first()
        if target is None:
            raise NotFound(_("This operator does not exist."))
        if target.pk == snapshot.operator_id:
            raise InvalidState(_("The conversation is already with this operator."))
        if not target.is_active:
            raise NotAllowed(_("%(name)s has been dismissed.") % {"name": operator_display_name(target)})
    with transaction.atomic():
        operator_ids = {operator.pk}
        if snapshot.operator_id:
            operator_ids.add(snapshot.operator_id)
        if to_operator_id is not None:
            operator_ids.add(to_operator_id)
        profiles = locks.lock_operators(operator_ids)
        conversation = locks.locked_conversation(conversation_id)
        if conversation.operator_id != snapshot.operator_id:
            raise InvalidState(_("The conversation changed hands meanwhile; reload and try again."))
        holds = conversation.status == ConversationStatus.ACTIVE and conversation.operator_id == operator.pk
        if not holds and not (access.supervises(operator, conversation.open_channel_id) and conversation.is_open):
            raise NotAllowed(_("Only the operator holding the conversation can transfer it."))
        # Exactly one of the two targets is set (checked on entry).
        if to_operator_id is not None:
            _transfer_to_operator(conversation, operator, target, now, profiles=profiles, confirmed=confirmed)
        elif to_open_channel_id is not None:
            _transfer_to_channel(conversation, operator, to_open_channel_id, now)
        return conversation


def conversation_take_over(*, conversation_id: int, supervisor, now: datetime) -> Conversation:
    """A supervisor of the conversation's channel holds it from now on (from the queue, an offer or a colleague).

    The same rules as a transfer to oneself (:func:`conversation_transfer`): not on leave, under the chat limit
    where the channel has one. Recorded as a status change with the supervisor as actor.
    """
    return conversation_transfer(
        conversation_id=conversation_id, operator=supervisor, now=now, to_operator_id=supervisor.pk
    )


def conversation_return_to_queue(*, conversation_id: int, supervisor, now: datetime) -> Conversation:
    """A supervisor puts a conversation back in its channel's queue: offers withdrawn, the holder released (their
    slot freed, Q9), and the conversation routed again at once with trigger ``supervisor``."""
    snapshot = locks.get_conversation(conversation_id)
    with transaction.atomic():
        if snapshot.operator_id is not None:
            locks.lock_operators([snapshot.operator_id])
        conversation = locks.locked_conversation(conversation_id)
        if conversation.operator_id != snapshot.operator_id:
            raise InvalidState(_("The conversation changed hands meanwhile; reload and try again."))
        if not access.supervises(supervisor, conversation.open_channel_id):
            raise NotAllowed(_("Only a supervisor of this open channel can put its conversations back in the queue."))
        if not conversation.is_open:
            raise InvalidState(_("This conversation is closed."))
        if conversation.status == ConversationStatus.QUEUED:
            raise InvalidState(_("The conversation is already waiting in the queue."))
        previous_operator_id = conversation.operator_id
        conversation_requeue(
            conversation,
            now=now,
            reason=f"returned to the queue by {supervisor.get_username()}"[:120],
            trigger="supervisor",
            actor_id=supervisor.pk,
        )
        if previous_operator_id is not None:
            _slot_freed(previous_operator_id, now)
        return conversation


def conversation_bot_handover(*, conversation_id: int, now: datetime, reason: str = "") -> Conversation:
    """B1: the chatbot hands over (or failed); the conversation joins the queue and is routed.

    Handing over a conversation that is no longer with the bot changes nothing.
    """
    with transaction.atomic():
        conversation = locks.locked_conversation(conversation_id)
        if conversation.status != ConversationStatus.BOT:
            return conversation
        chatbot = conversation.open_channel.chatbot
        if chatbot is not None and chatbot.handover_text.strip():
            messages.create_message_once(
                conversation,
                system_key="bot_handover",
                author_kind=Message.Author.BOT,
                text=client_text(chatbot.handover_text, conversation.open_channel.language),
                now=now,
            )
        conversation.bot_handed_over_at = now
        conversation.queued_at = now
        transitions.set_status(
            conversation,
            to_status=ConversationStatus.QUEUED,
            now=now,
            reason=f"chatbot handed over{': ' + reason if reason else ''}"[:120],
            extra_fields=["bot_handed_over_at", "queued_at"],
        )
        events.publish_to_conversation(conversation, events.conversation_status(conversation, reason="bot handover"))
        request_route(conversation.pk, now=now, trigger="bot_handover")
        return conversation


def message_send_by_bot(*, conversation_id: int, text: str, now: datetime) -> Message:
    """B1: the chatbot answers while it holds the conversation."""
    text = _clean_text(text, None)
    with transaction.atomic():
        conversation = locks.locked_conversation(conversation_id)
        if conversation.status != ConversationStatus.BOT:
            raise InvalidState(_("The chatbot no longer holds this conversation."))
        return messages.create_message(conversation, author_kind=Message.Author.BOT, text=text, now=now)


# --- helpers ----------------------------------------------------------------------------------------------


def _clean_text(text: str, files: list[IncomingFile] | None) -> str:
    text = (text or "").strip()
    if files is not None and (not isinstance(files, list) or not all(isinstance(f, IncomingFile) for f in files)):
        raise ServiceError(_("Files must be a list of IncomingFile."))
    if not text and not files:
        raise ServiceError(_("Write a message first."))
    if len(text) > MESSAGE_TEXT_MAX_LENGTH:
        raise ServiceError(_("The message is longer than %(limit)d characters.") % {"limit": MESSAGE_TEXT_MAX_LENGTH})
    return text


def _slot_freed(operator_id: int, now: datetime) -> None:
    """Q9: a chat-limit slot may have opened; route the queues where the limit applies."""
    channel_ids = QueueMember.objects.filter(
        operator_id=operator_id, open_channel__is_active=True, open_channel__chat_limit_enabled=True
    ).values_list("open_channel_id", flat=True)
    request_redistribution(list(channel_ids), now=now, trigger="slot_freed")


def _transfer_to_operator(
    conversation: Conversation, actor, target, now: datetime, *, profiles: dict[int, OperatorProfile], confirmed: bool
) -> None:
    channel = conversation.open_channel
    # A conversation goes to someone who works its channel, or to a supervisor taking it over; anyone else would
    # read another team's conversation through it.
    in_queue = QueueMember.objects.filter(open_channel_id=channel.pk, operator_id=target.pk).exists()
    taking_over = target.pk == actor.pk and access.supervises(actor, channel.pk)
    if not in_queue and not taking_over:
        raise NotAllowed(
            _("%(name)s is not in the queue of “%(channel)s”.")
            % {"name": operator_display_name(target), "channel": channel}
        )
    target_availability = availability.availability_for([target], channel, now, profiles=profiles, acting_id=actor.pk)[
        target.pk
    ]
    if not target_availability.available:
        reasons = target_availability.explain(channel)
        if not channel.transfer_to_unavailable_after_warning:
            raise InvalidState(reasons)  # 409: the colleague's state, not the asker's rights
        if not confirmed:
            raise NeedsConfirmation(f"{reasons} {_('Transfer anyway?')}")
    previous_operator_id = conversation.operator_id
    verb = "taken over" if taking_over else "transferred"
    take_conversation(
        conversation,
        offer=None,
        operator_id=target.pk,
        now=now,
        reason=f"{verb} by {actor.get_username()}",
        actor_id=actor.pk,
    )
    if channel.responsible_follows_transfer and conversation.client.contact_id:
        Contact.objects.filter(pk=conversation.client.contact_id).update(responsible_id=target.pk)
    if not taking_over:
        notifications.notify(
            recipient_ids=[target.pk],
            kind=Notification.Kind.TRANSFER,
            conversation_id=conversation.pk,
            text=operator_display_name(actor),
            now=now,
        )
    if previous_operator_id is not None:
        _slot_freed(previous_operator_id, now)


def _transfer_to_channel(conversation: Conversation, actor, open_channel_id: int, now: datetime) -> None:
    target = OpenChannel.objects.filter(pk=open_channel_id).first()
    if target is None:
        raise NotFound(_("This open channel does not exist."))
    if not target.is_active:
        raise NotAllowed(_("“%(channel)s” is switched off.") % {"channel": target})
    if target.pk == conversation.open_channel_id:
        raise InvalidState(_("The conversation is already in this open channel."))
    previous_operator_id = conversation.operator_id
    previous_channel_id = conversation.open_channel_id
    conversation.open_channel = target
    conversation.save(update_fields=["open_channel"])
    conversation_requeue(
        conversation,
        now=now,
        reason=f"transferred to {target} by {actor.get_username()}"[:120],
        trigger="transfer",
        actor_id=actor.pk,
    )
    events.nudge_wallboards([previous_channel_id])
    if previous_operator_id is not None:
        _slot_freed(previous_operator_id, now)
