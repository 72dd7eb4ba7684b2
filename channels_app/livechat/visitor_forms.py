"""The website chat's forms (issue 15): the pre-chat form (name, e-mail, phone, as the open channel asks) and the
offline form (outside working hours, H2, or when nobody can answer, Q9).

What a visitor types is checked here, whatever the browser checked, and each refusal names its field in the
visitor's words (the open channel's language, O3). The details fill the client:

- the name as given, the phone as given but marked typed (``phone_typed``: C1 never matches it);
- the e-mail as ``Client.unverified_email``, marked as *given* (``unverified_email_given``): a lead may carry it
  (C2), but it never finds a CRM contact (C1) until its owner confirms it through the link the transcript mail
  carries (:mod:`channels_app.livechat.email_confirmation`). An address the client already confirmed is kept.

An offline form becomes a conversation marked ``is_offline_request``, queued like any other: H2 holds it until
the channel opens, Q9 keeps it waiting for a free operator (decision 0017).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from channels_app.engine.availability import anyone_available
from channels_app.engine.calendars import calendar_for
from channels_app.engine.errors import InvalidState, ServiceError
from channels_app.engine.inbound import InboundResult, message_receive
from channels_app.engine.ratelimit import (
    TooManyRequests,
    address_form_limit,
    rate_limits_take,
    visitor_form_limit,
)
from channels_app.livechat.texts import widget_texts
from channels_app.livechat.visitors import consent_needed, visitor_client, visitor_conversation
from channels_app.models import (
    FORM_DETAILS,
    TYPED_TEXT_MAX_LENGTH,
    Client,
    Connector,
    Conversation,
    FormFieldMode,
    OpenChannel,
)
from channels_app.policy import schedule

NAME_MAX_LENGTH = 200  # Client.name
EMAIL_MAX_LENGTH = 254  # Client.unverified_email
PHONE_MAX_LENGTH = 40  # Client.phone
# A phone loosely: digits with the separators people type ("+48 (22) 600-100-200", "0044 20 7946 0000").
PHONE_PATTERN = re.compile(r"^\+?[0-9 ().\-/]+$")
PHONE_DIGITS = (6, 20)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class FormRefused(ServiceError):
    """A form with fields to correct: ``{"detail": …, "fields": {field: message}}``, 400, nothing stored."""

    status_code = 400

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.fields = fields

    def details(self) -> dict[str, object]:
        return {"fields": self.fields}


@dataclass(frozen=True)
class VisitorDetails:
    name: str = ""
    email: str = ""
    phone: str = ""


def _text(value: object) -> str:
    """A form value as text: anything not a string (a number, a list, null) counts as not given; NUL characters,
    which no database text may hold, are dropped."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def details_clean(
    open_channel: OpenChannel, data: dict, *, offline: bool
) -> tuple[VisitorDetails, dict[str, str], dict[str, str]]:
    """The visitor's details from a form body, and the errors by field, in the channel's language.

    The pre-chat form takes only the details the channel asks for, each as required as the channel says. The
    offline form always offers all three (required as the pre-chat form says) and needs an e-mail or a phone:
    a request nobody can answer is no use.
    """
    texts = widget_texts(open_channel.language)
    errors: dict[str, str] = {}
    values = {detail: _text(data.get(detail)) for detail in FORM_DETAILS}
    values["name"] = " ".join(CONTROL_CHARACTERS.sub(" ", values["name"]).split())  # one line, as shown on cards
    limits = {"name": NAME_MAX_LENGTH, "email": EMAIL_MAX_LENGTH, "phone": PHONE_MAX_LENGTH}
    for detail in FORM_DETAILS:
        mode = open_channel.prechat_mode(detail)
        if mode == FormFieldMode.OFF and not offline:
            values[detail] = ""
            continue
        value = values[detail]
        if not value:
            if mode == FormFieldMode.REQUIRED:
                errors[detail] = texts["error_required"]
            continue
        if len(value) > limits[detail]:
            errors[detail] = texts["error_too_long"].format(limit=limits[detail])
        elif detail == "email" and not _valid_email(value):
            errors[detail] = texts["error_email"]
        elif detail == "phone" and not _valid_phone(value):
            errors[detail] = texts["error_phone"]
    if offline and not values["email"] and not values["phone"] and "email" not in errors and "phone" not in errors:
        errors["email"] = texts["error_contact"]
    return VisitorDetails(**values), errors, texts


def _valid_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _valid_phone(value: str) -> bool:
    digits = sum(character.isdigit() for character in value)
    return bool(PHONE_PATTERN.match(value)) and PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]


def details_missing(open_channel: OpenChannel, client: Client | None) -> list[str]:
    """The details the channel requires that the client has not given (none: they may write)."""
    have = {
        "name": bool(client and client.name),
        "email": bool(client and (client.email or client.unverified_email)),
        "phone": bool(client and client.phone),
    }
    return [
        detail
        for detail in FORM_DETAILS
        if open_channel.prechat_mode(detail) == FormFieldMode.REQUIRED and not have[detail]
    ]


def details_form_needed(open_channel: OpenChannel, client: Client | None, conversation: Conversation | None) -> bool:
    """Whether the widget shows the pre-chat form: a required detail is missing, or, before the visitor's first
    conversation, the channel asks for details and the client has given none of them."""
    if not open_channel.prechat_asked:
        return False
    if details_missing(open_channel, client):
        return True
    if conversation is not None:
        return False
    if client is None:
        return True
    asked = [detail for detail in FORM_DETAILS if open_channel.prechat_mode(detail) != FormFieldMode.OFF]
    given = {"name": client.name, "email": client.email or client.unverified_email, "phone": client.phone}
    return not any(given[detail] for detail in asked)


