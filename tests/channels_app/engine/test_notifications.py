"""Issue 15: notifications that stay until read, their producers (a mention in a note, a transfer to me, a failed
delivery; K2 misses in tests/kpi/test_services.py), reading them, and who may see which."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from channels_app.connectors import processing
from channels_app.engine import conversations, notes, notifications, offers
from channels_app.engine.errors import NotFound
from channels_app.models import Connector, ConversationNote, Message, Notification, OperatorProfile, QueueMember
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    olga, piotr = make_operator("olga"), make_operator("piotr")
    OperatorProfile.objects.filter(user=olga).update(display_name="Olga Nowak")
    OperatorProfile.objects.filter(user=piotr).update(display_name="Piotr")
    users = get_user_model().objects.select_related("operator_profile")
    return users.get(pk=olga.pk), users.get(pk=piotr.pk)


def taken(engine, channel, operator, **kwargs):
    conversation = engine.receive(channel, **kwargs)
    offer = conversation.offers.get(operator=operator)
    return engine.commit(offers.offer_accept, offer_id=offer.pk, operator=operator)


# --- mentions ----------------------------------------------------------------------------------------------


def test_a_mention_in_a_note_is_recorded_and_notifies_that_colleague_only(engine, team):
    olga, piotr = team
    outsider = make_operator("pat")  # same display name prefix, another channel: not a candidate
    OperatorProfile.objects.filter(user=outsider).update(display_name="Piotr")
    channel = make_channel(team)
    make_channel([outsider])
    conversation = taken(engine, channel, olga)

    note = engine.commit(
        notes.note_add,
        conversation_id=conversation.pk,
        author=olga,
        text="@piotr please check the invoice, @Nobody knows, @Olga Nowak noted",
    )

    assert sorted(user.username for user in note.mentioned.all()) == ["olga", "piotr"]
    (notification,) = Notification.objects.all()
    assert (notification.recipient, notification.kind, notification.conversation_id, notification.note_id) == (
        piotr,
        "mention",
        conversation.pk,
        note.pk,
    )
    assert notification.read_at is None
    assert notification.text.startswith("Olga Nowak: @piotr please check")
    (event,) = engine.events(f"operator.{piotr.pk}", "notification.created")
    assert event["notification"]["note_id"] == note.pk
    assert not engine.events(f"operator.{outsider.pk}", "notification.created")
    (created,) = engine.events(type="note.created")
    assert sorted((m["id"], m["name"]) for m in created["note"]["mentions"]) == [
        (olga.pk, "Olga Nowak"),
        (piotr.pk, "Piotr"),
    ]


def test_unknown_names_stay_text_and_a_longer_name_wins(engine, team):
    olga, piotr = team
    anna, anna_nowak = make_operator("anna"), make_operator("anowak")
    OperatorProfile.objects.filter(user=anna).update(display_name="Anna")
    OperatorProfile.objects.filter(user=anna_nowak).update(display_name="Anna Nowak")
    channel = make_channel([olga, piotr, anna, anna_nowak])
    conversation = taken(engine, channel, olga)

    note = engine.commit(notes.note_add, conversation_id=conversation.pk, author=olga, text="ask @Anna Nowak, not @Zed")
    assert [user.username for user in note.mentioned.all()] == ["anowak"]
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["anowak"]
    plain = engine.commit(notes.note_add, conversation_id=conversation.pk, author=olga, text="mail me at olga@Piotr")
    assert not plain.mentioned.exists(), "an e-mail address is not a mention"
    assert notes.mention_segments("ask @Anna Nowak, ok", ["Anna Nowak", "Anna"]) == [
        ("ask ", False),
        ("@Anna Nowak", True),
        (", ok", False),
    ]


def test_a_note_never_becomes_a_message_nor_reaches_the_clients_group(engine, team):
    olga, _piotr = team
    conversation = taken(engine, make_channel(team), olga)
    before = Message.objects.filter(conversation=conversation).count()
    engine.commit(notes.note_add, conversation_id=conversation.pk, author=olga, text="@Piotr secret plan")
    assert Message.objects.filter(conversation=conversation).count() == before
    assert ConversationNote.objects.count() == 1
    assert not [event for event in engine.events(f"conversation.{conversation.pk}") if "secret plan" in str(event)]


# --- transfers ---------------------------------------------------------------------------------------------


def test_a_transfer_to_me_notifies_me_and_a_take_over_notifies_nobody(engine, team):
    olga, piotr = team
    conversation = taken(engine, make_channel(team), olga)
    engine.commit(
        conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
    )
    (notification,) = Notification.objects.all()
    assert (notification.recipient, notification.kind, notification.text) == (piotr, "transfer", "Olga Nowak")
    assert engine.events(f"operator.{piotr.pk}", "notification.created")

    boss = UserFactory(username="boss")
    conversation.open_channel.supervisors.add(boss)
    engine.commit(conversations.conversation_take_over, conversation_id=conversation.pk, supervisor=boss)
    assert Notification.objects.count() == 1


# --- failed deliveries -----------------------------------------------------------------------------------


def test_a_failed_delivery_of_an_operators_message_notifies_the_holder(engine, team):
    olga, _piotr = team
    channel = make_channel(team, connector_kind="telegram")
    conversation = taken(engine, channel, olga)
    message = engine.commit(
        conversations.message_send_by_operator, conversation_id=conversation.pk, operator=olga, text="Your invoice"
    )
    Connector.objects.filter(pk=conversation.connector_id).update(is_active=False)

    outcome = engine.commit(processing.message_deliver, message_id=message.pk, final_attempt=True)

    assert outcome.state == "failed"
    (notification,) = Notification.objects.all()
    assert (notification.recipient, notification.kind, notification.message_id) == (olga, "delivery_failed", message.pk)
    assert "switched off" in notification.text
    (event,) = engine.events(f"operator.{olga.pk}", "notification.created")
    assert event["notification"]["message_id"] == message.pk
    # Settled once: running the task again notifies nobody twice.
    engine.commit(processing.message_deliver, message_id=message.pk, final_attempt=True)
    assert Notification.objects.count() == 1


def test_a_failed_system_message_notifies_nobody(engine, team):
    olga, _piotr = team
    conversation = taken(engine, make_channel(team, connector_kind="telegram"), olga)
    system = Message.objects.filter(conversation=conversation, author_kind=Message.Author.SYSTEM).first()
    assert system is not None
    assert notifications.delivery_failed_notify(message_id=system.pk, now=NOW) == []


# --- reading ---------------------------------------------------------------------------------------------


def _notify(user, conversation, at, text="x"):
    return notifications.notify(
        recipient_ids=[user.pk], kind=Notification.Kind.MENTION, conversation_id=conversation.pk, text=text, now=at
    )[0]


def test_read_one_read_all_and_pages_newest_first(engine, team):
    olga, piotr = team
    conversation = taken(engine, make_channel(team), olga)
    made = [_notify(piotr, conversation, NOW + timedelta(minutes=index), text=f"n{index}") for index in range(5)]

    page = notifications.notifications_page(piotr, limit=2)
    assert [item.text for item in page.items] == ["n4", "n3"]
    assert page.unread == 5
    older = notifications.notifications_page(piotr, limit=2, before_id=page.next_before)
    assert [item.text for item in older.items] == ["n2", "n1"]
    last = notifications.notifications_page(piotr, limit=2, before_id=older.next_before)
    assert ([item.text for item in last.items], last.next_before) == (["n0"], None)

    later = NOW + timedelta(hours=1)
    read = engine.commit(notifications.notification_read, user=piotr, notification_id=made[0].pk, now=later)
    assert read.read_at == later
    again = engine.commit(
        notifications.notification_read, user=piotr, notification_id=made[0].pk, now=later + timedelta(hours=1)
    )
    assert again.read_at == later, "reading twice keeps the first time"
    assert notifications.unread_count(piotr) == 4
    assert [item.text for item in notifications.notifications_page(piotr, unread_only=True).items] == [
        "n4",
        "n3",
        "n2",
        "n1",
    ]
    assert engine.events(f"operator.{piotr.pk}", "notification.read")

    assert engine.commit(notifications.notifications_read_all, user=piotr) == 4
    assert notifications.unread_count(piotr) == 0
    assert engine.commit(notifications.notifications_read_all, user=piotr) == 0


def test_another_persons_notification_is_not_found_and_unchanged(engine, team):
    olga, piotr = team
    conversation = taken(engine, make_channel(team), olga)
    theirs = _notify(piotr, conversation, NOW)
    with pytest.raises(NotFound):
        engine.commit(notifications.notification_read, user=olga, notification_id=theirs.pk)
    with pytest.raises(NotFound):
        engine.commit(notifications.notification_read, user=olga, notification_id=987654)
    engine.commit(notifications.notifications_read_all, user=olga)
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert notifications.notifications_page(olga).items == []


def test_a_conversation_i_may_no_longer_read_hides_its_notifications(engine, team):
    olga, piotr = team
    conversation = taken(engine, make_channel(team), olga)
    kept = _notify(piotr, conversation, NOW)
    assert notifications.unread_count(piotr) == 1
    QueueMember.objects.filter(operator=piotr).delete()

    assert notifications.unread_count(piotr) == 0
    assert notifications.notifications_page(piotr).items == []
    with pytest.raises(NotFound):
        engine.commit(notifications.notification_read, user=piotr, notification_id=kept.pk)
