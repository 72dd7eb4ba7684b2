"""CRM writes: finding the contact behind a client (C1) and creating leads (C2, C3).

Routing to the responsible person (C4) and the responsible person following
transfers (C5) are decided by the distribution engine from
``Contact.responsible``; this module makes a client *known* (a contact) when a
lead is created for them, so C4 can apply to their next enquiry.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from channels_app.engine.errors import InvalidState, NotFound
from channels_app.models import OPEN_STATUSES, Client, Conversation, LeadCreation, LeadSourceMode, OpenChannel
from crm.models import Contact, Lead, normalize_phone

# A returning client's new enquiry joins their lead while it is still being worked on.
OPEN_LEAD_STATUSES = (Lead.Status.NEW, Lead.Status.IN_PROGRESS)


def contact_find_for_client(*, client: Client) -> Contact | None:
    """C1: the client's CRM contact, looked up by source user id, then phone, then e-mail.

    1. A client already linked (same connector user id seen before) keeps its contact.
    2. Otherwise the first contact with the same phone (compared digit by
       digit, so formatting does not matter), then the same e-mail (case
       insensitive), is linked to the client and returned.
    3. Unknown clients stay unlinked (``None``).

    Only what the client proved is compared: the phone and e-mail a messenger
    provider gives, or an address the visitor confirmed through the mailed
    link. ``Client.unverified_email`` never is: anyone can type anybody's
    address into the widget, and must not be handed that person's contact; nor is a phone typed into the
    widget (``Client.proven_phone``).
    """
    if client.contact_id:
        return client.contact
    contact = None
    digits = normalize_phone(client.proven_phone)
    if digits:
        contact = Contact.objects.filter(phone_digits=digits).order_by("id").first()
    if contact is None and client.email:
        contact = Contact.objects.filter(email__iexact=client.email).order_by("id").first()
    if contact is not None:
        with transaction.atomic():
            Client.objects.filter(pk=client.pk, contact__isnull=True).update(contact=contact)
            client.contact = contact
    return contact


def contact_details_share(*, client: Client, phone: str = "", email: str = "") -> list[str]:
    """Issue 15, point 9: a phone or e-mail the client shared later reaches their CRM contact and open leads.

    Only empty fields are filled: a contact's or a lead's value was checked by a person (or came with the
    enquiry) and is never replaced without one; a different value stays readable in the conversation. The
    contact is the one already linked to the client (never one found by the shared value: that is C1's, and
    only for proven values); the leads are that contact's leads still being worked on and the lead of the
    client's open conversation. Runs in the caller's transaction; returns what was filled ("contact.phone",
    "lead.email"…).
    """
    shared = {"phone": (phone or "").strip()[:40], "email": (email or "").strip()[:254]}
    filled: list[str] = []
    if not any(shared.values()):
        return filled
    contact = Contact.objects.filter(pk=client.contact_id).first() if client.contact_id else None
    if contact is not None:
        changed = [field for field, value in shared.items() if value and not getattr(contact, field)]
        for field in changed:
            setattr(contact, field, shared[field])
        if changed:
            contact.save(update_fields=changed)
            filled += [f"contact.{field}" for field in changed]
    of_client = Q(conversations__client=client, conversations__status__in=OPEN_STATUSES)
    if client.contact_id:
        of_client |= Q(contact_id=client.contact_id)
    open_leads = Lead.objects.filter(of_client, status__in=OPEN_LEAD_STATUSES)
    for field, value in shared.items():
        ids = list(open_leads.filter(**{field: ""}).values_list("pk", flat=True).distinct()) if value else []
        if ids:
            Lead.objects.filter(pk__in=ids).update(**{field: value})
            filled.append(f"lead.{field}")
    return filled


def lead_source_for(open_channel: OpenChannel, connector_kind_label: str) -> str:
    """C3: the open channel's source (Telegram, Facebook Messenger…) or the administrator's fixed source."""
    if open_channel.lead_source_mode == LeadSourceMode.FIXED and open_channel.lead_fixed_source.strip():
        return open_channel.lead_fixed_source.strip()
    return connector_kind_label


def lead_create_for_conversation(*, conversation_id: int, operator, now: datetime) -> Lead:
    """C2, manual (the console's button): the conversation's lead, created when the client can be contacted.

    Raises :class:`InvalidState` with the reason to show when lead creation is
    off for the channel or the client left no way to be contacted again.
    Calling it again returns the same lead.
    """
    lead, refusal = _lead_for_conversation(conversation_id=conversation_id, operator=operator, now=now, manual=True)
    if lead is None:
        raise InvalidState(refusal)
    return lead


def lead_auto_create_for_conversation(*, conversation_id: int, now: datetime) -> Lead | None:
    """C2, automatic: a new conversation's lead when the channel creates leads automatically, else ``None``."""
    lead, _refusal = _lead_for_conversation(conversation_id=conversation_id, operator=None, now=now, manual=False)
    return lead


def _lead_for_conversation(*, conversation_id: int, operator, now: datetime, manual: bool) -> tuple[Lead | None, str]:
    """1. Lock the conversation; an attached lead is returned as it is.
    2. Check the channel's setting and that the client can be contacted (C2).
    3. Find or create the client's contact (C1), so the client is known next time (C4).
    4. Join the contact's open lead from this channel, or create a lead with
       the client's full name, the source (C3) and the responsible person.
    5. Attach the conversation: the lead shows its conversations' logs (O2).
    """
    with transaction.atomic():
        # The client before the conversation, as inbound messages lock them; the
        # other order could deadlock with a message arriving at the same moment.
        client_id = Conversation.objects.filter(pk=conversation_id).values_list("client_id", flat=True).first()
        if client_id is None:
            raise NotFound(_("This conversation does not exist."))
        Client.objects.select_for_update(no_key=True).filter(pk=client_id).first()
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("client__connector", "client__contact", "open_channel", "connector", "lead")
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None:
            raise NotFound(_("This conversation does not exist."))
        if conversation.lead is not None:
            return conversation.lead, ""
        channel = conversation.open_channel
        client = conversation.client
        if channel.lead_creation == LeadCreation.OFF or (
            not manual and channel.lead_creation != LeadCreation.AUTOMATIC
        ):
            return None, "Lead creation is switched off for this open channel."
        if not client.can_be_contacted:
            return None, _cannot_be_contacted_reason(client)

        responsible_id = _responsible_id(conversation, channel, operator)
        contact = _contact_for(client, channel, responsible_id)
        lead = (
            Lead.objects.select_for_update()
            .filter(contact=contact, open_channel=channel, status__in=OPEN_LEAD_STATUSES)
            .order_by("-created_at")
            .first()
        )
        if lead is None:
            full_name = _full_name(client, contact)
            source = lead_source_for(channel, conversation.connector.get_kind_display())
            lead = Lead.objects.create(
                title=f"{source}: {full_name}"[:255],
                contact=contact,
                full_name=full_name,
                phone=client.phone or contact.phone,
                # An address the visitor gave in the chat's form, unconfirmed: the lead carries it, the contact not.
                email=client.email_for_lead or contact.email,
                source=source[:60],
                responsible_id=contact.responsible_id or responsible_id,
                open_channel=channel,
            )
        Conversation.objects.filter(pk=conversation.pk).update(lead=lead)
        return lead, ""


def _cannot_be_contacted_reason(client: Client) -> str:
    if client.unverified_email:
        # Typed but not confirmed: it may be someone else's address, so it makes no lead (C2) until confirmed.
        return (
            f"This visitor's e-mail {client.unverified_email} is not confirmed yet: they can be contacted once "
            "they open the confirmation link mailed to it."
        )
    return (
        "This visitor left no phone number or e-mail, so they cannot be contacted again: "
        "ask for one before creating a lead."
    )


def _responsible_id(conversation: Conversation, channel: OpenChannel, operator) -> int | None:
    # C5: with "follows transfers" on, whoever holds the chat now; otherwise the first operator who took it.
    if channel.responsible_follows_transfer:
        return conversation.operator_id or getattr(operator, "pk", None)
    return conversation.first_operator_id or conversation.operator_id or getattr(operator, "pk", None)


def _contact_for(client: Client, channel: OpenChannel, responsible_id: int | None) -> Contact:
    contact = contact_find_for_client(client=client) if channel.crm_enabled else client.contact
    if contact is not None:
        if contact.responsible_id is None and responsible_id is not None:
            Contact.objects.filter(pk=contact.pk, responsible__isnull=True).update(responsible_id=responsible_id)
            contact.responsible_id = responsible_id
        return contact
    # Only what the client proved: a typed phone or address on the contact would let it be found (C1) by whoever
    # really owns them. The lead carries what the visitor typed.
    contact = Contact.objects.create(
        full_name=_full_name(client, None), phone=client.proven_phone, email=client.email, responsible_id=responsible_id
    )
    Client.objects.filter(pk=client.pk).update(contact=contact)
    client.contact = contact
    return contact


def _full_name(client: Client, contact: Contact | None) -> str:
    name = client.name.strip() or (contact.full_name if contact else "") or client.username.strip() or str(client)
    return name[:200]


# --- issue 19: erasure ---------------------------------------------------------------------------------------

# What an anonymised contact or lead is called; it says why the name is gone.
ERASED_NAME = "[erased]"


def personal_data_erase(*, contact_ids: list[int], lead_ids: list[int], delete: bool) -> tuple[int, int]:
    """Issue 19: the CRM side of an erasure, in the caller's transaction (``channels_app.engine.erasure``).

    ``delete``: the leads and contacts are deleted (clients and conversations lose the link); otherwise they
    are anonymised: name, title, phone and e-mail replaced, the rows and their status, source, open channel and
    responsible person kept for the sales figures. A lead's conversation log is its conversations' messages,
    which the caller erases. Returns (leads, contacts) changed.
    """
    leads = Lead.objects.filter(pk__in=lead_ids)
    contacts = Contact.objects.filter(pk__in=contact_ids)
    if delete:
        lead_count = leads.count()
        contact_count = contacts.count()
        leads.delete()
        contacts.delete()
        return lead_count, contact_count
    lead_count = leads.update(title=ERASED_NAME, full_name=ERASED_NAME, phone="", email="")
    # ``update`` skips ``save``, so the digits the phone is matched by (C1) are cleared here too.
    contact_count = contacts.update(full_name=ERASED_NAME, phone="", phone_digits="", email="")
    return lead_count, contact_count
