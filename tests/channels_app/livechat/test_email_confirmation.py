"""Contact data the client proved (issue 13, C1, C2, O3): an address a visitor types waits for its owner to confirm it.

Anyone can type anybody's address into the widget's transcript form. The
transcript still goes there (the visitor asked for it), with a link that
confirms the address; until it is opened the address is not used to find a
CRM contact, to join a lead, or to count the visitor as contactable.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core import mail, signing
from django.test import Client as HttpClient
from django.utils import timezone

from channels_app.engine.errors import InvalidState
from channels_app.engine.inbound import message_receive
from channels_app.engine.ratelimit import rate_limit_reset, transcript_recipient_limit
from channels_app.livechat.email_confirmation import (
    EMAIL_CONFIRM_MAX_AGE_SECONDS,
    EMAIL_CONFIRM_SALT,
    confirmation_token_issue,
)
from channels_app.livechat.services import livechat_email_confirm
from channels_app.livechat.texts import widget_texts
from channels_app.livechat.visitors import VISITOR_TOKEN_SALT, visitor_token_issue
from channels_app.models import Client, Conversation, Language, LeadCreation
from crm.models import Lead
from crm.services import contact_find_for_client, lead_create_for_conversation
from tests.factories import ConnectorFactory, ContactFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https://support\.example\.com(/livechat/confirm-email/[^/\s]+/)")


@pytest.fixture(autouse=True)
def own_rate_limit_buckets(settings):
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    settings.SITE_URL = "https://support.example.com"


@pytest.fixture
def support(db):
    """“Support”: a live-chat connector, leads made by the operator's button, Olga in the queue.

    Anna Kowalska is a known contact with an open lead from this channel.
    """
    channel = OpenChannelFactory(name="Support", welcome_enabled=False, lead_creation=LeadCreation.MANUAL)
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel)
    anna = ContactFactory(full_name="Anna Kowalska", email="anna@example.com", responsible=olga)
    annas_lead = Lead.objects.create(
        title="Anna's order", contact=anna, full_name="Anna Kowalska", email="anna@example.com", open_channel=channel
    )
    return SimpleNamespace(channel=channel, connector=connector, olga=olga, anna=anna, annas_lead=annas_lead)


def visitor_writes(connector, visitor_id: str, text: str = "Hello") -> Conversation:
    return message_receive(
        connector=connector, external_user_id=visitor_id, text=text, source_message_id=None, now=timezone.now()
    ).conversation


def ask_transcript(connector, visitor_id: str, email: str, address: str = "198.51.100.1"):
    token = visitor_token_issue(connector=connector, visitor_id=visitor_id)
    return HttpClient(REMOTE_ADDR=address).post(
        f"/api/livechat/{token}/transcript/", {"email": email}, content_type="application/json"
    )


def link_in(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


def visitor(visitor_id: str) -> Client:
    return Client.objects.select_related("connector").get(external_id=visitor_id)


# --- a stranger's typed address ---------------------------------------------------------------------------


def test_C1_C2_a_typed_address_of_a_known_contact_links_nothing_until_its_owner_confirms(support):
    conversation = visitor_writes(support.connector, "stranger")

    response = ask_transcript(support.connector, "stranger", "anna@example.com")

    assert response.status_code == 202
    assert response.json() == {"email": "anna@example.com", "confirmation_sent": True}
    client = visitor("stranger")
    assert (client.email, client.unverified_email) == ("", "anna@example.com")
    assert not client.can_be_contacted
    assert contact_find_for_client(client=client) is None
    with pytest.raises(InvalidState, match=re.escape("e-mail anna@example.com is not confirmed yet")):
        lead_create_for_conversation(conversation_id=conversation.pk, operator=support.olga, now=timezone.now())
    client.refresh_from_db()
    assert client.contact is None
    assert Lead.objects.get() == support.annas_lead
    assert not support.annas_lead.conversations.exists()

    # Their next conversation starts with the C1 lookup: it still finds nobody.
    Conversation.objects.filter(pk=conversation.pk).update(status="closed")
    visitor_writes(support.connector, "stranger", "Me again")
    assert visitor("stranger").contact is None


def test_C1_C2_once_confirmed_the_visitor_is_known_contactable_and_joins_the_contacts_lead(support):
    conversation = visitor_writes(support.connector, "anna-herself")
    ask_transcript(support.connector, "anna-herself", "anna@example.com")
    page = HttpClient(enforce_csrf_checks=True)
    form = page.get(link_in(mail.outbox[0]))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode()).group(1)

    confirmed = page.post(link_in(mail.outbox[0]), {"csrfmiddlewaretoken": csrf})

    assert confirmed.status_code == 200
    client = visitor("anna-herself")
    assert (client.email, client.unverified_email) == ("anna@example.com", "")
    assert client.can_be_contacted
    assert contact_find_for_client(client=client) == support.anna
    lead = lead_create_for_conversation(conversation_id=conversation.pk, operator=support.olga, now=timezone.now())
    assert lead == support.annas_lead
    assert list(lead.conversations.all()) == [conversation]


def test_the_transcript_still_goes_to_the_typed_address_with_the_link_in_the_channels_language(support):
    support.channel.language = Language.POLISH
    support.channel.save()
    visitor_writes(support.connector, "visitor-pl", "Dzień dobry")

    ask_transcript(support.connector, "visitor-pl", "jan@example.com")

    (message,) = mail.outbox
    assert message.to == ["jan@example.com"]
    assert message.subject == "Twoja rozmowa z Support"
    assert "Ty: Dzień dobry" in message.body
    path = link_in(message)
    page = HttpClient().get(path)
    assert page.status_code == 200
    assert '<html lang="pl">' in page.content.decode()


def test_an_address_the_visitor_already_confirmed_gets_the_transcript_without_a_link(support):
    visitor_writes(support.connector, "known")
    Client.objects.filter(external_id="known").update(email="Jan@Example.com")

    response = ask_transcript(support.connector, "known", "jan@example.com")

    assert response.json() == {"email": "jan@example.com", "confirmation_sent": False}
    assert not LINK.search(mail.outbox[0].body)
    client = visitor("known")
    assert (client.email, client.unverified_email) == ("Jan@Example.com", "")


def test_messenger_providers_addresses_are_theirs_and_used_as_they_come(support):
    telegram = ConnectorFactory(open_channel=support.channel, kind="telegram", account_id="bot-1")
    message_receive(
        connector=telegram,
        external_user_id="424242",
        text="Hi",
        source_message_id="1",
        now=timezone.now(),
        client_email="anna@example.com",
        client_phone="+48 600 100 200",
    )
    client = Client.objects.get(connector=telegram)
    assert (client.email, client.phone, client.unverified_email) == ("anna@example.com", "+48 600 100 200", "")
    assert client.contact == support.anna


# --- the confirmation page ---------------------------------------------------------------------------------


def test_the_pages_GET_shows_the_address_and_a_button_and_changes_nothing(support):
    visitor_writes(support.connector, "v1")
    ask_transcript(support.connector, "v1", "jan@example.com")
    path = link_in(mail.outbox[0])

    for _ in range(2):  # a mail scanner, then the owner's preview
        page = HttpClient().get(path)
        assert page.status_code == 200
        body = page.content.decode()
        assert "Confirm that jan@example.com is your address, so that Support can contact you there." in body
        assert '<form method="post"' in body
        assert page["Cache-Control"].startswith("max-age=0")
        assert page["Referrer-Policy"] == "same-origin"
    client = visitor("v1")
    assert (client.email, client.unverified_email) == ("", "jan@example.com")


def test_confirming_twice_is_harmless(support):
    visitor_writes(support.connector, "v1")
    ask_transcript(support.connector, "v1", "jan@example.com")
    path = link_in(mail.outbox[0])

    first, second = HttpClient().post(path), HttpClient().post(path)

    for answer in (first, second):
        assert answer.status_code == 200
        assert "Thank you. Support may now contact you at jan@example.com." in answer.content.decode()
    assert HttpClient().get(path).status_code == 200, "the link opened again shows the address confirmed"
    assert '<form method="post"' not in HttpClient().get(path).content.decode()
    client = visitor("v1")
    assert (client.email, client.unverified_email) == ("jan@example.com", "")


def test_the_confirm_service_is_idempotent_and_refuses_an_address_not_waiting(support):
    visitor_writes(support.connector, "v1")
    client = visitor("v1")
    Client.objects.filter(pk=client.pk).update(unverified_email="Jan@Example.com")

    first = livechat_email_confirm(client_id=client.pk, email="jan@example.com")
    again = livechat_email_confirm(client_id=client.pk, email="jan@example.com")

    assert (first.newly, again.newly) == (True, False)
    client.refresh_from_db()
    assert (client.email, client.unverified_email) == ("Jan@Example.com", "")
    for email, client_id in (("eve@example.com", client.pk), ("jan@example.com", 987654)):
        with pytest.raises(InvalidState, match="no longer waiting to be confirmed"):
            livechat_email_confirm(client_id=client_id, email=email)
    client.refresh_from_db()
    assert (client.email, client.unverified_email) == ("Jan@Example.com", "")


def test_a_link_for_an_address_no_longer_waiting_is_refused_and_changes_nothing(support):
    visitor_writes(support.connector, "v1")
    ask_transcript(support.connector, "v1", "first@example.com")
    ask_transcript(support.connector, "v1", "second@example.com")
    first_link, second_link = link_in(mail.outbox[0]), link_in(mail.outbox[1])

    for answer in (HttpClient().get(first_link), HttpClient().post(first_link)):
        assert answer.status_code == 409
        assert "no longer waiting to be confirmed" in answer.content.decode()
    client = visitor("v1")
    assert (client.email, client.unverified_email) == ("", "second@example.com")
    assert HttpClient().post(second_link).status_code == 200
    assert visitor("v1").email == "second@example.com"


def test_altered_foreign_and_malformed_links_are_refused_and_change_nothing(support):
    visitor_writes(support.connector, "v1")
    ask_transcript(support.connector, "v1", "jan@example.com")
    token = link_in(mail.outbox[0]).split("/")[-2]
    client = visitor("v1")
    other = Client.objects.create(connector=support.connector, external_id="v2", unverified_email="eve@example.com")
    bad_tokens = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature altered
        signing.dumps({"c": other.pk, "e": "eve@example.com"}, salt=VISITOR_TOKEN_SALT),  # another purpose's salt
        signing.dumps({"c": other.pk, "e": "eve@example.com"}, salt=EMAIL_CONFIRM_SALT, key="not-our-secret-key"),
        signing.dumps({"client": other.pk}, salt=EMAIL_CONFIRM_SALT),  # genuine, but names nothing
        signing.dumps({"c": True, "e": "eve@example.com"}, salt=EMAIL_CONFIRM_SALT),
        "not-a-token",
    ]
    for bad in bad_tokens:
        for method in ("get", "post"):
            answer = getattr(HttpClient(), method)(f"/livechat/confirm-email/{bad}/")
            assert answer.status_code == 400, (bad, method)
            assert "This confirmation link is not valid." in answer.content.decode()
    assert HttpClient().put(f"/livechat/confirm-email/{token}/").status_code == 405
    client.refresh_from_db()
    other.refresh_from_db()
    assert (client.email, client.unverified_email) == ("", "jan@example.com")
    assert (other.email, other.unverified_email) == ("", "eve@example.com")


def test_an_expired_link_is_refused_in_the_channels_language_and_changes_nothing(support):
    support.channel.language = Language.POLISH
    support.channel.save()
    visitor_writes(support.connector, "v1")
    client = visitor("v1")
    Client.objects.filter(pk=client.pk).update(unverified_email="jan@example.com")
    path = f"/livechat/confirm-email/{confirmation_token_issue(client_id=client.pk, email='jan@example.com')}/"

    with time_machine.travel(timezone.now() + timedelta(seconds=EMAIL_CONFIRM_MAX_AGE_SECONDS + 60)):
        for answer in (HttpClient().get(path), HttpClient().post(path)):
            assert answer.status_code == 410
            assert "Ten link potwierdzający wygasł." in answer.content.decode()
            assert '<html lang="pl">' in answer.content.decode()
    client.refresh_from_db()
    assert (client.email, client.unverified_email) == ("", "jan@example.com")
    with time_machine.travel(timezone.now() + timedelta(seconds=EMAIL_CONFIRM_MAX_AGE_SECONDS - 60)):
        assert HttpClient().post(path).status_code == 200


# --- transcript mail limits ---------------------------------------------------------------------------------


def test_the_per_recipient_limit_holds_across_visitor_tokens(support, settings):
    settings.RATE_LIMITS = {"livechat_transcript_recipient": {"capacity": 2, "refill_per_second": 1 / 3600}}
    for visitor_id in ("script-1", "script-2", "script-3"):
        visitor_writes(support.connector, visitor_id)

    assert ask_transcript(support.connector, "script-1", "victim@example.com").status_code == 202
    assert ask_transcript(support.connector, "script-2", "victim@example.com").status_code == 202
    refused = ask_transcript(support.connector, "script-3", "Victim@Example.com", address="203.0.113.9")

    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too many e-mails were asked for. Please try again later."}
    assert int(refused["Retry-After"]) == pytest.approx(3600, abs=5)
    assert ask_transcript(support.connector, "script-3", "someone.else@example.com").status_code == 202
    assert [message.to for message in mail.outbox] == [
        ["victim@example.com"],
        ["victim@example.com"],
        ["someone.else@example.com"],
    ]
    assert visitor("script-3").unverified_email == "someone.else@example.com", "the refused request wrote nothing"


def test_the_per_address_limit_holds_across_visitor_tokens_and_recipients(support, settings):
    settings.RATE_LIMITS = {"livechat_transcript_address": {"capacity": 2, "refill_per_second": 1 / 60}}
    for number in range(4):
        visitor_writes(support.connector, f"script-{number}")

    answers = [
        ask_transcript(support.connector, f"script-{number}", f"inbox-{number}@example.com").status_code
        for number in range(3)
    ]

    assert answers == [202, 202, 429]
    elsewhere = ask_transcript(support.connector, "script-3", "inbox-3@example.com", address="198.51.100.2")
    assert elsewhere.status_code == 202
    assert len(mail.outbox) == 3


def test_the_refusal_is_in_the_open_channels_language(support, settings):
    support.channel.language = Language.VIETNAMESE
    support.channel.save()
    settings.RATE_LIMITS = {"livechat_transcript_email": {"capacity": 1, "refill_per_second": 1 / 600}}
    visitor_writes(support.connector, "v1")
    ask_transcript(support.connector, "v1", "jan@example.com")
    refused = ask_transcript(support.connector, "v1", "jan@example.com")
    assert refused.status_code == 429
    assert refused.json()["detail"] == widget_texts("vi")["too_many_transcripts"]


def test_recipient_buckets_are_shared_by_every_visitor_and_reset_per_address(support, settings):
    """Support staff can unblock an inbox: the bucket is keyed on the address alone (lower case)."""
    settings.RATE_LIMITS = {"livechat_transcript_recipient": {"capacity": 1, "refill_per_second": 1 / 3600}}
    visitor_writes(support.connector, "v1")
    assert ask_transcript(support.connector, "v1", "jan@example.com").status_code == 202
    assert ask_transcript(support.connector, "v1", "jan@example.com").status_code == 429
    rate_limit_reset(limit=transcript_recipient_limit(), identity="jan@example.com")
    assert ask_transcript(support.connector, "v1", "jan@example.com").status_code == 202


# --- the widget ----------------------------------------------------------------------------------------------


def test_the_widget_has_the_text_that_tells_the_visitor_a_confirmation_link_was_sent(support):
    page = HttpClient().get(f"/livechat/frame/{support.connector.public_key}/")
    config = page.context["widget_config"]
    assert config["texts"]["email_confirm_sent"] == (
        "The e-mail also has a link to confirm your address: open it so that we can contact you there."
    )
    assert 'id="email-confirm-note"' in page.content.decode()


def test_a_request_with_nothing_to_send_charges_no_bucket(support, settings):
    """A visitor who has not written yet is answered 409 and spends no token: not theirs, not the recipient's."""
    settings.RATE_LIMITS = {
        "livechat_transcript_email": {"capacity": 1, "refill_per_second": 1 / 3600},
        "livechat_transcript_recipient": {"capacity": 1, "refill_per_second": 1 / 3600},
    }
    for _ in range(3):
        assert ask_transcript(support.connector, "v1", "jan@example.com").status_code == 409
    assert not mail.outbox
    visitor_writes(support.connector, "v1")
    assert ask_transcript(support.connector, "v1", "jan@example.com").status_code == 202
    assert len(mail.outbox) == 1


