"""CRM (C1–C5, O2): client lookup, leads, their source, the responsible person and the lead's conversation log.

Conversations are started through the engine's inbound service, and the work
it schedules after commit (signals, routing) runs as in production.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from channels_app.engine import conversations, inbound, offers
from channels_app.engine.errors import InvalidState
from channels_app.models import Client, ConnectorKind, Conversation, LeadCreation, LeadSourceMode, Offer
from crm.models import Contact, Lead
from crm.services import contact_find_for_client, lead_create_for_conversation
from tests.factories import ClientFactory, ConnectorFactory, ContactFactory, ConversationFactory, OperatorFactory
from tests.files_support import assert_files_shown, attach_files_of_every_kind


@pytest.fixture
def receive(django_capture_on_commit_callbacks):
    """A client message through the engine; on-commit work (signals, routing) runs as in production."""

    def _receive(connector, external_id: str, text: str = "Hello", **client_details) -> Conversation:
        with django_capture_on_commit_callbacks(execute=True):
            result = inbound.message_receive(
                connector=connector,
                external_user_id=external_id,
                text=text,
                source_message_id=None,
                now=timezone.now(),
                **client_details,
            )
        return Conversation.objects.get(pk=result.conversation.pk)

    return _receive


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    def _commit(service, **kwargs):
        kwargs.setdefault("now", timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return _commit


@pytest.fixture
def telegram(open_channel):
    return ConnectorFactory(open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="bot-1")


@pytest.fixture
def livechat(open_channel):
    return open_channel.connectors.get(kind=ConnectorKind.LIVECHAT)


def accept(commit, conversation: Conversation, operator) -> None:
    offer = Offer.objects.get(conversation=conversation, operator=operator, status=Offer.Status.PENDING)
    commit(offers.offer_accept, offer_id=offer.pk, operator=operator)


# --- C1 -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_c1_a_client_linked_before_keeps_its_contact():
    ContactFactory(phone="+48600100200")
    client = ClientFactory(contact=ContactFactory(full_name="Linked earlier"), phone="+48600100200")
    assert contact_find_for_client(client=client).full_name == "Linked earlier"


@pytest.mark.django_db
@pytest.mark.parametrize("stored", ["+1 (631) 555-1181", "16315551181", "+1-631-555-1181"])
def test_c1_phone_matches_whatever_its_formatting(stored):
    contact = ContactFactory(phone=stored)
    client = ClientFactory(phone="+16315551181")
    assert contact_find_for_client(client=client) == contact
    client.refresh_from_db()
    assert client.contact == contact


@pytest.mark.django_db
def test_c1_email_matches_without_regard_to_case():
    contact = ContactFactory(email="Anna.Kowalska@Example.com")
    assert contact_find_for_client(client=ClientFactory(email="anna.kowalska@example.com")) == contact


@pytest.mark.django_db
def test_c1_phone_is_tried_before_email():
    by_phone = ContactFactory(phone="+48 600 100 200")
    ContactFactory(email="anna@example.com")
    assert contact_find_for_client(client=ClientFactory(phone="48600100200", email="anna@example.com")) == by_phone


@pytest.mark.django_db
def test_c1_a_phone_typed_into_the_website_chat_finds_no_contact():
    """Anyone can type anybody's number into the widget's form: only a proven phone finds a contact (issue 15)."""
    ContactFactory(phone="+48 600 100 200")
    assert contact_find_for_client(client=ClientFactory(phone="+48 600 100 200", phone_typed=True)) is None


@pytest.mark.django_db
def test_c1_short_numbers_identify_nobody():
    ContactFactory(phone="112")
    assert contact_find_for_client(client=ClientFactory(phone="112")) is None


@pytest.mark.django_db
def test_c1_unknown_client_stays_unlinked():
    ContactFactory(phone="+48600100200", email="someone@example.com")
    client = ClientFactory(phone="+48999888777", email="other@example.com")
    assert contact_find_for_client(client=client) is None
    client.refresh_from_db()
    assert client.contact is None


@pytest.mark.django_db
def test_c1_an_address_a_visitor_typed_but_did_not_confirm_identifies_nobody():
    """Issue 13: anyone can type anybody's address; only the confirmed one (``Client.email``) is compared."""
    ContactFactory(email="anna@example.com")
    client = ClientFactory(unverified_email="anna@example.com")
    assert contact_find_for_client(client=client) is None
    client.refresh_from_db()
    assert client.contact is None
    assert not client.can_be_contacted


