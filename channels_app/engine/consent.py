"""A1: whether a client must accept the consent notice first, the notice a messenger client is sent, and the record.

One rule for every source: the live-chat widget asks before the first
message (``livechat.services``); a messenger client, who can only write,
gets the notice as the answer to their first message, and their
conversation waits (status ``consent``, never routed) until they agree by
the button or by replying the agreement words (:func:`message_receive`).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse

from channels_app.engine.texts import CONSENT_AGREE_LABEL, CONSENT_PROMPT, translated
from channels_app.models import Client, ConsentFormVersion, ConsentRecord, Conversation, OpenChannel

# The payload of the "I agree" button (Telegram callback data, Messenger quick reply, WhatsApp reply button).
CONSENT_TOKEN = "consent_agree"  # noqa: S105 -- a button payload, not a secret


def consent_needed(open_channel: OpenChannel, client: Client | None) -> bool:
    """A1: the notice must be accepted before the chat starts, and again after its text changes."""
    consent_form = open_channel.consent_form
    if not open_channel.consent_required or consent_form is None:
        return False
    if client is None:
        return True
    return not ConsentRecord.objects.filter(client=client, form_version=consent_form.current_version).exists()


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
    """Record that ``client`` accepted ``version`` (the caller holds the client's lock); a second accept is a no-op."""
    existing = ConsentRecord.objects.filter(client=client, form_version=version).first()
    if existing is not None:
        return existing
    return ConsentRecord.objects.create(
        client=client, form_version=version, conversation=conversation, source=source, accepted_at=now
    )