def offline_form_shown(open_channel: OpenChannel, conversation: Conversation | None, now: datetime) -> str:
    """Why the widget shows the offline form instead of the chat: ``"closed"`` (H2), ``"busy"`` (Q9), or ``""``.

    Never while the visitor has an open conversation: they keep writing there.
    """
    if not open_channel.offline_form_enabled or (conversation is not None and conversation.is_open):
        return ""
    if not schedule.is_open(calendar_for(open_channel), now):
        return "closed"
    if not anyone_available(open_channel, now):
        return "busy"
    return ""


def _refuse_unless_allowed(connector: Connector, visitor_id: str, client_address: str, now: datetime) -> None:
    texts = widget_texts(connector.open_channel.language)
    if consent_needed(connector, visitor_client(connector, visitor_id)):
        raise InvalidState(texts["consent_needed"])
    decision = rate_limits_take(
        buckets=((visitor_form_limit(), visitor_id), (address_form_limit(), client_address)), now=now
    )
    if not decision.allowed:
        raise TooManyRequests(decision.retry_after_seconds, texts["too_many_attempts"])


def _store_details(connector: Connector, visitor_id: str, details: VisitorDetails) -> Client:
    """Under the client's row lock (NO KEY UPDATE, as inbound messages take it): fill what was given, blank out
    nothing. A given e-mail other than the confirmed one waits for confirmation, marked as given (C1, C2)."""
    locked = Client.objects.select_for_update(no_key=True).filter(connector=connector, external_id=visitor_id)
    client = locked.first()
    if client is None:
        try:
            with transaction.atomic():
                client = Client.objects.create(connector=connector, external_id=visitor_id)
        except IntegrityError:
            client = locked.get()
    changed: list[str] = []
    if details.name and client.name != details.name:
        client.name = details.name
        changed.append("name")
    if details.phone and (client.phone != details.phone or not client.phone_typed):
        client.phone, client.phone_typed = details.phone, True
        changed += ["phone", "phone_typed"]
    confirmed = bool(client.email) and client.email.lower() == details.email.lower()
    waiting = client.unverified_email == details.email and client.unverified_email_given
    if details.email and not confirmed and not waiting:
        client.unverified_email, client.unverified_email_given = details.email, True
        changed += ["unverified_email", "unverified_email_given"]
    if changed:
        client.save(update_fields=changed)
    return client


def livechat_details_give(
    *, connector: Connector, visitor_id: str, client_address: str, data: dict, now: datetime
) -> Client:
    """The pre-chat form: the visitor's name, e-mail and phone, as the open channel asks for them.

    1. A1: refused until the consent notice was accepted (the details are personal data).
    2. Checked against the channel's settings (:func:`details_clean`): a missing required field or a malformed
       one refuses the whole form (:class:`FormRefused`, 400) and stores nothing.
    3. Rate limited per visitor and per client address (each form writes).
    4. The client is created if need be and filled (:func:`_store_details`).
    """
    open_channel = connector.open_channel
    if not open_channel.prechat_asked:
        raise InvalidState(widget_texts(open_channel.language)["offline_form_off"])
    details, errors, texts = details_clean(open_channel, data, offline=False)
    if errors:
        raise FormRefused(texts["error_form"], errors)
    _refuse_unless_allowed(connector, visitor_id, client_address, now)
    with transaction.atomic():
        return _store_details(connector, visitor_id, details)


def livechat_offline_request(
    *, connector: Connector, visitor_id: str, client_address: str, data: dict, now: datetime
) -> InboundResult:
    """The offline form: the visitor's details and message become a conversation marked as an offline request.

    1. Refused when the channel has no offline form, or while the visitor has an open conversation (they write
       there); A1 consent first.
    2. The details and the message are checked (:func:`details_clean`, an e-mail or a phone at least, the
       message 1 to ``TYPED_TEXT_MAX_LENGTH`` characters): :class:`FormRefused` stores nothing.
    3. Rate limited per visitor and per client address.
    4. One transaction: the client's details, then ``message_receive(offline_request=True)``: C1 looks the
       client up, H2 holds the conversation until the opening (Q9: queued until someone is free), and the C2
       automatic lead, after the commit, finds the details.
    """
    open_channel = connector.open_channel
    texts = widget_texts(open_channel.language)
    if not open_channel.offline_form_enabled:
        raise InvalidState(texts["offline_form_off"])
    conversation = visitor_conversation(visitor_client(connector, visitor_id))
    if conversation is not None and conversation.is_open:
        raise InvalidState(texts["conversation_open"])
    details, errors, texts = details_clean(open_channel, data, offline=True)
    message = _text(data.get("message"))
    if not message:
        errors["message"] = texts["error_required"]
    elif len(message) > TYPED_TEXT_MAX_LENGTH:
        errors["message"] = texts["error_too_long"].format(limit=TYPED_TEXT_MAX_LENGTH)
    if errors:
        raise FormRefused(texts["error_form"], errors)
    _refuse_unless_allowed(connector, visitor_id, client_address, now)
    with transaction.atomic():
        _store_details(connector, visitor_id, details)
        return message_receive(
            connector=connector,
            external_user_id=visitor_id,
            text=message,
            source_message_id=None,
            offline_request=True,
            now=now,
        )
