"""Inbound client messages: the entry point of every connector and of the live-chat widget."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from channels_app.engine import availability, events, locks, messages, prepared
from channels_app.engine.attachments import MAX_FILES_PER_MESSAGE, IncomingFile
from channels_app.engine.calendars import calendar_for
from channels_app.engine.consent import consent_needed, consent_notice_text, consent_record_locked, is_agreement
from channels_app.engine.conversations import rate_locked
from channels_app.engine.errors import InvalidState, NotAllowed, ServiceError
from channels_app.engine.queue import conversation_requeue, request_route
from channels_app.engine.signals import send_conversation_created_after_commit
from channels_app.engine.transitions import set_status
from channels_app.models import (
    MESSAGE_TEXT_MAX_LENGTH,
    OPEN_STATUSES,
    Client,
    ClientRating,
    Connector,
    ConnectorKind,
    Conversation,
    ConversationStatus,
    Message,
    OperatorProfile,
    StatusChange,
)
from channels_app.models.rows import Columns
from channels_app.policy import ratings, schedule, shared_details
from contact_center import logs
from crm.services import contact_details_share, contact_find_for_client

logger = logging.getLogger(__name__)

# Telegram's callback data holds 64 bytes, a Messenger or WhatsApp payload 1,000 characters.
BUTTON_PAYLOAD_MAX = 1000

# Every message runs the three reads below under its client's lock. Raw SQL, built once from the models'
# columns (models.rows.Columns converts the values as the ORM would): compiling them per message cost more CPU
# than PostgreSQL spends running them (decision 0033). Every value is a bound parameter.
_CLIENT = Columns(Client)
_CONVERSATION = Columns(Conversation)
# The client of a connector by its id in the source, row-locked FOR NO KEY UPDATE (see _lock_client); 0 or 1 row.
CLIENT_LOCKED = (
    f"SELECT {_CLIENT.sql('c')} FROM channels_app_client c"  # noqa: S608 -- columns only
    " WHERE c.connector_id = %s AND c.external_id = %s FOR NO KEY UPDATE"
)
# The id of a message of the connector with this source message id (a provider's retry), if any.
REPLAYED_MESSAGE = "SELECT id FROM channels_app_message WHERE connector_id = %s AND source_message_id = %s LIMIT 1"
# The client's open conversation (statuses given), row-locked; the newest if there were ever two.
OPEN_CONVERSATION_LOCKED = (
    f"SELECT {_CONVERSATION.sql('v')} FROM channels_app_conversation v"  # noqa: S608 -- columns only
    " WHERE v.client_id = %s AND v.status = ANY(%s) ORDER BY v.created_at DESC LIMIT 1 FOR UPDATE"
)


@dataclass(frozen=True)
class InboundResult:
    message: Message
    conversation: Conversation
    created: bool  # False when the source message id was seen before (a provider's retry)


@logs.scoped
def message_receive(
    *,
    connector: Connector,
    external_user_id: str,
    text: str,
    source_message_id: str | None,
    now: datetime,
    files: list[IncomingFile] | None = None,
    client_name: str = "",
    client_username: str = "",
    client_phone: str = "",
    client_email: str = "",
    pressed_rating: str = "",
    pressed_consent: bool = False,
    offline_request: bool = False,
    button_payload: str | None = None,
    text_typed: bool = True,
) -> InboundResult:
    """Store a client's message and move their conversation along.

    1. Validate (bad input raises :class:`ServiceError` and writes nothing);
       a ``source_message_id`` seen before returns the stored message
       (``created=False``).
    2. Upsert the :class:`Client` and lock its row: two messages of one client
       arriving together are serialised, so they never open two conversations.
    3. Continue the client's open conversation, or, when a rating is awaited
       and the message is an explicit rating, record the rating (R1); otherwise
       start a new conversation: C1 CRM lookup, status ``bot`` when a chatbot
       is assigned (B1), else ``queued``.
    4. Store the message; on a new conversation send the M1 welcome (inside
       working hours; outside them the H2 reply comes from routing).
    5. Q7: in an active conversation whose operator is offline, with
       *always monitor* on, the conversation goes back to the queue.
    6. After commit: ``conversation_created`` / ``message_created`` signals,
       console events, and routing of a queued conversation (own transaction).

    An explicit rating (R1) is ``pressed_rating`` (``like`` or ``dislike``: the
    connector saw a press on our rating buttons, a callback or a quick reply),
    or a text that is exactly 👍 / 👎 or one of the open channel's configured
    rating answers (:mod:`channels_app.policy.ratings`). Any other text, "yes"
    and "no" included, is a message like any other.

    A1: a new conversation of a client who has not accepted the open channel's
    consent notice starts in ``consent``: the notice is sent instead of the M1
    welcome and nothing is routed; the client's messages are kept. Pressing
    the "I agree" button (``pressed_consent``) or replying its words records
    the consent (form version, source) and the conversation goes on as a new
    one would: to the chatbot or the queue, with the welcome, routed at once.

    ``offline_request``: the website chat's offline form sent the message; a conversation it starts is marked
    so (``Conversation.is_offline_request``) and otherwise goes where any new one goes (H2 holds it until the
    opening, Q9 keeps it queued).

    A button the client pressed (issue 15, point 9) is a message like any other, its ``text`` the button's
    title and ``button_payload`` its data (kept in ``Message.button``: the console marks it, a chatbot reads
    both). A phone or e-mail the client shares reaches their CRM contact and open leads (:func:`_share_details`).
    """
    text = (text or "").strip()
    files = _clean_files(files)
    external_user_id = (external_user_id or "").strip()
    if not external_user_id:
        raise ServiceError("The sender has no user id.")
    if not text and not files:
        raise ServiceError("The message is empty.")
    if len(text) > MESSAGE_TEXT_MAX_LENGTH:
        raise ServiceError(f"The message is longer than {MESSAGE_TEXT_MAX_LENGTH} characters.")
    if pressed_rating and pressed_rating not in ClientRating.Value.values:
        raise ServiceError("A pressed rating is “like” or “dislike”.")
    if button_payload is not None and (not isinstance(button_payload, str) or len(button_payload) > BUTTON_PAYLOAD_MAX):
        raise ServiceError(f"A button's payload is a text of at most {BUTTON_PAYLOAD_MAX} characters.")
    button = {"payload": button_payload} if button_payload is not None else None
    if source_message_id is not None:
        source_message_id = str(source_message_id).strip()[:128] or None
    if not connector.is_active:
        raise NotAllowed("This connector is switched off.")
    logs.bind(connector_id=connector.pk)

    with transaction.atomic():
        client, learned = _lock_client(
            connector,
            external_user_id,
            name=client_name,
            username=client_username,
            phone=client_phone,
            email=client_email,
        )
        # Under the client's lock: a retry of the same source message waited for us and finds ours.
        replay = _replayed(connector, source_message_id)
        if replay is not None:
            return InboundResult(message=replay, conversation=replay.conversation, created=False)
        _share_details(connector, client, text=text if text_typed and button is None else "", learned=learned)

        conversation = _lock_open_conversation(connector, client)
        started = False
        # A1: the agreement moves the conversation on before its message is stored, so the message is the first
        # one the chatbot (B1) or the queue sees.
        agreed_now = conversation is not None and _consent_reply(conversation, text, pressed_consent, now)
        if conversation is None:
            rated = _rating_reply(connector, client, text, pressed_rating, now)
            if rated is not None:
                message = _store_client_message(rated, text, files, source_message_id, now, button)
                return InboundResult(message=message, conversation=rated, created=True)
            conversation = _start_conversation(connector, client, now, offline_request=offline_request)
            started = True

        logs.bind(conversation_id=conversation.pk)
        message = _store_client_message(conversation, text, files, source_message_id, now, button)
        channel = conversation.open_channel
        if started:
            logger.info(
                "new conversation %s (%s) from a %s client", conversation.pk, conversation.status, connector.kind
            )
            send_conversation_created_after_commit(Conversation, conversation_id=conversation.pk)
            if conversation.status == ConversationStatus.CONSENT:
                messages.send_system_message(
                    conversation, key="consent_request", text=consent_notice_text(channel), now=now
                )
            else:
                _welcome(conversation, now)
        elif conversation.status == ConversationStatus.CONSENT:
            return InboundResult(message=message, conversation=conversation, created=True)  # still waits (A1)
        elif agreed_now:
            _welcome(conversation, now)
        elif _holder_offline(conversation, now):
            conversation_requeue(
                conversation, now=now, reason="operator offline (Q7 always monitor)", trigger="always_monitor"
            )
            return InboundResult(message=message, conversation=conversation, created=True)

        routed = conversation.status == ConversationStatus.QUEUED
        if routed:
            request_route(conversation.pk, now=now, trigger="inbound")
    if routed:
        conversation.refresh_from_db()  # routing ran at commit (unless a caller's transaction is still open)
    return InboundResult(message=message, conversation=conversation, created=True)


MAX_EARLIER_TEXTS = 20  # a client editing one message again and again keeps only its latest earlier versions


def message_edit(*, connector: Connector, source_message_id: str, text: str, now: datetime) -> Message | None:
    """A client edited a message in the source: update its text (``None`` when the message is unknown)."""
    text = (text or "").strip()
    if not text:
        raise ServiceError("The edited message is empty.")
    if len(text) > MESSAGE_TEXT_MAX_LENGTH:
        raise ServiceError(f"The message is longer than {MESSAGE_TEXT_MAX_LENGTH} characters.")
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation")
            .filter(connector=connector, source_message_id=str(source_message_id))
            .first()
        )
        if message is None:
            return None
        if message.text != text:
            # Staff keep what it said before (the client may have changed a promise or an amount).
            message.earlier_texts = [*message.earlier_texts, message.text][-MAX_EARLIER_TEXTS:]
            message.text = text
            message.edited_at = now
            message.save(update_fields=["text", "earlier_texts", "edited_at"])
            conversation = message.conversation
            events.publish_to_conversation(
                conversation, events.message_edited(message), operator_ids=[conversation.operator_id]
            )
        return message


def message_delete(*, connector: Connector, source_message_id: str, now: datetime) -> Message | None:
    """A client deleted (unsent) a message in the source: mark it deleted (``None`` when the message is unknown).

    The row, its text and its files stay: staff still read them, marked deleted, and the client's own views
    (the widget, the client's transcript) no longer show them (decision 0018). Idempotent: a repeated deletion
    keeps the first moment and announces nothing.
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation")
            .filter(connector=connector, source_message_id=str(source_message_id), author_kind=Message.Author.CLIENT)
            .first()
        )
        if message is None:
            return None
        if message.deleted_at is None:
            message.deleted_at = now
            message.save(update_fields=["deleted_at"])
            conversation = message.conversation
            events.publish_to_conversation(
                conversation, events.message_deleted(message), operator_ids=[conversation.operator_id]
            )
        return message


