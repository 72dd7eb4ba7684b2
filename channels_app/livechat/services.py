"""What a visitor writes: messages and files (S1), consent (A1), the transcript e-mail (O3) and confirming its
address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from channels_app.engine.attachments import file_store_upload, forget_stored
from channels_app.engine.errors import InvalidState, ServiceError
from channels_app.engine.inbound import InboundResult, message_receive
from channels_app.engine.ratelimit import (
    TooManyRequests,
    address_message_limit,
    rate_limits_take,
    transcript_address_limit,
    transcript_email_limit,
    transcript_recipient_limit,
    visitor_message_limit,
)
from channels_app.engine.transcripts import transcript_text
from channels_app.livechat.email_confirmation import (
    ConfirmationState,
    confirmation_mail_paragraph,
    confirmation_state,
    confirmation_token_issue,
)
from channels_app.livechat.texts import EMAIL_CONFIRM_TEXTS, widget_texts
from channels_app.livechat.visitor_forms import details_missing
from channels_app.livechat.visitors import consent_needed, visitor_client, visitor_conversation
from channels_app.models import (
    OPEN_STATUSES,
    Client,
    Connector,
    ConnectorKind,
    ConsentRecord,
    Conversation,
    OpenChannel,
)

# The id the widget gives each message it sends, so that a resend after a dropped connection stores nothing twice.
CLIENT_MESSAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def livechat_message_send(
    *,
    connector: Connector,
    visitor_id: str,
    client_address: str,
    text: str,
    client_message_id: str | None,
    now: datetime,
    upload: UploadedFile | None = None,
) -> InboundResult:
    """Store a visitor's message, with the file they attached (the socket's ``send``, the upload endpoint).

    1. A1: refuse until the consent notice was accepted; then until the pre-chat form's required details are
       given (issue 15).
    2. Rate limits: a token per visitor, and per client address so a script
       cannot open new visitor tokens to get round the first. A file is a
       message: it takes the same tokens.
    3. Store the upload (refused with :class:`~channels_app.engine.attachments.FileRefused` when the open
       channel does not accept it), only now that the message may be sent.
    4. ``message_receive`` with ``source_message_id`` built from the visitor
       and the browser's ``client_message_id``: the same message sent twice is
       one, and a repeated upload's bytes are deleted again, as are those of
       a message refused.
    """
    if client_message_id is not None and not CLIENT_MESSAGE_ID_PATTERN.match(client_message_id):
        raise ServiceError(_("The message id must be 8 to 64 letters, digits, “-” or “_”."))
    texts = widget_texts(connector.open_channel.language)
    client = visitor_client(connector, visitor_id)
    if consent_needed(connector, client):
        raise InvalidState(texts["consent_needed"])
    if details_missing(connector.open_channel, client):
        raise InvalidState(texts["details_needed"])  # the pre-chat form's required details come first
    decision = rate_limits_take(
        buckets=((visitor_message_limit(), visitor_id), (address_message_limit(), client_address)), now=now
    )
    if not decision.allowed:
        raise TooManyRequests(decision.retry_after_seconds, texts["too_fast"])
    stored = []
    if upload is not None:
        stored.append(
            file_store_upload(
                open_channel=connector.open_channel,
                upload=upload,
                name=upload.name or "",
                mime_type=upload.content_type or "",
            )
        )
    try:
        result = message_receive(
            connector=connector,
            external_user_id=visitor_id,
            text=text,
            source_message_id=f"livechat:{visitor_id}:{client_message_id}" if client_message_id else None,
            files=stored,
            now=now,
        )
    except Exception:
        forget_stored(stored)
        raise
    if not result.created:
        forget_stored(stored)  # a resend of a message stored before: its file is already there
    return result


def livechat_consent_record(*, connector: Connector, visitor_id: str, now: datetime) -> ConsentRecord:
    """A1: record that the visitor accepted the current version of the channel's consent form.

    Idempotent: accepting the same version twice returns the first record. The
    client row is created here when consent comes before the first message.
    """
    with transaction.atomic():
        open_channel = OpenChannel.objects.select_related("consent_form").get(pk=connector.open_channel_id)
        if not open_channel.consent_required or open_channel.consent_form is None:
            raise InvalidState(_("This chat does not ask for consent."))
        client, _created = Client.objects.get_or_create(connector=connector, external_id=visitor_id)
        version = open_channel.consent_form.current_version
        existing = ConsentRecord.objects.standing().filter(client=client, form_version=version).first()
        if existing is not None:
            return existing
        open_conversation = Conversation.objects.filter(client=client, status__in=OPEN_STATUSES).first()
        return ConsentRecord.objects.create(
            client=client,
            form_version=version,
            conversation=open_conversation,
            source=ConnectorKind.LIVECHAT,
            accepted_at=now,
        )


@dataclass(frozen=True)
class TranscriptSent:
    conversation: Conversation
    confirmation_sent: bool  # the mail also carried a link to confirm the address


def livechat_transcript_send(
    *, connector: Connector, visitor_id: str, email: str, client_address: str, now: datetime
) -> TranscriptSent:
    """O3: e-mail the visitor the log of their conversation, in the open channel's language.

    1. Validate the address; a visitor with no conversation has nothing to send.
    2. Take a token per visitor, per client address (``client_address``) and per recipient: a script with many
       visitor tokens can neither flood one inbox nor mail many. Only a request that will send a mail is
       charged: a refused one (no conversation, a bad address) costs nobody's bucket.
    3. Under the client's row lock: an address the client already confirmed is
       simply used. Any other becomes the client's *unconfirmed* address
       (replacing an older one still waiting), never ``Client.email``: anyone
       can type anybody's address, so it must not match a CRM contact, join a
       lead or make the visitor contactable (C1, C2) until its owner confirms.
    4. One mail to the typed address (what the visitor asked for): the
       transcript and, for an unconfirmed address, the link that confirms it.
       It goes after the commit, so a mail failure leaves nothing half done.
    """
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as error:
        raise InvalidState(_("Enter a valid e-mail address.")) from error
    client = visitor_client(connector, visitor_id)
    conversation = visitor_conversation(client)
    if client is None or conversation is None:
        raise InvalidState(_("There is no conversation to send yet."))
    decision = rate_limits_take(
        buckets=(
            (transcript_email_limit(), visitor_id),
            (transcript_address_limit(), client_address),
            (transcript_recipient_limit(), email.lower()),
        ),
        now=now,
    )
    if not decision.allowed:
        texts = widget_texts(connector.open_channel.language)
        raise TooManyRequests(decision.retry_after_seconds, texts["too_many_transcripts"])
    with transaction.atomic():
        # NO KEY UPDATE, as inbound messages lock the client: conversations' foreign-key checks are not blocked.
        client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
        needs_confirmation = confirmation_state(client, email) != ConfirmationState.CONFIRMED
        if needs_confirmation and client.unverified_email != email:
            # An address typed only to get the transcript is not one the visitor gave to be contacted at.
            client.unverified_email, client.unverified_email_given = email, False
            client.save(update_fields=["unverified_email", "unverified_email_given"])
    subject, body = transcript_text(conversation)
    if needs_confirmation:
        token = confirmation_token_issue(client_id=client.pk, email=email)
        body = f"{body}\n{confirmation_mail_paragraph(conversation.open_channel, token)}\n"
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    return TranscriptSent(conversation=conversation, confirmation_sent=needs_confirmation)


@dataclass(frozen=True)
class EmailConfirmed:
    client: Client
    newly: bool  # False: the address was already confirmed (a second click changes nothing)


def livechat_email_confirm(*, client_id: int, email: str) -> EmailConfirmed:
    """Make the address a visitor typed their e-mail, once its owner opened the link mailed to it.

    1. Lock the client row (NO KEY UPDATE, as inbound messages do).
    2. Already the client's e-mail: nothing to do, a second click is harmless.
    3. Not the address waiting for confirmation (another was typed since, or
       the client is gone): refuse and change nothing.
    4. Move the address to ``Client.email``. From now on the client is known
       by it: C1 may link them to the contact with this e-mail (at their next
       conversation, or when a lead is created), and they count as
       contactable (C2).
    """
    with transaction.atomic():
        client = Client.objects.select_for_update(no_key=True).filter(pk=client_id).first()
        state = confirmation_state(client, email)
        if state == ConfirmationState.STALE or client is None:
            raise InvalidState(EMAIL_CONFIRM_TEXTS["not_pending"])
        if state == ConfirmationState.CONFIRMED:
            return EmailConfirmed(client=client, newly=False)
        client.email, client.unverified_email, client.unverified_email_given = client.unverified_email, "", False
        client.save(update_fields=["email", "unverified_email", "unverified_email_given"])
        return EmailConfirmed(client=client, newly=True)
