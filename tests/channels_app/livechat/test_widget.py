"""The live-chat widget (S1): visitor tokens, the snippet, the frame and demo pages, what visitors see
(O1, O3, Q12, H2, A1)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core import signing
from django.utils import timezone

from channels_app.engine.client_view import operator_identity_for_client
from channels_app.engine.errors import InvalidState
from channels_app.engine.transcripts import transcript_text
from channels_app.livechat.services import livechat_consent_record
from channels_app.livechat.snippet import livechat_snippet
from channels_app.livechat.texts import widget_texts
from channels_app.livechat.visitors import (
    VISITOR_TOKEN_MAX_AGE_SECONDS,
    InvalidVisitorToken,
    livechat_connector_for_token,
    visitor_token_issue,
    visitor_token_read,
)
from channels_app.models import (
    ConsentForm,
    ConsentRecord,
    Language,
    Message,
    OperatorIdentity,
    OperatorProfile,
    WorkingPeriod,
)
from tests.factories import ConnectorFactory, ConversationFactory, OpenChannelFactory, OperatorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(db):
    return ConnectorFactory(open_channel=OpenChannelFactory(name="Support"), public_key="site-key-123")


# --- tokens ----------------------------------------------------------------------------------------------


def test_S1_token_round_trip_and_every_token_is_a_new_unguessable_visitor(connector):
    first, second = visitor_token_issue(connector=connector), visitor_token_issue(connector=connector)
    one, two = visitor_token_read(first), visitor_token_read(second)
    assert one.connector_id == two.connector_id == connector.pk
    assert one.visitor_id != two.visitor_id
    assert len(one.visitor_id) >= 20
    assert visitor_token_read(visitor_token_issue(connector=connector, visitor_id="v-1")).visitor_id == "v-1"


def test_altered_foreign_and_expired_tokens_are_refused(connector):
    token = visitor_token_issue(connector=connector, visitor_id="alice")
    payload, timestamp, signature = token.split(":")
    forged = signing.dumps({"c": connector.pk, "v": "bob"}, salt="another.purpose")
    for bad in (f"{payload}x:{timestamp}:{signature}", forged, "", "garbage"):
        with pytest.raises(InvalidVisitorToken):
            visitor_token_read(bad)
    too_late = timezone.now() + timedelta(seconds=VISITOR_TOKEN_MAX_AGE_SECONDS + 60)
    with time_machine.travel(too_late), pytest.raises(InvalidVisitorToken):
        visitor_token_read(token)


def test_token_of_a_switched_off_connector_or_channel_is_refused(connector):
    token = visitor_token_issue(connector=connector)
    assert livechat_connector_for_token(token)[0] == connector
    connector.open_channel.is_active = False
    connector.open_channel.save()
    with pytest.raises(InvalidVisitorToken):
        livechat_connector_for_token(token)


# --- snippet and pages ------------------------------------------------------------------------------------


def test_S1_snippet_is_one_script_tag_with_the_connector_key(connector, settings):
    settings.SITE_URL = "https://contact.example.com"
    snippet = livechat_snippet(connector)
    assert '<script async src="https://contact.example.com/static/livechat/widget.js"' in snippet
    assert 'data-open-channels-key="site-key-123"' in snippet
    connector.open_channel.name = 'Support <script>alert("x")</script>'
    assert "<script>alert" not in livechat_snippet(connector, base_url="http://127.0.0.1:8000/")


def test_demo_page_embeds_the_snippet(client, connector):
    response = client.get("/livechat/demo/site-key-123/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="http://testserver/static/livechat/widget.js" data-open-channels-key="site-key-123"' in html
    assert client.get("/livechat/demo/no-such-key/").status_code == 404


def test_O1_frame_page_can_be_embedded_and_shows_the_channel_name(client, connector):
    response = client.get("/livechat/frame/site-key-123/")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers, "any website may embed the chat (S1)"
    assert response.headers["Cache-Control"].startswith("max-age=0")
    config = response.context["widget_config"]
    assert config["channel"] == {"name": "Support", "photo_url": ""}
    assert visitor_token_read(config["fresh_token"]).connector_id == connector.pk
    assert config["out_of_hours"]["closed"] is False
    assert config["consent"] is None


def test_O3_frame_texts_are_in_the_open_channels_language(client, connector):
    connector.open_channel.language = Language.VIETNAMESE
    connector.open_channel.save()
    config = client.get("/livechat/frame/site-key-123/").context["widget_config"]
    assert config["language"] == "vi"
    assert config["texts"]["transcript_button"] == "Gửi bản ghi cuộc trò chuyện qua e-mail cho tôi"
    assert widget_texts("pl")["transcript_button"] == "Wyślij mi zapis rozmowy e-mailem"
    assert set(widget_texts("pl")) == set(widget_texts("en")) == set(widget_texts("vi"))


def test_H2_frame_shows_the_out_of_hours_text_when_closed(client, connector):
    channel = connector.open_channel
    channel.working_hours_enabled = True
    channel.time_zone = "Europe/Warsaw"
    channel.out_of_hours_text = "We answer from 9:00 on weekdays."
    channel.save()
    WorkingPeriod.objects.create(open_channel=channel, weekday=0, start=time(9), end=time(17))
    monday_night = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    with time_machine.travel(monday_night, tick=False):
        closed = client.get("/livechat/frame/site-key-123/").context["widget_config"]["out_of_hours"]
    assert closed == {"closed": True, "text": "We answer from 9:00 on weekdays."}
    monday_morning = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    with time_machine.travel(monday_morning, tick=False):
        opened = client.get("/livechat/frame/site-key-123/").context["widget_config"]["out_of_hours"]
    assert opened == {"closed": False, "text": ""}


def test_A1_frame_carries_the_consent_form_when_the_notice_is_on(client, connector):
    form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages for one year.")
    channel = connector.open_channel
    channel.consent_required = True
    channel.consent_form = form
    channel.save()
    config = client.get("/livechat/frame/site-key-123/").context["widget_config"]
    assert config["consent"] == {"title": "Privacy notice", "text": "We keep your messages for one year."}


def test_A1_consent_is_recorded_per_form_version(connector):
    form = ConsentForm.objects.create(name="Privacy notice", text="Version one")
    channel = connector.open_channel
    with pytest.raises(InvalidState):
        livechat_consent_record(connector=connector, visitor_id="v", now=timezone.now())
    channel.consent_required = True
    channel.consent_form = form
    channel.save()
    now = timezone.now()
    first = livechat_consent_record(connector=connector, visitor_id="v", now=now)
    assert livechat_consent_record(connector=connector, visitor_id="v", now=now + timedelta(minutes=1)) == first
    form.text = "Version two"
    form.save()
    second = livechat_consent_record(connector=connector, visitor_id="v", now=now + timedelta(minutes=2))
    assert [r.form_version.number for r in ConsentRecord.objects.order_by("accepted_at")] == [1, 2]
    assert second.accepted_at == now + timedelta(minutes=2)


def test_unknown_or_inactive_keys_have_no_frame(client, connector):
    assert client.get("/livechat/frame/unknown/").status_code == 404
    connector.is_active = False
    connector.save()
    assert client.get("/livechat/frame/site-key-123/").status_code == 404


# --- what the visitor is told ------------------------------------------------------------------------------


def test_Q12_identity_is_the_operator_the_channel_or_nobody(connector):
    channel = connector.open_channel
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    OperatorProfile.objects.filter(user=olga).update(display_name="Olga N.", photo_url="https://img.example/o.png")
    olga.refresh_from_db()
    assert operator_identity_for_client(channel, olga) == {"name": "Olga N.", "photo_url": "https://img.example/o.png"}
    channel.operator_identity = OperatorIdentity.CHANNEL
    channel.display_name = "Garden helpers"
    assert operator_identity_for_client(channel, olga) == {"name": "Garden helpers", "photo_url": ""}
    channel.operator_identity = OperatorIdentity.HIDDEN
    assert operator_identity_for_client(channel, olga) is None


def test_O3_transcript_uses_the_channel_time_zone_and_names(connector):
    channel = connector.open_channel
    channel.time_zone = "Asia/Ho_Chi_Minh"
    channel.language = Language.VIETNAMESE
    channel.save()
    olga = OperatorFactory(username="olga", first_name="Olga")
    conversation = ConversationFactory(client__connector=connector, operator=olga)
    at = datetime(2026, 11, 23, 3, 5, tzinfo=UTC)
    Message.objects.create(
        conversation=conversation, connector=connector, author_kind="client", text="Xin chào", created_at=at
    )
    Message.objects.create(
        conversation=conversation, connector=connector, author_kind="operator", author=olga, text="Chào bạn",
        created_at=at + timedelta(minutes=1),
    )  # fmt: skip
    subject, body = transcript_text(conversation)
    assert subject == "Cuộc trò chuyện của bạn với Support"
    assert "[2026-11-23 10:05] Bạn: Xin chào" in body
    assert "[2026-11-23 10:06] Olga: Chào bạn" in body


def test_widget_static_files_render_text_never_html():
    """Every message reaches the page through textContent; the modules never use innerHTML."""
    from django.conf import settings

    static = settings.BASE_DIR / "static"
    paths = sorted(
        str(path.relative_to(static)) for folder in ("console", "livechat") for path in (static / folder).glob("*.js")
    )
    assert {"console/console.js", "console/socket.js", "livechat/chat.js", "livechat/widget.js"} <= set(paths)
    for path in paths:
        source = (static / path).read_text()
        for dangerous in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert dangerous not in source, f"{path} uses {dangerous}"


def test_R1_the_widget_learns_which_system_messages_are_the_rating_request_and_thanks(connector):
    """Issue 20: the widget draws the rating request as the prompt of its buttons (not also a thread line) and
    keeps the thanks as the one thank-you; other system messages and the bot's keys stay unmarked."""
    from channels_app.livechat.payloads import visitor_message_payload

    conversation = ConversationFactory(connector=connector, open_channel=connector.open_channel)
    now = timezone.now()

    def payload(author_kind: str, key: str) -> dict:
        message = Message.objects.create(
            conversation=conversation,
            connector=connector,
            author_kind=author_kind,
            text=key,
            system_key=key,
            created_at=now,
        )
        return visitor_message_payload(message, connector.open_channel)

    assert payload(Message.Author.SYSTEM, "rating_request")["notice"] == "rating_request"
    assert payload(Message.Author.SYSTEM, "rating_thanks")["notice"] == "rating_thanks"
    assert payload(Message.Author.SYSTEM, "close")["notice"] == ""
    assert payload(Message.Author.BOT, "botapi:rating_request")["notice"] == ""


def test_frame_says_whether_the_channel_thanks_for_a_rating_and_the_message_limit(client, connector):
    config = client.get("/livechat/frame/site-key-123/").context["widget_config"]
    assert (config["rating_thanks"], config["max_message_length"]) == (True, 4000)
    connector.open_channel.rating_thanks_text = "  "
    connector.open_channel.save()
    assert client.get("/livechat/frame/site-key-123/").context["widget_config"]["rating_thanks"] is False


def test_frame_text_box_has_no_maxlength_so_a_long_paste_is_never_cut_silently(client, connector):
    body = client.get("/livechat/frame/site-key-123/").content.decode()
    assert 'id="text"' in body and "maxlength" not in body.split('id="text"')[1].split(">")[0]
    assert 'id="counter"' in body and 'id="too-long"' in body
