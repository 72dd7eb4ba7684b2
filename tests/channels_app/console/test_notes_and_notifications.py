"""Issue 15, at the doors: a private note with @mentions written from the console, shown to staff (console API, KPI
transcript) and never to the client (widget API, e-mailed transcripts, connectors); the notifications REST API and
the supervisors' notifications page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from channels_app.engine import jobs, notifications
from channels_app.engine.transcripts import transcript_text
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import ConversationNote, ConversationStatus, Message, Notification, OperatorProfile
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SECRET = "internal: she is a VIP, offer 20%"


@pytest.fixture
def world(db):
    now = timezone.now()
    support = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    piotr = OperatorFactory(username="piotr", first_name="Piotr", last_name="Wiśniewski")
    mallory = OperatorFactory(username="mallory", first_name="Mallory")
    for position, operator in enumerate((olga, piotr)):
        QueueMemberFactory(open_channel=support, operator=operator, position=position)
    QueueMemberFactory(open_channel=OpenChannelFactory(name="Sales"), operator=mallory, position=0)
    rita = UserFactory(username="rita", first_name="Rita", last_name="Boss")
    rita.groups.add(Group.objects.get(name="Supervisors"))
    support.supervisors.add(rita)
    livechat = ConnectorFactory(open_channel=support, kind="livechat")
    telegram = ConnectorFactory(open_channel=support, kind="telegram", account_id="support-bot")

    def held(connector, name):
        client = ClientFactory(connector=connector, name=name, external_id=name.lower())
        conversation = ConversationFactory(
            client=client, status=ConversationStatus.ACTIVE, operator=olga, assigned_at=now, created_at=now
        )
        Message.objects.create(
            conversation=conversation, connector=connector, author_kind="client", text="Hello", created_at=now
        )
        return conversation

    return type(
        "World",
        (),
        {
            "olga": olga,
            "piotr": piotr,
            "mallory": mallory,
            "rita": rita,
            "chat": held(livechat, "Alice"),
            "telegram_chat": held(telegram, "Tomasz"),
            "livechat": livechat,
        },
    )


def _as(user) -> HttpClient:
    client = HttpClient()
    client.force_login(user)
    return client


def _note(user, conversation, text):
    return _as(user).post(
        reverse("api-conversation-notes", args=[conversation.pk]), {"text": text}, content_type="application/json"
    )


def test_a_note_from_the_console_mentions_a_colleague_by_display_name(world):
    response = _note(world.olga, world.chat, f"@Piotr Wiśniewski {SECRET} @Nobody")
    assert response.status_code == 201
    body = response.json()
    assert body["mentions"] == [{"id": world.piotr.pk, "name": "Piotr Wiśniewski"}]
    assert body["text"] == f"@Piotr Wiśniewski {SECRET} @Nobody"
    (notification,) = Notification.objects.all()
    assert (notification.recipient, notification.kind, notification.note_id) == (world.piotr, "mention", body["id"])

    detail = _as(world.piotr).get(reverse("api-conversation", args=[world.chat.pk])).json()
    assert [(note["text"], note["mentions"]) for note in detail["notes"]] == [(body["text"], body["mentions"])]


def test_mention_candidates_are_colleagues_who_may_read_the_conversation(world):
    names = _as(world.olga).get(reverse("api-conversation-mention-candidates", args=[world.chat.pk])).json()
    assert [person["name"] for person in names] == ["Piotr Wiśniewski", "Rita Boss"]
    assert (
        _as(world.mallory).get(reverse("api-conversation-mention-candidates", args=[world.chat.pk])).status_code == 404
    )


@pytest.mark.parametrize("body", [{}, {"text": "   "}, {"text": "x" * 4001}, {"text": ["a", "b"]}])
def test_a_bad_note_is_400_and_stores_nothing(world, body):
    response = _as(world.olga).post(
        reverse("api-conversation-notes", args=[world.chat.pk]), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert not ConversationNote.objects.exists()
    assert not Notification.objects.exists()


def test_a_mention_of_someone_who_may_not_read_the_conversation_stays_text(world):
    assert _note(world.olga, world.chat, "@Mallory look").json()["mentions"] == []
    assert not Notification.objects.exists()


# --- the note never reaches the client, by any door --------------------------------------------------------


def test_the_widget_api_never_shows_a_note(world):
    _note(world.olga, world.chat, SECRET)
    token = visitor_token_issue(connector=world.livechat, visitor_id=world.chat.client.external_id)
    state = HttpClient().get(reverse("api-livechat-state", args=[token]))
    assert state.status_code == 200
    assert "VIP" not in state.content.decode()
    assert [message["text"] for message in state.json()["messages"]] == ["Hello"]


def test_no_emailed_transcript_carries_a_note(world):
    _note(world.olga, world.chat, SECRET)
    subject, body = transcript_text(world.chat)
    assert "Hello" in body and "VIP" not in body and "VIP" not in subject


def test_no_connector_is_asked_to_send_a_note(world, monkeypatch):
    queued = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *args, **kwargs: queued.append((name, args)))
    before = set(Message.objects.values_list("pk", flat=True))
    with_callbacks = _note(world.olga, world.telegram_chat, f"@Piotr Wiśniewski {SECRET}")
    assert with_callbacks.status_code == 201
    assert set(Message.objects.values_list("pk", flat=True)) == before, "a note is never a message"
    assert queued == []


def test_the_kpi_transcript_shows_notes_to_staff_with_mentions_highlighted(world):
    _note(world.olga, world.chat, f"@Piotr Wiśniewski {SECRET}")
    page = _as(world.rita).get(reverse("kpi:conversation", args=[world.chat.pk])).content.decode()
    assert '<mark class="note-mention">@Piotr Wiśniewski</mark>' in page
    assert "VIP" in page


# --- notifications over REST -------------------------------------------------------------------------------


def _notify(user, conversation, minutes=0, text="hi"):
    return notifications.notify(
        recipient_ids=[user.pk],
        kind=Notification.Kind.TRANSFER,
        conversation_id=conversation.pk,
        text=text,
        now=timezone.now() + timedelta(minutes=minutes),
    )[0]


def test_the_notifications_api_lists_reads_and_reads_all_my_own(world):
    mine = [_notify(world.piotr, world.chat, minutes) for minutes in range(3)]
    theirs = _notify(world.olga, world.chat)
    piotr = _as(world.piotr)

    page = piotr.get(reverse("api-notifications")).json()
    assert [row["id"] for row in page["results"]] == [n.pk for n in reversed(mine)]
    assert page["unread"] == 3 and page["next_before"] is None
    assert page["results"][0]["client_name"] == "Alice"

    read = piotr.post(reverse("api-notification-read", args=[mine[0].pk]))
    assert read.status_code == 200 and read.json()["read_at"]
    assert piotr.get(reverse("api-notifications") + "?unread=1").json()["unread"] == 2
    assert piotr.post(reverse("api-notification-read", args=[theirs.pk])).status_code == 404
    assert piotr.get(reverse("api-notifications") + "?before=abc").status_code == 400

    assert piotr.post(reverse("api-notifications-read-all")).json() == {"marked": 2, "unread": 0}
    theirs.refresh_from_db()
    assert theirs.read_at is None


# --- the supervisors' page ---------------------------------------------------------------------------------


def test_a_supervisor_reads_notifications_on_the_kpi_pages_and_opens_the_transcript(world):
    notification = _notify(world.rita, world.chat, text="Olga missed the target")
    other = _notify(world.olga, world.chat)
    rita = _as(world.rita)

    page = rita.get(reverse("kpi:notifications"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Olga missed the target" in html and 'id="nav-notifications"' in html
    assert "badge badge-alert" in html

    opened = rita.post(reverse("kpi:notifications"), {"open": str(notification.pk)})
    assert opened.status_code == 302
    assert opened["Location"] == reverse("kpi:conversation", args=[world.chat.pk])
    notification.refresh_from_db()
    assert notification.read_at is not None

    assert rita.post(reverse("kpi:notifications"), {"read": "x1"}).status_code == 400
    assert rita.post(reverse("kpi:notifications"), {}).status_code == 400
    assert rita.post(reverse("kpi:notifications"), {"read": str(other.pk)}).status_code == 404
    assert rita.get(reverse("kpi:notifications") + "?before=-3").status_code == 400
    other.refresh_from_db()
    assert other.read_at is None
    assert rita.post(reverse("kpi:notifications"), {"read_all": "1"}).status_code == 302


def test_the_console_shows_the_bell_and_the_note_box(world):
    OperatorProfile.objects.filter(user=world.olga).update(display_name="")
    html = _as(world.olga).get(reverse("console")).content.decode()
    assert 'id="btn-notifications"' in html and 'id="note-composer"' in html
    assert "console/notifications.js" in html