# --- the whole path as the product runs it (issue 16, point 13) --------------------------------------------


def test_C2_O3_a_visitor_who_leaves_an_email_in_the_widget_gets_a_lead_from_the_console_button(support):
    """Widget's transcript form (REST, as chat.js posts it) → the mail (O3) → the confirm page's button → the
    console's lead button (REST, as console.js posts it). No service is called by hand after the first message."""
    conversation = visitor_writes(support.connector, "marta", "Do you deliver on Sundays?")
    console = HttpClient()
    console.force_login(support.olga)
    lead_url = f"/api/conversations/{conversation.pk}/lead/"

    anonymous = console.post(lead_url, {}, content_type="application/json")
    assert anonymous.status_code == 409
    assert "left no phone number or e-mail" in anonymous.json()["detail"]

    typed = ask_transcript(support.connector, "marta", "marta@example.com")
    assert typed.status_code == 202
    (transcript,) = mail.outbox
    assert transcript.to == ["marta@example.com"]
    assert "Do you deliver on Sundays?" in transcript.body
    unconfirmed = console.post(lead_url, {}, content_type="application/json")
    assert unconfirmed.status_code == 409
    assert "marta@example.com is not confirmed yet" in unconfirmed.json()["detail"]

    page = HttpClient(enforce_csrf_checks=True)
    form = page.get(link_in(transcript))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode()).group(1)
    assert page.post(link_in(transcript), {"csrfmiddlewaretoken": csrf}).status_code == 200

    created = console.post(lead_url, {}, content_type="application/json")
    assert created.status_code == 201
    lead = Lead.objects.get(pk=created.json()["id"])
    assert (lead.email, lead.open_channel_id) == ("marta@example.com", support.channel.pk)
    assert list(lead.conversations.all()) == [Conversation.objects.get(pk=conversation.pk)]
