"""REST endpoints of the console and the widget: what each person may read and change (C2, O2, O3, Q5, Q13)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from channels_app.engine.conversations import message_send_by_operator
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import (
    CannedReply,
    CannedReplyList,
    Client,
    Conversation,
    ConversationStatus,
    Language,
    Offer,
    OpenChannel,
    OperatorProfile,
)
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quiet_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def support(db):
    replies = CannedReplyList.objects.create(name="Standard")
    CannedReply.objects.create(reply_list=replies, shortcut="hello", title="Greeting", text="Hello!")
    channel = OpenChannelFactory(name="Support", welcome_enabled=False, canned_reply_list=replies)
    olga = OperatorFactory(username="olga", first_name="Olga")
    piotr = OperatorFactory(username="piotr", first_name="Piotr")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    QueueMemberFactory(open_channel=channel, operator=piotr, position=1)
    OperatorProfile.objects.filter(user=piotr).update(is_online=False, console_heartbeat_at=None)
    connector = ConnectorFactory(open_channel=channel)
    return SimpleNamespace(channel=channel, connector=connector, olga=olga, piotr=piotr)


@pytest.fixture
def sales(db):
    channel = OpenChannelFactory(name="Sales", welcome_enabled=False)
    stan = OperatorFactory(username="stan")
    QueueMemberFactory(open_channel=channel, operator=stan, position=0)
    return SimpleNamespace(channel=channel, connector=ConnectorFactory(open_channel=channel), stan=stan)


def visitor_writes(connector, visitor_id: str, text: str, **details):
    return message_receive(
        connector=connector,
        external_user_id=visitor_id,
        text=text,
        source_message_id=None,
        now=timezone.now(),
        **details,
    )


def accepted(conversation: Conversation, operator) -> Conversation:
    offer = Offer.objects.get(conversation=conversation, operator=operator, status=Offer.Status.PENDING)
    return offer_accept(offer_id=offer.pk, operator=operator, now=timezone.now())


def as_user(client, user):
    client.force_login(user)
    return client


# --- console lists and conversations -------------------------------------------------------------------


def test_console_lists_offered_mine_and_waiting_in_my_queues(client, support, sales):
    channel, connector, olga = support.channel, support.connector, support.olga
    offered = visitor_writes(connector, "visitor-a", "Offered to Olga").conversation
    mine = accepted(visitor_writes(connector, "visitor-b", "Taken by Olga").conversation, olga)
    OperatorProfile.objects.filter(user=olga).update(is_online=False, console_heartbeat_at=None)
    waiting = visitor_writes(connector, "visitor-c", "Nobody online now").conversation

    body = as_user(client, olga).get("/api/console/conversations/").json()
    assert [row["id"] for row in body["offered"]] == [offered.pk]
    assert body["offered"][0]["offer"]["expires_at"]
    assert body["offered"][0]["last_message_text"] == "Offered to Olga"
    assert [row["id"] for row in body["mine"]] == [mine.pk]
    assert [row["id"] for row in body["queued"]] == [waiting.pk]
    assert body["queued"][0]["open_channel"] == {"id": channel.pk, "name": "Support"}


def test_Q3_an_offer_past_its_deadline_is_no_longer_listed(client, support):
    connector, olga = support.connector, support.olga
    conversation = visitor_writes(connector, "visitor-a", "Hello").conversation
    offer = Offer.objects.get(conversation=conversation, operator=olga)
    as_user(client, olga)
    assert [row["id"] for row in client.get("/api/console/conversations/").json()["offered"]] == [conversation.pk]
    with time_machine.travel(offer.expires_at + timedelta(seconds=1)):
        assert client.get("/api/console/conversations/").json()["offered"] == []


def test_operator_in_several_open_channels_sees_all_of_them(client, support, sales):
    connector, olga = support.connector, support.olga
    sales_channel, sales_connector, stan = sales.channel, sales.connector, sales.stan
    QueueMemberFactory(open_channel=sales_channel, operator=olga, position=1)
    OperatorProfile.objects.filter(user__in=[olga, stan]).update(is_online=False, console_heartbeat_at=None)
    visitor_writes(connector, "visitor-a", "Support question")
    visitor_writes(sales_connector, "visitor-b", "Sales question")

    as_user(client, olga)
    state = client.get("/api/console/state/").json()
    assert [c["name"] for c in state["open_channels"]] == ["Sales", "Support"]
    queued = client.get("/api/console/conversations/").json()["queued"]
    assert sorted(row["open_channel"]["name"] for row in queued) == ["Sales", "Support"]


def test_operator_of_another_open_channel_gets_404_everywhere(client, support, sales):
    connector, olga = support.connector, support.olga
    stan = sales.stan
    conversation = accepted(visitor_writes(connector, "visitor-a", "Private matter").conversation, olga)
    as_user(client, stan)
    lists = client.get("/api/console/conversations/").json()
    assert lists["offered"] == lists["mine"] == lists["queued"] == []
    for path in ("", "messages/", "transfer-targets/"):
        response = client.get(f"/api/conversations/{conversation.pk}/{path}")
        assert response.status_code == 404, path
        assert response.json() == {"detail": "This conversation does not exist."}
    assert client.post(f"/api/conversations/{conversation.pk}/lead/").status_code == 404


def test_queue_member_reads_a_waiting_conversation_of_their_channel(client, support):
    connector, piotr = support.connector, support.piotr
    conversation = visitor_writes(connector, "visitor-a", "Hello").conversation  # offered to Olga
    response = as_user(client, piotr).get(f"/api/conversations/{conversation.pk}/")
    assert response.status_code == 200
    detail = response.json()
    assert detail["offer"] is None
    assert (detail["can_reply"], detail["can_close"], detail["can_transfer"]) == (False, False, False)


def test_O2_messages_in_order_and_only_newer_ones_after_a_reconnect(client, support):
    connector, olga = support.connector, support.olga
    conversation = accepted(visitor_writes(connector, "visitor-a", "One").conversation, olga)
    message_send_by_operator(conversation_id=conversation.pk, operator=olga, text="Two", now=timezone.now())
    visitor_writes(connector, "visitor-a", "Three")
    as_user(client, olga)

    full = client.get(f"/api/conversations/{conversation.pk}/messages/").json()["messages"]
    assert [(m["author_kind"], m["text"]) for m in full] == [
        ("client", "One"),
        ("operator", "Two"),
        ("client", "Three"),
    ]
    assert full[1]["author_id"] == olga.pk
    newer = client.get(f"/api/conversations/{conversation.pk}/messages/?after={full[0]['id']}").json()["messages"]
    assert [m["text"] for m in newer] == ["Two", "Three"]
    bad = client.get(f"/api/conversations/{conversation.pk}/messages/?after=yesterday")
    assert bad.status_code == 400
    assert bad.json() == {"detail": "“after” must be a whole number."}


def test_conversation_detail_has_client_card_actions_and_canned_replies(client, support):
    connector, olga = support.connector, support.olga
    conversation = accepted(
        visitor_writes(connector, "visitor-a", "Hi", client_name="Anna", client_email="anna@example.com").conversation,
        olga,
    )
    detail = as_user(client, olga).get(f"/api/conversations/{conversation.pk}/").json()
    assert (detail["can_reply"], detail["can_close"], detail["can_transfer"]) == (True, True, True)
    assert detail["client"]["name"] == "Anna"
    assert detail["client"]["email"] == "anna@example.com"
    assert detail["client"]["source"] == "Website live chat"
    assert detail["client"]["can_be_contacted"] is True
    assert detail["canned_replies"] == [{"shortcut": "hello", "title": "Greeting", "text": "Hello!"}]


def test_Q13_transfer_targets_are_the_queue_and_the_other_open_channels(client, support, sales):
    connector, olga, piotr = support.connector, support.olga, support.piotr
    conversation = accepted(visitor_writes(connector, "visitor-a", "Hi").conversation, olga)
    targets = as_user(client, olga).get(f"/api/conversations/{conversation.pk}/transfer-targets/").json()
    assert [(o["id"], o["is_online"]) for o in targets["operators"]] == [(piotr.pk, False)]
    assert [c["name"] for c in targets["open_channels"]] == ["Sales"]


def test_Q13_transfer_targets_show_each_colleagues_availability_and_load(client, support):
    """The console marks who could take the conversation, with the same words a refused transfer would use."""
    connector, olga, channel = support.connector, support.olga, support.channel
    anna = OperatorFactory(username="anna", first_name="Anna")
    QueueMemberFactory(open_channel=channel, operator=anna, position=2)
    OpenChannel.objects.filter(pk=channel.pk).update(chat_limit_enabled=True, chat_limit=1)
    conversation = accepted(visitor_writes(connector, "visitor-a", "Hi").conversation, olga)
    # Olga is at her limit and Piotr offline, so the next visitor can only go to Anna.
    accepted(visitor_writes(connector, "visitor-b", "Hello").conversation, anna)
    targets = as_user(client, olga).get(f"/api/conversations/{conversation.pk}/transfer-targets/").json()
    by_name = {o["name"]: o for o in targets["operators"]}
    assert {
        name: (o["available"], o["unavailable_reason"], o["load"], o["chat_limit"]) for name, o in by_name.items()
    } == {
        "Piotr": (False, "Piotr is offline.", 0, 1),
        "Anna": (False, "Anna has reached the limit of 1 chat.", 1, 1),
    }
    assert (by_name["Piotr"]["is_online"], by_name["Anna"]["is_online"]) == (False, True)


def test_console_api_refuses_anonymous_users_and_non_operators(client, support):
    assert client.get("/api/console/conversations/").status_code == 403
    clerk = UserFactory(username="clerk")
    assert as_user(client, clerk).get("/api/console/state/").status_code == 403


# --- operator status (Q5) -------------------------------------------------------------------------------


def test_Q5_clock_in_break_and_clock_out_through_the_api(client, support):
    olga = support.olga
    OperatorProfile.objects.filter(user=olga).update(clocked_in=False)
    as_user(client, olga)

    refused = client.post("/api/console/status/", {"action": "break_start"}, content_type="application/json")
    assert refused.status_code == 409
    assert refused.json() == {"detail": "Clock in before taking a break."}
    for action, expected in (
        ("clock_in", (True, False)),
        ("break_start", (True, True)),
        ("break_end", (True, False)),
        ("clock_out", (False, False)),
    ):
        response = client.post("/api/console/status/", {"action": action}, content_type="application/json")
        assert response.status_code == 200, action
        operator = response.json()["operator"]
        assert (operator["clocked_in"], operator["on_break"]) == expected, action
    profile = OperatorProfile.objects.get(user=olga)
    assert not profile.clocked_in
    assert client.post("/api/console/status/", {"action": "nap"}, content_type="application/json").status_code == 400


def test_away_through_the_api_and_the_state_says_why_in_words(client, support):
    olga = support.olga
    as_user(client, olga)
    state = client.get("/api/console/state/").json()["operator"]
    assert (state["availability"], state["receiving"], state["reasons"]) == ("available", True, [])
    assert state["clock_in_required"] is False  # the channel does not ask for clock-in: no buttons

    response = client.post("/api/console/status/", {"action": "away"}, content_type="application/json")
    assert response.status_code == 200
    operator = response.json()["operator"]
    assert (operator["availability"], operator["receiving"]) == ("away", False)
    assert operator["reasons"] == ["You are Away: you keep your conversations, but no new ones are offered to you."]
    assert OperatorProfile.objects.get(user=olga).availability == "away"

    back = client.post("/api/console/status/", {"action": "available"}, content_type="application/json")
    assert back.json()["operator"]["availability"] == "available"


def test_status_change_needs_the_csrf_token(support):
    from django.test import Client as CsrfCheckingClient

    olga = support.olga
    browser = CsrfCheckingClient(enforce_csrf_checks=True)
    browser.force_login(olga)
    response = browser.post("/api/console/status/", {"action": "clock_out"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert OperatorProfile.objects.get(user=olga).clocked_in


# --- manual lead (C2) ------------------------------------------------------------------------------------


def test_C2_manual_lead_for_an_anonymous_visitor_explains_why_not(client, support):
    channel, connector, olga = support.channel, support.connector, support.olga
    channel.lead_creation = "manual"
    channel.save()
    conversation = accepted(visitor_writes(connector, "visitor-anonymous", "Hi").conversation, olga)
    response = as_user(client, olga).post(f"/api/conversations/{conversation.pk}/lead/")
    assert response.status_code == 409
    assert response.json()["detail"], "the console shows the reason next to the button"
    conversation.refresh_from_db()
    assert conversation.lead_id is None


def test_C2_manual_lead_for_a_visitor_who_left_an_email(client, support):
    channel, connector, olga = support.channel, support.connector, support.olga
    channel.lead_creation = "manual"
    channel.save()
    conversation = accepted(
        visitor_writes(
            connector, "visitor-known", "Hi", client_name="Ewa", client_email="ewa@example.com"
        ).conversation,
        olga,
    )
    response = as_user(client, olga).post(f"/api/conversations/{conversation.pk}/lead/")
    assert response.status_code == 201, response.content
    conversation.refresh_from_db()
    assert conversation.lead_id == response.json()["id"]


# --- widget ------------------------------------------------------------------------------------------------


def test_widget_state_shows_the_visitors_own_conversation_only(client, support):
    connector, olga = support.connector, support.olga
    conversation = accepted(visitor_writes(connector, "visitor-mine", "My question").conversation, olga)
    message_send_by_operator(conversation_id=conversation.pk, operator=olga, text="An answer", now=timezone.now())
    visitor_writes(connector, "visitor-other", "Somebody else's question")

    token = visitor_token_issue(connector=connector, visitor_id="visitor-mine")
    body = client.get(f"/api/livechat/{token}/").json()
    assert body["conversation"]["id"] == conversation.pk
    assert body["conversation"]["status"] == ConversationStatus.ACTIVE
    assert [(m["author"], m["text"]) for m in body["messages"]] == [
        ("client", "My question"),
        ("operator", "An answer"),
    ]
    assert set(body["messages"][1]) == {
        "id", "author", "author_name", "text", "attachments", "created_at", "edited", "deleted",
    }  # fmt: skip
    after = client.get(f"/api/livechat/{token}/?after={body['messages'][0]['id']}").json()
    assert [m["text"] for m in after["messages"]] == ["An answer"]

    fresh = visitor_token_issue(connector=connector)
    empty = client.get(f"/api/livechat/{fresh}/").json()
    assert (empty["conversation"], empty["messages"]) == (None, [])
    assert client.get("/api/livechat/not-a-token/").status_code == 403


def test_O3_transcript_is_emailed_in_the_open_channels_language(client, support):
    channel, connector, olga = support.channel, support.connector, support.olga
    channel.language = Language.POLISH
    channel.save()
    conversation = accepted(visitor_writes(connector, "visitor-pl", "Dzień dobry").conversation, olga)
    message_send_by_operator(
        conversation_id=conversation.pk, operator=olga, text="W czym mogę pomóc?", now=timezone.now()
    )
    token = visitor_token_issue(connector=connector, visitor_id="visitor-pl")

    response = client.post(
        f"/api/livechat/{token}/transcript/", {"email": "jan@example.com"}, content_type="application/json"
    )
    assert response.status_code == 202
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["jan@example.com"]
    assert email.subject == "Twoja rozmowa z Support"
    assert email.body.startswith("Oto zapis Twojej rozmowy z Support.")
    assert "Ty: Dzień dobry" in email.body
    assert "W czym mogę pomóc?" in email.body
    # A typed address waits for its owner to confirm it before the visitor counts as contactable (C2, issue 13).
    visitor = Client.objects.get(external_id="visitor-pl")
    assert (visitor.email, visitor.unverified_email) == ("", "jan@example.com")
    # Olga's client card shows the address as not confirmed, and the visitor as not contactable yet.
    client.force_login(olga)
    card = client.get(f"/api/conversations/{conversation.pk}/").json()["client"]
    assert (card["email"], card["unverified_email"], card["can_be_contacted"]) == ("", "jan@example.com", False)


def test_transcript_refuses_bad_addresses_an_empty_chat_and_floods(client, support, settings):
    connector = support.connector
    token = visitor_token_issue(connector=connector, visitor_id="visitor-x")
    url = f"/api/livechat/{token}/transcript/"
    nothing = client.post(url, {"email": "x@example.com"}, content_type="application/json")
    assert (nothing.status_code, nothing.json()) == (409, {"detail": "There is no conversation to send yet."})
    visitor_writes(connector, "visitor-x", "Hello")
    assert client.post(url, {"email": "not an address"}, content_type="application/json").status_code == 400
    settings.RATE_LIMITS = {"livechat_transcript_email": {"capacity": 1, "refill_per_second": 0.001}}
    assert client.post(url, {"email": "x@example.com"}, content_type="application/json").status_code == 202
    flooded = client.post(url, {"email": "x@example.com"}, content_type="application/json")
    assert flooded.status_code == 429
    assert len(mail.outbox) == 1


def test_openapi_schema_documents_the_console_and_widget_endpoints(client, admin_user):
    response = as_user(client, admin_user).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/console/state/",
        "/api/console/status/",
        "/api/console/conversations/",
        "/api/conversations/{conversation_id}/",
        "/api/conversations/{conversation_id}/messages/",
        "/api/conversations/{conversation_id}/transfer-targets/",
        "/api/conversations/{conversation_id}/lead/",
        "/api/livechat/{token}/",
        "/api/livechat/{token}/transcript/",
    ):
        assert path in paths, path
