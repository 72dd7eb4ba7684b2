"""Erasing a client's personal data (issue 19, point 2), and the per-conversation eraser retention uses too.

:func:`client_erase` erases one client, :func:`contact_erase` every client linked to a CRM contact and then the
contact. What goes (decision 0020, README "Privacy"):

* the client's identity: name, username, phone, e-mails, avatar; the source user id becomes ``erased:<pk>``, so
  the same messenger user or website visitor writing again is a new client (``client_unique_per_connector``);
* every message's text (both sides: operators quote what clients tell them), its earlier wordings, button data,
  template parameters and delivery errors; every file, its thumbnail and its name (rows deleted, bytes deleted
  from the storage once the erasure commits); private notes; notifications' texts; through
  ``signals.conversations_erasing``, the KPI app's texts (a missed target's notification, a supervisor's comment);
* the provider's raw webhook deliveries that name the client (their payload blanked);
* the CRM contact and leads, anonymised or deleted per ``settings.PRIVACY_CRM_ON_ERASURE``;
* what the admin's history recorded of their names.

What stays, without personal data: conversations' rows and timestamps, statuses, offers, routing decisions,
response records, ratings' values, KPI rollups (the KPI figures do not change), and consent records (ids, form
version, time, source: the proof of consent is a legal record).

One transaction; the rows are locked in the fixed order of :mod:`channels_app.engine.locks` (clients by id, then
their conversations by id, as inbound does). Idempotent: a second call finds the client erased and changes
nothing. It cannot be undone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, Q, TextField, Value
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext as _

from channels_app.engine import events, exports, signals
from channels_app.engine.audit import audit_record
from channels_app.engine.errors import InvalidState, NotFound
from channels_app.models import (
    OPEN_STATUSES,
    Attachment,
    AuditAction,
    Client,
    Conversation,
    ConversationNote,
    InboundUpdate,
    Message,
    Notification,
)
from crm import services as crm_services
from crm.models import Contact, Lead

# What an erased text, name or file name reads.
ERASED = "[erased]"
ERASED_EXTERNAL_ID_PREFIX = "erased:"
CRM_ANONYMISE = "anonymise"
CRM_DELETE = "delete"


@dataclass
class ErasedContent:
    """What :func:`conversations_content_erase` erased."""

    conversations: int = 0
    messages: int = 0
    files: int = 0
    notes: int = 0
    notifications: int = 0

    def add(self, other: ErasedContent) -> None:
        for name in ("conversations", "messages", "files", "notes", "notifications"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ErasureResult:
    """What an erasure did; ``already_erased`` when there was nothing left to erase (a repeated call)."""

    client_ids: list[int] = field(default_factory=list)
    contact_id: int | None = None
    already_erased: bool = False
    clients: int = 0
    content: ErasedContent = field(default_factory=ErasedContent)
    inbound_updates: int = 0
    leads: int = 0
    contacts: int = 0
    exports: int = 0  # ready data-export archives of the subjects, deleted
    crm: str = ""

    def counts(self) -> dict[str, int | str]:
        """Plain figures for the audit log and the API: ids and counts, never a name or a text."""
        return {
            "clients": self.clients,
            **asdict(self.content),
            "inbound_updates": self.inbound_updates,
            "leads": self.leads,
            "contacts": self.contacts,
            "exports": self.exports,
            "crm": self.crm,
        }


def crm_mode() -> str:
    return CRM_DELETE if settings.PRIVACY_CRM_ON_ERASURE == CRM_DELETE else CRM_ANONYMISE


def client_erase(*, client_id: int, actor, now: datetime) -> ErasureResult:
    """Erase one client's personal data (see the module); :class:`NotFound` for an unknown client,
    :class:`InvalidState` while a conversation of theirs is open."""
    with transaction.atomic():
        client = Client.objects.select_for_update(of=("self",)).select_related("connector").filter(pk=client_id).first()
        if client is None:
            raise NotFound(_("This client does not exist."))
        result = _erase_clients([client], contact_ids=[client.contact_id] if client.contact_id else [], now=now)
        result.contact_id = client.contact_id
        if not result.already_erased:
            audit_record(
                actor=actor,
                action=AuditAction.CLIENT_ERASED,
                now=now,
                open_channel_id=client.connector.open_channel_id,
                client_id=client.pk,
                contact_id=result.contact_id,
                detail=result.counts(),
            )
        return result


def contact_erase(*, contact_id: int, actor, now: datetime) -> ErasureResult:
    """Erase every client linked to the CRM contact, then the contact and its leads (see the module)."""
    with transaction.atomic():
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise NotFound(_("This contact does not exist."))
        clients = list(Client.objects.select_for_update().filter(contact_id=contact_id).order_by("pk"))
        result = _erase_clients(clients, contact_ids=[contact_id], now=now)
        result.contact_id = contact_id
        if not result.already_erased:
            audit_record(
                actor=actor,
                action=AuditAction.CONTACT_ERASED,
                now=now,
                contact_id=contact_id,
                detail={**result.counts(), "client_ids": result.client_ids},
            )
        return result


def _erase_clients(clients: list[Client], *, contact_ids: list[int], now: datetime) -> ErasureResult:
    """Under the clients' row locks: refuse while a conversation is open, then erase everything of theirs."""
    client_ids = [client.pk for client in clients]
    result = ErasureResult(client_ids=client_ids)
    if Conversation.objects.filter(client_id__in=client_ids, status__in=OPEN_STATUSES).exists():
        raise InvalidState(_("This client has an open conversation: close the conversation first, then erase."))
    conversation_ids = list(
        Conversation.objects.select_for_update(of=("self",))
        .filter(client_id__in=client_ids, erased_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    result.content = conversations_content_erase(conversation_ids, now=now)
    for client in clients:
        if client.erased_at is None:
            result.inbound_updates += client_identity_erase(client, now=now)
            result.clients += 1
    lead_ids = list(
        Lead.objects.filter(
            Q(conversations__client_id__in=client_ids) | Q(contact_id__in=contact_ids),
        )
        .exclude(full_name=crm_services.ERASED_NAME, phone="", email="")
        .values_list("pk", flat=True)
        .distinct()
    )
    erasable_contacts = list(
        Contact.objects.filter(pk__in=contact_ids)
        .exclude(full_name=crm_services.ERASED_NAME, phone="", email="")
        .values_list("pk", flat=True)
    )
    if lead_ids or erasable_contacts:
        result.crm = crm_mode()
        result.leads, result.contacts = crm_services.personal_data_erase(
            contact_ids=erasable_contacts, lead_ids=lead_ids, delete=result.crm == CRM_DELETE
        )
        _forget_admin_history(Lead, lead_ids)
        _forget_admin_history(Contact, erasable_contacts)
    result.exports = exports.exports_of_erased_expire(client_ids=client_ids, contact_ids=contact_ids)
    result.already_erased = not (result.clients or result.content.conversations or result.leads or result.contacts)
    return result


def conversations_content_erase(conversation_ids: list[int], *, now: datetime) -> ErasedContent:
    """The one eraser of conversations' content, for erasures and retention alike: the caller holds the
    conversations' row locks and passes those not erased yet; their ``erased_at`` is set."""
    erased = ErasedContent()
    if not conversation_ids:
        return erased
    erased.conversations = len(conversation_ids)
    # A reply still waiting for its messenger must never go out as the marker: the sender skips what is not queued.
    Message.objects.filter(conversation_id__in=conversation_ids, delivery=Message.Delivery.QUEUED).update(
        delivery=Message.Delivery.FAILED
    )
    erased.messages = Message.objects.filter(conversation_id__in=conversation_ids).update(
        text=ERASED, earlier_texts=[], button=None, template=None, delivery_error=""
    )
    attachments = Attachment.objects.filter(message__conversation_id__in=conversation_ids)
    erased.files = attachments.count()
    if erased.files:
        # The rows go; ``attachments.on_attachment_deleted`` deletes the stored bytes and thumbnails on commit.
        attachments.delete()
    erased.notes = ConversationNote.objects.filter(conversation_id__in=conversation_ids).update(text=ERASED)
    erased.notifications = (
        Notification.objects.filter(conversation_id__in=conversation_ids).exclude(text="").update(text="")
    )
    signals.send_conversations_erasing(Conversation, conversation_ids=conversation_ids)
    Conversation.objects.filter(pk__in=conversation_ids).update(erased_at=now)
    _forget_admin_history(Conversation, conversation_ids)
    for conversation_id in conversation_ids:
        event = events.conversation_erased(conversation_id)
        events.publish(
            [events.conversation_group(conversation_id), events.conversation_staff_group(conversation_id)], event
        )
    return erased


def client_identity_erase(client: Client, *, now: datetime) -> int:
    """Under the client's row lock: see :func:`clients_identity_erase`; ``client`` is refreshed."""
    blanked = clients_identity_erase([client], now=now)
    client.refresh_from_db()
    return blanked


def clients_identity_erase(clients: list[Client], *, now: datetime) -> int:
    """Under the clients' row locks: names, contact details and source user ids replaced (``erased:<pk>``, so the
    same person writing again is a new client), the admin history's names of them and the provider's raw
    deliveries naming them blanked. A few statements for the whole list (retention erases clients by the
    hundred). Returns how many deliveries were blanked."""
    if not clients:
        return 0
    client_ids = [client.pk for client in clients]
    Client.objects.filter(pk__in=client_ids).update(
        name=ERASED,
        username="",
        phone="",
        phone_typed=False,
        email="",
        unverified_email="",
        unverified_email_given=False,
        avatar_url="",
        external_id=Concat(Value(ERASED_EXTERNAL_ID_PREFIX), Cast("pk", CharField())),
        erased_at=now,
    )
    _forget_admin_history(Client, client_ids)
    by_connector: dict[int, list[str]] = defaultdict(list)
    for client in clients:
        by_connector[client.connector_id].append(client.external_id)
    return sum(_blank_inbound_updates(connector_id, ids) for connector_id, ids in sorted(by_connector.items()))


def _blank_inbound_updates(connector_id: int, external_ids: list[str]) -> int:
    """The provider's deliveries of this connector that carry one of the clients' source ids as a whole value (a
    number or a string in the JSON), already processed: their payload names the client and quotes their texts."""
    external_ids = [
        external_id
        for external_id in external_ids
        if external_id and not external_id.startswith(ERASED_EXTERNAL_ID_PREFIX)
    ]
    if not external_ids:
        return 0
    # PostgreSQL's regular expressions: an id neither preceded nor followed by another id character.
    alternatives = "|".join(re.escape(external_id) for external_id in sorted(external_ids))
    pattern = rf"(^|[^0-9A-Za-z_.-])({alternatives})([^0-9A-Za-z_.-]|$)"
    ids = list(
        InboundUpdate.objects.filter(connector_id=connector_id)
        .exclude(state=InboundUpdate.State.PENDING)
        .alias(payload_text=Cast("payload", TextField()))
        .filter(payload_text__regex=pattern)
        .values_list("pk", flat=True)
    )
    if ids:
        InboundUpdate.objects.filter(pk__in=ids).update(payload={}, error="")
    return len(ids)


def _forget_admin_history(model: type, ids: Iterable[int]) -> None:
    """The admin's history names the objects it logged (``str(object)``): those names go too."""
    object_ids = [str(pk) for pk in ids]
    if not object_ids:
        return
    LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), object_id__in=object_ids).update(
        object_repr=ERASED, change_message=""
    )