# --- steps ------------------------------------------------------------------------------------------------


def _clean_files(files: list[IncomingFile] | None) -> list[IncomingFile]:
    if not files:
        return []
    if not isinstance(files, list) or not all(isinstance(item, IncomingFile) for item in files):
        raise ServiceError("Files must be a list of IncomingFile.")
    if len(files) > MAX_FILES_PER_MESSAGE:
        raise ServiceError(f"At most {MAX_FILES_PER_MESSAGE} files per message.")
    return files


def _replayed(connector: Connector, source_message_id: str | None) -> Message | None:
    if source_message_id is None:
        return None
    # Replays are rare: ask for the id alone and load the message only when there is one.
    row = prepared.fetchone(REPLAYED_MESSAGE, [connector.pk, source_message_id])
    if row is None:
        return None
    return Message.objects.select_related("conversation").get(pk=row[0])


def _lock_client(connector: Connector, external_id: str, **details: str) -> tuple[Client, list[str]]:
    """Find or create the client and hold its row lock until the transaction ends; also which of the details an
    existing client's row changed to (what the source tells us now).

    NO KEY UPDATE: a plain FOR UPDATE would also block the foreign-key checks
    (FOR KEY SHARE) that other transactions' conversation updates take on this
    client row, and the two would deadlock. A row this transaction inserts is
    locked by the insert itself.
    """
    external_id = external_id[:128]
    details = {field: (value or "").strip() for field, value in details.items()}
    details["name"] = details["name"][:200]
    details["username"] = details["username"][:200]
    details["phone"] = details["phone"][:40]
    details["email"] = details["email"][:254]
    client = _locked_client(connector, external_id)
    if client is None:
        try:
            with transaction.atomic():
                return Client.objects.create(connector=connector, external_id=external_id, **details), []
        except IntegrityError:
            client = _locked_client(connector, external_id)  # created by a concurrent message a moment ago
            if client is None:
                raise
    # Keep what the source tells us now, never blank out what we knew.
    changed = [field for field, value in details.items() if value and getattr(client, field) != value]
    for field in changed:
        setattr(client, field, details[field])
    if changed:
        client.save(update_fields=changed)
    return client, changed


