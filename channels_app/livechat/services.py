"""What a visitor writes besides messages: consent (A1) and the transcript e-mail (O3)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction

from channels_app.engine.errors import InvalidState
from channels_app.engine.transcripts import transcript_text
from channels_app.livechat.visitors import visitor_client, visitor_conversation
from channels_app.models import (
    OPEN_STATUSES,
    Client,
    Connector,
    ConnectorKind,
    ConsentRecord,
    Conversation,
    OpenChannel,
)


def livechat_consent_record(*, connector: Connector, visitor_id: str, now: datetime) -> ConsentRecord:
    """A1: record that the visitor accepted the current version of the channel's consent form.

    Idempotent: accepting the same version twice returns the first record. The
    client row is created here when consent comes before the first message.
    """
    with transaction.atomic():
        open_channel = OpenChannel.objects.select_related("consent_form").get(pk=connector.open_channel_id)
        if not open_channel.consent_required or open_channel.consent_form is None:
            raise InvalidState("This chat does not ask for consent.")
        client, _ = Client.objects.get_or_create(connector=connector, external_id=visitor_id)
        version = open_channel.consent_form.current_version
        existing = ConsentRecord.objects.filter(client=client, form_version=version).first()
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


def livechat_transcript_send(*, connector: Connector, visitor_id: str, email: str) -> Conversation:
    """O3: e-mail the visitor the log of their conversation, in the open channel's language.

    1. Validate the address; a visitor with no conversation has nothing to send.
    2. Keep the address on the client when it had none: a visitor who left an
       e-mail can be contacted again (C2).
    3. Send the mail after the client row is saved, so a mail failure leaves
       nothing half done (the address is still worth keeping).
    """
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as error:
        raise InvalidState("Enter a valid e-mail address.") from error
    client = visitor_client(connector, visitor_id)
    conversation = visitor_conversation(client)
    if client is None or conversation is None:
        raise InvalidState("There is no conversation to send yet.")
    with transaction.atomic():
        Client.objects.filter(pk=client.pk, email="").update(email=email)
    subject, body = transcript_text(conversation)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    return conversation