@pytest.mark.django_db
def test_c1_new_whatsapp_conversation_finds_the_contact_by_phone(open_channel, receive):
    open_channel.lead_creation = LeadCreation.OFF
    open_channel.save()
    whatsapp = ConnectorFactory(open_channel=open_channel, kind=ConnectorKind.WHATSAPP, account_id="1065")
    contact = ContactFactory(full_name="Kerry Fisher", phone="+1 631 555 1181")
    conversation = receive(whatsapp, "16315551181", client_name="Kerry", client_phone="+16315551181")
    assert conversation.client.contact == contact


# --- C2 -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_c2_automatic_lead_for_a_messenger_client_carries_name_and_log(telegram, receive):
    conversation = receive(telegram, "424242", "Is the shop open?", client_name="Anna Kowalska")
    lead = Lead.objects.get()
    assert conversation.lead == lead
    assert lead.full_name == "Anna Kowalska"
    assert lead.open_channel == telegram.open_channel
    assert list(lead.conversations.all()) == [conversation]
    assert lead.conversations.get().messages.filter(text="Is the shop open?").exists()
    # The client is now known to the CRM (C1/C4 apply to their next enquiry).
    assert lead.contact is not None and conversation.client.contact == lead.contact


@pytest.mark.django_db
def test_c2_no_automatic_lead_for_an_anonymous_visitor(livechat, receive):
    conversation = receive(livechat, "visitor-1")
    assert conversation.lead is None
    assert not Lead.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_c2_automatic_lead_for_a_visitor_who_left_an_email(livechat, receive):
    conversation = receive(livechat, "visitor-2", client_name="Jan Nowak", client_email="jan@example.com")
    assert conversation.lead.email == "jan@example.com"


@pytest.mark.django_db
def test_c2_manual_lead_is_refused_with_the_reason_when_the_visitor_cannot_be_contacted(livechat, receive, operators):
    conversation = receive(livechat, "visitor-3")
    with pytest.raises(InvalidState, match="left no phone number or e-mail"):
        lead_create_for_conversation(conversation_id=conversation.pk, operator=operators[0], now=timezone.now())
    assert not Lead.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_c2_manual_lead_for_a_visitor_whose_email_is_not_confirmed_says_so(livechat, receive, operators):
    conversation = receive(livechat, "visitor-4")
    Client.objects.filter(pk=conversation.client_id).update(unverified_email="jan@example.com")
    with pytest.raises(InvalidState, match=re.escape("e-mail jan@example.com is not confirmed yet")):
        lead_create_for_conversation(conversation_id=conversation.pk, operator=operators[0], now=timezone.now())
    assert not Lead.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_c2_manual_lead_from_the_console_and_again_gives_the_same_lead(telegram, receive, operators):
    telegram.open_channel.lead_creation = LeadCreation.MANUAL
    telegram.open_channel.save()
    conversation = receive(telegram, "424242", client_name="Anna Kowalska")
    assert conversation.lead is None  # manual channels create no lead by themselves
    first = lead_create_for_conversation(conversation_id=conversation.pk, operator=operators[1], now=timezone.now())
    again = lead_create_for_conversation(conversation_id=conversation.pk, operator=operators[1], now=timezone.now())
    assert first == again
    assert Lead.objects.count() == 1
    assert first.responsible == operators[1]


