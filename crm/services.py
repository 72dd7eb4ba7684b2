"""CRM writes: finding the contact behind a client (C1)."""

from __future__ import annotations

from django.db import transaction

from channels_app.models import Client
from crm.models import Contact


def contact_find_for_client(*, client: Client) -> Contact | None:
    """C1: the client's CRM contact, looked up by source user id, then phone, then e-mail.

    1. A client already linked (same connector user id seen before) keeps its contact.
    2. Otherwise the first contact with the same phone, then the same e-mail,
       is linked to the client and returned.
    3. Unknown clients stay unlinked (``None``).
    """
    if client.contact_id:
        return client.contact
    contact = None
    if client.phone:
        contact = Contact.objects.filter(phone=client.phone).order_by("id").first()
    if contact is None and client.email:
        contact = Contact.objects.filter(email__iexact=client.email).order_by("id").first()
    if contact is not None:
        with transaction.atomic():
            Client.objects.filter(pk=client.pk, contact__isnull=True).update(contact=contact)
            client.contact = contact
    return contact