def _locked_client(connector: Connector, external_id: str) -> Client | None:
    row = prepared.fetchone(CLIENT_LOCKED, [connector.pk, external_id])
    if row is None:
        return None
    client = _CLIENT.instance(row)
    client.connector = connector
    return client


def _share_details(connector: Connector, client: Client, *, text: str, learned: list[str]) -> None:
    """Issue 15, point 9: a phone or e-mail the client shares later reaches their CRM contact and open leads.

    Shared through the messenger (its contact card, Messenger's e-mail and phone quick replies, Zalo's form),
    the value is the provider's, like the phone WhatsApp gives: :func:`_lock_client` stored it on the client
    already. Typed in a message (:mod:`~channels_app.policy.shared_details`), it is only a claim, as in the live
    chat: a typed e-mail waits in ``Client.unverified_email`` (never used to find a CRM contact, C1) and a typed
    phone is not put on the client; both fill the empty fields of the client's own contact and open leads
    (``crm.services.contact_details_share``). The live chat's typed e-mail has its own confirmation flow
    (``livechat.email_confirmation``), so the widget's messages are not read here.
    """
    phone = client.phone if "phone" in learned else ""
    email = client.email if "email" in learned else ""
    if connector.kind != ConnectorKind.LIVECHAT and text:
        typed_email = shared_details.typed_email(text)
        if typed_email and typed_email.lower() != client.email.lower():
            email = email or typed_email
            if client.unverified_email != typed_email:
                client.unverified_email = typed_email
                client.save(update_fields=["unverified_email"])
        phone = phone or shared_details.typed_phone(text)
    if phone or email:
        contact_details_share(client=client, phone=phone, email=email)


