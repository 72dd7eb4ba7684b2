"""Confirming an e-mail address a live-chat visitor typed (C1, C2): the signed link and what it stands for.

Anyone can type anybody's address into the widget. Until the mailbox's owner
opens the link mailed to it, the address waits in ``Client.unverified_email``:
the CRM never finds a contact by it (C1), no lead is joined through it, and it
does not make the visitor contactable (C2). Confirming moves it to
``Client.email``.

The link carries a token signed with ``SECRET_KEY`` under a salt of its own
(a visitor token cannot stand in for it, nor the reverse), naming the client
and the address, and valid for :data:`EMAIL_CONFIRM_MAX_AGE_SECONDS`. The page
it opens confirms only on POST: mail scanners fetch every link they see.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from django.conf import settings
from django.core import signing
from django.urls import reverse

from channels_app.engine.client_view import channel_identity
from channels_app.engine.errors import ServiceError
from channels_app.livechat.texts import EMAIL_CONFIRM_TEXTS, email_confirm_texts
from channels_app.models import Client, OpenChannel

EMAIL_CONFIRM_SALT = "channels_app.livechat.email-confirm"
# Long enough for a mail read after a weekend, short enough that an old mailbox leak is not a standing key.
EMAIL_CONFIRM_MAX_AGE_SECONDS = 7 * 24 * 60 * 60


class InvalidConfirmationLink(ServiceError):
    """The token was not issued by this site for confirming an address, or was altered."""

    status_code = 400

    def __init__(self) -> None:
        super().__init__(EMAIL_CONFIRM_TEXTS["link_invalid"])


class ExpiredConfirmationLink(ServiceError):
    """A genuine token past its age: it still names the client, so the page can speak the channel's language."""

    status_code = 410

    def __init__(self, address: AddressToConfirm) -> None:
        super().__init__(EMAIL_CONFIRM_TEXTS["link_expired"])
        self.address = address


@dataclass(frozen=True)
class AddressToConfirm:
    client_id: int
    email: str


class ConfirmationState(Enum):
    PENDING = "pending"  # the client's unconfirmed address: the link may confirm it
    CONFIRMED = "confirmed"  # already the client's e-mail: a second click, harmless
    STALE = "stale"  # neither: another address was typed since, or the client is gone


def confirmation_token_issue(*, client_id: int, email: str) -> str:
    return signing.dumps({"c": client_id, "e": email}, salt=EMAIL_CONFIRM_SALT, compress=True)


def confirmation_token_read(token: str) -> AddressToConfirm:
    """The client and address a token names; raises :class:`InvalidConfirmationLink` or the expired one."""
    try:
        payload = signing.loads(token, salt=EMAIL_CONFIRM_SALT, max_age=EMAIL_CONFIRM_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        # The signature is good (only the age failed), so what it names can be trusted enough to word the refusal.
        raise ExpiredConfirmationLink(_address(signing.loads(token, salt=EMAIL_CONFIRM_SALT))) from None
    except signing.BadSignature:
        raise InvalidConfirmationLink() from None
    return _address(payload)


def _address(payload: object) -> AddressToConfirm:
    if not isinstance(payload, dict):
        raise InvalidConfirmationLink()
    client_id, email = payload.get("c"), payload.get("e")
    if isinstance(client_id, bool) or not isinstance(client_id, int) or not isinstance(email, str) or not email:
        raise InvalidConfirmationLink()
    return AddressToConfirm(client_id=client_id, email=email)


def confirmation_url(token: str) -> str:
    return settings.SITE_URL + reverse("livechat-email-confirm", args=[token])


def confirmation_state(client: Client | None, email: str) -> ConfirmationState:
    """Where ``email`` stands for ``client``; addresses compare case-insensitively, as the CRM matches them."""
    if client is None:
        return ConfirmationState.STALE
    if client.email and client.email.lower() == email.lower():
        return ConfirmationState.CONFIRMED
    if client.unverified_email and client.unverified_email.lower() == email.lower():
        return ConfirmationState.PENDING
    return ConfirmationState.STALE


def confirmation_client(address: AddressToConfirm) -> Client | None:
    """The client a token names, with its open channel (for the page's language and name)."""
    return Client.objects.select_related("connector__open_channel").filter(pk=address.client_id).first()


def confirmation_mail_paragraph(open_channel: OpenChannel, token: str) -> str:
    """What the transcript mail adds for an unconfirmed address, in the open channel's language (O3)."""
    texts = email_confirm_texts(open_channel.language)
    channel_name = channel_identity(open_channel)["name"]
    return "\n".join(
        [
            texts["mail_confirm"].format(channel=channel_name),
            confirmation_url(token),
            texts["mail_valid_for"].format(days=EMAIL_CONFIRM_MAX_AGE_SECONDS // (24 * 60 * 60)),
            "",
            texts["mail_ignore"],
        ]
    )