@pytest.mark.django_db
def test_c2_lead_creation_switched_off_refuses_the_button(telegram, receive, operators):
    telegram.open_channel.lead_creation = LeadCreation.OFF
    telegram.open_channel.save()
    conversation = receive(telegram, "424242")
    assert conversation.lead is None
    with pytest.raises(InvalidState, match="switched off"):
        lead_create_for_conversation(conversation_id=conversation.pk, operator=operators[0], now=timezone.now())


@pytest.mark.django_db
def test_c2_returning_client_joins_their_open_lead_until_it_is_closed(telegram, receive, commit, operators):
    olga = operators[0]
    first = receive(telegram, "424242", client_name="Anna Kowalska")
    telegram.open_channel.rating_enabled = False
    telegram.open_channel.save()
    accept(commit, first, olga)
    commit(conversations.conversation_close_by_operator, conversation_id=first.pk, operator=olga)
    second = receive(telegram, "424242", "Me again")
    assert second.pk != first.pk
    assert second.lead == first.lead
    lead = Lead.objects.get()
    assert lead.conversations.count() == 2

    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.WON)
    Conversation.objects.filter(pk=second.pk).update(status="closed")
    third = receive(telegram, "424242", "A new order")
    assert third.lead != lead
    assert Lead.objects.count() == 2


@pytest.mark.django_db
def test_c2_unknown_conversation_is_not_found(operators):
    from channels_app.engine.errors import NotFound

    with pytest.raises(NotFound):
        lead_create_for_conversation(conversation_id=987654, operator=operators[0], now=timezone.now())


# --- C3 -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_c3_lead_source_is_the_open_channels_source(telegram, receive):
    receive(telegram, "424242", client_name="Anna")
    lead = Lead.objects.get()
    assert lead.source == "Telegram"
    assert lead.title == "Telegram: Anna"


@pytest.mark.django_db
def test_c3_lead_source_is_the_fixed_source_when_chosen(open_channel, receive):
    open_channel.lead_source_mode = LeadSourceMode.FIXED
    open_channel.lead_fixed_source = "Trade fair 2026"
    open_channel.save()
    page = ConnectorFactory(open_channel=open_channel, kind=ConnectorKind.FACEBOOK, account_id="page")
    receive(page, "psid-1", client_name="Mai Tran")
    assert Lead.objects.get().source == "Trade fair 2026"


# --- C4 -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("route_to_responsible", [True, False])
def test_c4_known_client_is_offered_to_the_responsible_person(telegram, receive, operators, route_to_responsible):
    channel = telegram.open_channel
    channel.route_to_responsible = route_to_responsible
    channel.lead_creation = LeadCreation.OFF
    channel.save()
    rafal = OperatorFactory(username="rafal")  # not in the queue
    ContactFactory(full_name="Anna Kowalska", phone="+48600100200", responsible=rafal)
    conversation = receive(telegram, "424242", client_phone="+48 600 100 200")
    offered_to = set(Offer.objects.filter(conversation=conversation).values_list("operator__username", flat=True))
    assert offered_to == ({"rafal"} if route_to_responsible else {"olga"})


@pytest.mark.django_db
def test_c4_lead_makes_the_client_known_so_their_next_enquiry_goes_to_the_same_operator(
    telegram, receive, commit, operators
):
    olga, _piotr, _quynh = operators
    channel = telegram.open_channel
    channel.route_to_responsible = True
    channel.rating_enabled = False
    channel.save()
    first = receive(telegram, "424242", client_name="Anna Kowalska")
    accept(commit, first, olga)
    assert Contact.objects.get().responsible == olga  # the automatic lead's contact, first operator responsible
    commit(conversations.conversation_close_by_operator, conversation_id=first.pk, operator=olga)

    # Evenly would now pick Piotr, who waited longest; C4 sends the known client back to Olga.
    second = receive(telegram, "424242", "Hello again")
    assert second.pk != first.pk
    assert set(Offer.objects.filter(conversation=second).values_list("operator", flat=True)) == {olga.pk}