def _lock_open_conversation(connector: Connector, client: Client) -> Conversation | None:
    """The client's open conversation, row-locked, sharing the connector, channel and client objects we hold."""
    row = prepared.fetchone(OPEN_CONVERSATION_LOCKED, [client.pk, list(OPEN_STATUSES)])
    if row is None:
        return None
    conversation = _CONVERSATION.instance(row)
    # Attaching the objects already loaded spares a join of three wide tables on every message.
    conversation.client = client
    if conversation.connector_id == connector.pk:
        conversation.connector = connector
        if conversation.open_channel_id == connector.open_channel_id:
            conversation.open_channel = connector.open_channel
    return conversation


def _start_conversation(connector: Connector, client: Client, now: datetime, *, offline_request: bool) -> Conversation:
    channel = connector.open_channel
    if not channel.is_active:
        raise InvalidState("This open channel is switched off.")
    if channel.crm_enabled:
        contact_find_for_client(client=client)
    if consent_needed(channel, client):
        status, reason = ConversationStatus.CONSENT, "new conversation waiting for the client's consent (A1)"
    elif _with_bot(channel):
        status, reason = ConversationStatus.BOT, "new conversation with the chatbot (B1)"
    else:
        status, reason = ConversationStatus.QUEUED, "new conversation"
    conversation = Conversation.objects.create(
        open_channel=channel,
        connector=connector,
        client=client,
        status=status,
        created_at=now,
        queued_at=now if status == ConversationStatus.QUEUED else None,
        is_offline_request=offline_request,
    )
    StatusChange.objects.create(conversation=conversation, at=now, from_status="", to_status=status, reason=reason)
    events.nudge_wallboards([channel.pk])
    return conversation


