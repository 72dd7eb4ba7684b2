"""A1: whether a client must accept the consent notice first, the notice a messenger client is sent, and the record.

One rule for every source: the live-chat widget asks before the first
message (``livechat.services``); a messenger client, who can only write,
gets the notice as the answer to their first message, and their
conversation waits (status ``consent``, never routed) until they agree by
the button or by replying the agreement words (:func:`message_receive`).

A client may withdraw their consent (:func:`consent_withdraw`): in the widget, through an operator when they
ask in words, or through an administrator. The conversation open at that moment continues; the next one asks
again (``ConsentRecord.objects.in_force()`` is the one rule :func:`consent_needed` reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from channels_app.engine.audit import audit_record
from channels_app.engine.errors import NotFound, ServiceError
from channels_app.engine.texts import CONSENT_AGREE_LABEL, CONSENT_PROMPT, translated
from channels_app.models import (
    OPEN_STATUSES,
    AuditAction,
    Client,
    ConsentFormVersion,
    ConsentRecord,
    ConsentWithdrawnVia,
    Conversation,
    ConversationStatus,
    OpenChannel,
)

# The payload of the "I agree" button (Telegram callback data, Messenger quick reply, WhatsApp reply button).
CONSENT_TOKEN = "consent_agree"  # noqa: S105 -- a button payload, not a secret


def consent_needed(open_channel: OpenChannel, client: Client | None) -> bool:
    """A1: the notice must be accepted before the chat starts, again after its text changes, and again after the
    client withdrew their consent (from their next conversation on: see ``ConsentRecord.objects.in_force``)."""
    consent_form = open_channel.consent_form
    if not open_channel.consent_required or consent_form is None:
        return False
    if client is None:
        return True
    records = ConsentRecord.objects.filter(client=client, form_version=consent_form.current_version)
    return not records.in_force().exists()


def consent_agree_label(language: str) -> str:
    """The "I agree" button's label, which is also the reply that agrees where a source has no buttons."""
    return translated(CONSENT_AGREE_LABEL, language)


def is_agreement(text: str, language: str) -> bool:
    """A typed reply agrees when it is the button's label, with or without its ✅, in any case."""
    label = consent_agree_label(language).casefold()
    english = CONSENT_AGREE_LABEL.casefold()
    accepted = {label, label.lstrip("✅ "), english, english.lstrip("✅ ")}
    return text.strip().casefold() in accepted


def consent_notice_text(open_channel: OpenChannel) -> str:
    """What a messenger client reads first: the form's current text, the link to it, and how to agree."""
    if open_channel.consent_form is None:
        return ""  # asks for no consent (:func:`consent_needed` is False): nothing to send
    version = open_channel.consent_form.current_version
    link = settings.SITE_URL + reverse("consent-form-version", args=[version.pk])
    agree = consent_agree_label(open_channel.language).lstrip("✅ ")
    prompt = translated(CONSENT_PROMPT, open_channel.language) % {"agree": agree}
    return f"{version.text.strip()}\n\n{link}\n\n{prompt}"


def consent_record_locked(
    *, client: Client, version: ConsentFormVersion, conversation: Conversation | None, source: str, now: datetime
) -> ConsentRecord:
    """Record that ``client`` accepted ``version`` (the caller holds the client's lock); a second accept is a no-op
    (an acceptance after a withdrawal is a new record: the withdrawn one stays as it was)."""
    existing = ConsentRecord.objects.standing().filter(client=client, form_version=version).first()
    if existing is not None:
        return existing
    return ConsentRecord.objects.create(
        client=client, form_version=version, conversation=conversation, source=source, accepted_at=now
    )


@dataclass(frozen=True)
class ConsentWithdrawal:
    client: Client
    withdrawn: int  # how many records this call withdrew: 0 when there was nothing (left) to withdraw
    continuing: Conversation | None  # the open conversation that continues; the next one asks again


def consent_withdraw(*, client_id: int, actor: Any | None, via: str, now: datetime) -> ConsentWithdrawal:
    """A1 (issue 19): the client withdraws their consent; every standing record of theirs is marked with the time,
    the source (``via``: :class:`~channels_app.models.ConsentWithdrawnVia`) and who recorded it (``actor``; the
    visitor themselves is ``None``).

    The conversation open now continues; the client's next conversation asks for consent again. Idempotent: a
    second call finds nothing standing, changes nothing and logs nothing. Audited as ``consent_withdrawn``.
    """
    if via not in ConsentWithdrawnVia.values:
        raise ServiceError(_("Unknown source of the withdrawal."))
    with transaction.atomic():
        # The client's row first, as inbound takes it: a message arriving meanwhile sees the withdrawal or not at all.
        client = Client.objects.select_for_update(no_key=True).select_related("connector").filter(pk=client_id).first()
        if client is None:
            raise NotFound(_("No such client."))
        continuing = (
            Conversation.objects.filter(client=client, status__in=OPEN_STATUSES)
            .exclude(status=ConversationStatus.CONSENT)
            .first()
        )
        standing = ConsentRecord.objects.standing().filter(client=client)
        record_ids = sorted(standing.values_list("pk", flat=True))
        if record_ids:
            ConsentRecord.objects.filter(pk__in=record_ids).update(
                withdrawn_at=now,
                withdrawn_via=via,
                withdrawn_by=actor if actor is not None and actor.pk else None,
                withdrawn_in=continuing,
            )
            audit_record(
                actor=actor,
                action=AuditAction.CONSENT_WITHDRAWN,
                now=now,
                open_channel_id=client.connector.open_channel_id,
                client_id=client.pk,
                conversation_id=continuing.pk if continuing else None,
                detail={"via": via, "records": record_ids},
            )
    return ConsentWithdrawal(client=client, withdrawn=len(record_ids), continuing=continuing)