# --- C5 -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("follows", "expected"), [(True, "piotr"), (False, "olga")])
def test_c5_responsible_person_follows_a_manual_transfer_only_when_on(
    telegram, receive, commit, operators, follows, expected
):
    olga, piotr, _quynh = operators
    channel = telegram.open_channel
    channel.responsible_follows_transfer = follows
    channel.save()
    conversation = receive(telegram, "424242", client_name="Anna Kowalska")
    accept(commit, conversation, olga)
    assert Contact.objects.get().responsible == olga
    commit(conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk)
    assert Conversation.objects.get(pk=conversation.pk).operator == piotr
    assert Contact.objects.get().responsible.username == expected


@pytest.mark.django_db
def test_c5_manual_lead_after_a_transfer_names_the_right_responsible_person(telegram, receive, commit, operators):
    olga, piotr, _quynh = operators
    channel = telegram.open_channel
    channel.lead_creation = LeadCreation.MANUAL
    channel.save()
    conversation = receive(telegram, "424242", client_name="Anna Kowalska")
    accept(commit, conversation, olga)
    commit(conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk)
    lead = lead_create_for_conversation(conversation_id=conversation.pk, operator=piotr, now=timezone.now())
    assert lead.responsible == olga  # C5 off: the first operator who took the chat stays responsible

    channel.responsible_follows_transfer = True
    channel.save()
    other = receive(telegram, "515151", client_name="Jan Nowak")
    accept(commit, other, piotr)  # Evenly: Olga was assigned last
    commit(conversations.conversation_transfer, conversation_id=other.pk, operator=piotr, to_operator_id=olga.pk)
    lead = lead_create_for_conversation(conversation_id=other.pk, operator=olga, now=timezone.now())
    assert lead.responsible == olga  # C5 on: the operator holding the chat after the transfer


# --- O2 -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_o2_lead_admin_page_shows_its_conversations_logs(admin_client, telegram):
    lead = Lead.objects.create(title="Telegram: Anna", full_name="Anna Kowalska", source="Telegram")
    client = ClientFactory(connector=telegram, name="Anna Kowalska")
    for text in ("Is the <b>shop</b> open?", "Do you deliver?"):
        conversation = ConversationFactory(client=client, lead=lead, status="closed")
        message = conversation.messages.create(
            connector=telegram, author_kind="client", text=text, created_at=timezone.now()
        )
        message.attachments.create(name="<script>kettle.jpg", mime_type="image/jpeg", created_at=timezone.now())
    response = admin_client.get(f"/admin/crm/lead/{lead.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Is the &lt;b&gt;shop&lt;/b&gt; open?" in page
    assert "Do you deliver?" in page
    assert page.count('class="lead-transcript"') == 2
    assert "<script>kettle" not in page and "&lt;script&gt;kettle.jpg" in page
    assert page.count('href="/files/') == 2  # one link per file (no thumbnail: none was stored)


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_o2_lead_log_shows_files_as_every_conversation_page_does(admin_client, telegram):
    lead = Lead.objects.create(title="Telegram: Anna", full_name="Anna Kowalska", source="Telegram")
    conversation = ConversationFactory(client=ClientFactory(connector=telegram), lead=lead, status="closed")
    now = timezone.now()
    message = conversation.messages.create(connector=telegram, author_kind="client", text="", created_at=now)
    files = attach_files_of_every_kind(message, now)
    response = admin_client.get(f"/admin/crm/lead/{lead.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert_files_shown(page, files)
    assert "files/attachments.css" in page


@pytest.mark.django_db
def test_crm_admin_lists_and_searches(admin_client):
    ContactFactory(full_name="Anna Kowalska", phone="+48 600 100 200")
    Lead.objects.create(title="Telegram: Anna", full_name="Anna Kowalska", source="Telegram")
    assert "Anna Kowalska" in admin_client.get("/admin/crm/contact/", {"q": "48600100200"}).content.decode()
    assert "Telegram: Anna" in admin_client.get("/admin/crm/lead/", {"q": "Anna"}).content.decode()