def _with_bot(channel) -> bool:
    return channel.chatbot_enabled and channel.chatbot is not None and channel.chatbot.is_active


def _welcome(conversation: Conversation, now: datetime) -> None:
    """M1; a chatbot greets on its own (B1), and outside working hours the H2 reply replaces it."""
    channel = conversation.open_channel
    if conversation.status == ConversationStatus.QUEUED and channel.welcome_enabled and _open_now(channel, now):
        messages.send_system_message(conversation, key="welcome", text=channel.welcome_text, now=now)


def _consent_reply(conversation: Conversation, text: str, pressed_consent: bool, now: datetime) -> bool:
    """A1: whether this message starts a conversation that waited for consent; if so, record it and move on.

    The press or the button's words agree and are recorded; a channel that stopped asking meanwhile lets
    any message through without a record. The conversation goes where a new one would: the bot or the queue.
    """
    if conversation.status != ConversationStatus.CONSENT:
        return False
    channel = conversation.open_channel
    agreed = pressed_consent or is_agreement(text, channel.language)
    if not agreed and consent_needed(channel, conversation.client):
        return False
    if agreed and channel.consent_required and channel.consent_form is not None:
        consent_record_locked(
            client=conversation.client,
            version=channel.consent_form.current_version,
            conversation=conversation,
            source=conversation.connector.kind,
            now=now,
        )
    if _with_bot(channel):
        set_status(conversation, to_status=ConversationStatus.BOT, now=now, reason="the client agreed (A1)")
    else:
        conversation.queued_at = now
        set_status(
            conversation,
            to_status=ConversationStatus.QUEUED,
            now=now,
            reason="the client agreed (A1)",
            extra_fields=["queued_at"],
        )
    return True


def _store_client_message(conversation, text, files, source_message_id, now, button=None) -> Message:
    # No savepoint against a duplicate source message id: the caller holds the client's lock and has looked
    # for a replay under it, so another delivery of this message cannot be stored in between.
    return messages.create_message(
        conversation,
        author_kind=Message.Author.CLIENT,
        text=text,
        now=now,
        files=files,
        source_message_id=source_message_id,
        button=button,
    )


def _open_now(channel, now: datetime) -> bool:
    if not channel.working_hours_enabled:
        return True
    return schedule.is_open(calendar_for(channel), now)


def _holder_offline(conversation: Conversation, now: datetime) -> bool:
    """Q7: with *always monitor availability*, is the operator holding this conversation offline?"""
    if conversation.status != ConversationStatus.ACTIVE or not conversation.open_channel.always_monitor_availability:
        return False
    if conversation.operator_id is None:
        return True  # active yet held by nobody: nobody is there to answer, as for a holder without a profile
    profile = OperatorProfile.objects.filter(user_id=conversation.operator_id).first()
    return not availability.operator_online(profile, conversation.open_channel, now)


def _rating_reply(
    connector: Connector, client: Client, text: str, pressed_rating: str, now: datetime
) -> Conversation | None:
    """R1: an explicit rating answering the rating request rates the client's last conversation.

    Only a pressed rating button or an exact rating reply counts (see :func:`message_receive`); anything else
    returns ``None`` and the caller treats it as the first message of a new enquiry.
    """
    value = pressed_rating or ratings.typed_rating(text, connector.open_channel.typed_rating_answers)
    if value is None:
        return None
    awaiting = (
        Conversation.objects.filter(
            client=client, status=ConversationStatus.CLOSED_PENDING_RATING, rating_deadline__gt=now
        )
        .exclude(pk__in=ClientRating.objects.values("conversation_id"))
        .order_by("-closed_at")
        .values_list("pk", flat=True)
        .first()
    )
    if awaiting is None:
        return None
    conversation = locks.lock_conversation(awaiting)
    if conversation is None:
        return None  # deleted since the read above: the text rates nothing
    rate_locked(conversation, value=value, now=now)
    return conversation
