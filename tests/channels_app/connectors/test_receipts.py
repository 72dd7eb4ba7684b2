"""Issue 15.5: receipts of our messages from WhatsApp (``statuses``), Messenger (``delivery`` / ``read``) and Zalo
(``user_received_message`` / ``user_seen_message``).

The webhook stores each receipt as an update (a replay stores nothing), and processing moves the message
forward only (``policy.delivery``); unknown ids and malformed receipts change nothing and never answer 500.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.connectors import get_source
from channels_app.connectors.processing import inbound_updates_process
from channels_app.models import Conversation, InboundUpdate, Message, Notification
from tests.channels_app.connectors import test_meta as meta_tests
from tests.channels_app.connectors import test_zalo as zalo_tests
from tests.channels_app.connectors.test_meta import page_body, signed_post, whatsapp_body
from tests.factories import ClientFactory, ConversationFactory, OperatorFactory, QueueMemberFactory

pytestmark = pytest.mark.django_db

PSID = "6028351927"
WA_ID = "16315551181"


# The Meta tests' fixtures: a Messenger page and a WhatsApp number with the app secret signed_post uses.
page = meta_tests.page
whatsapp = meta_tests.whatsapp
oa = zalo_tests.oa


def sent_reply(connector, external_id: str, source_message_id: str, *, created_at=None, delivery="sent") -> Message:
    conversation = ConversationFactory(client=ClientFactory(connector=connector, external_id=external_id))
    return Message.objects.create(
        conversation=conversation,
        connector=connector,
        author_kind=Message.Author.OPERATOR,
        text="Your parcel left today.",
        created_at=created_at or timezone.now(),
        delivery=delivery,
        source_message_id=source_message_id,
        delivery_parts_sent=1,
    )


def statuses_body(*statuses: dict) -> dict:
    body = whatsapp_body()
    body["entry"][0]["changes"][0]["value"]["statuses"] = list(statuses)
    return body


def wa_status(wamid: str, status: str, **extra) -> dict:
    return {"id": wamid, "status": status, "timestamp": "1767225700", "recipient_id": WA_ID, **extra}


def process_all(connector) -> None:
    ids = list(InboundUpdate.objects.filter(connector=connector, state="pending").values_list("update_id", flat=True))
    inbound_updates_process(connector_id=connector.pk, update_ids=ids, now=timezone.now())


def state(message: Message) -> str:
    message.refresh_from_db()
    return message.delivery


# --- WhatsApp statuses --------------------------------------------------------------------------------------


def test_whatsapp_delivered_then_read_moves_the_message_forward_and_records_the_times(client, whatsapp):
    message = sent_reply(whatsapp, WA_ID, "wamid.OUT1")
    assert signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT1", "delivered"))).status_code == 200
    process_all(whatsapp)
    assert state(message) == "delivered" and message.delivered_at is not None and message.read_at is None
    signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT1", "read")))
    process_all(whatsapp)
    assert state(message) == "read" and message.read_at is not None


def test_whatsapp_a_late_delivered_never_downgrades_read_and_replays_store_nothing(client, whatsapp):
    message = sent_reply(whatsapp, WA_ID, "wamid.OUT2")
    signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT2", "read")))
    process_all(whatsapp)
    assert signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT2", "read"))).json()["stored"] == 0
    signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT2", "delivered")))
    process_all(whatsapp)
    assert state(message) == "read"
    assert message.delivered_at is not None  # read implies delivered


def test_whatsapp_failed_status_gives_the_providers_reason(client, whatsapp):
    message = sent_reply(whatsapp, WA_ID, "wamid.OUT3")
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "More than 24 hours have passed since the recipient last replied."},
    }
    signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT3", "failed", errors=[error])))
    process_all(whatsapp)
    assert state(message) == "failed"
    assert message.delivery_error == "More than 24 hours have passed since the recipient last replied. (131047)"


def test_whatsapp_failed_status_notifies_the_holder_like_a_send_that_failed(client, whatsapp):
    message = sent_reply(whatsapp, WA_ID, "wamid.OUT4")
    holder = OperatorFactory(username="hanna")
    QueueMemberFactory(open_channel=message.conversation.open_channel, operator=holder)
    Conversation.objects.filter(pk=message.conversation_id).update(status="active", operator=holder)
    Message.objects.filter(pk=message.pk).update(author=holder)
    signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT4", "failed")))
    process_all(whatsapp)
    assert state(message) == "failed"
    notification = Notification.objects.get()
    assert (notification.recipient_id, notification.kind, notification.message_id) == (
        holder.pk,
        Notification.Kind.DELIVERY_FAILED,
        message.pk,
    )


def test_whatsapp_sent_status_is_not_stored_and_unknown_ids_change_nothing(client, whatsapp):
    message = sent_reply(whatsapp, WA_ID, "wamid.MINE")
    assert signed_post(client, whatsapp, statuses_body(wa_status("wamid.MINE", "sent"))).json()["ignored"] is True
    signed_post(client, whatsapp, statuses_body(wa_status("wamid.FROM_THE_PHONE_APP", "read")))
    process_all(whatsapp)
    assert state(message) == "sent"
    assert InboundUpdate.objects.get().state == "processed"


@pytest.mark.parametrize(
    "status",
    [
        {"status": "read"},  # no id
        {"id": "wamid.OUT4", "status": "deleted"},  # a state we do not track
        {"id": ["wamid.OUT4"], "status": "read"},
        "not a status",
        {"id": "wamid.OUT4", "status": {"read": 1}},
    ],
)
def test_whatsapp_malformed_statuses_answer_200_and_change_nothing(client, whatsapp, status):
    message = sent_reply(whatsapp, WA_ID, "wamid.OUT4")
    response = signed_post(client, whatsapp, statuses_body(status))
    assert response.status_code == 200
    process_all(whatsapp)
    assert state(message) == "sent"
    assert not InboundUpdate.objects.filter(state="failed").exists()


def test_whatsapp_a_receipt_overtaking_our_sent_leaves_the_message_to_the_sender(client, whatsapp):
    message = sent_reply(whatsapp, WA_ID, "wamid.OUT5", delivery="queued")
    signed_post(client, whatsapp, statuses_body(wa_status("wamid.OUT5", "delivered")))
    process_all(whatsapp)
    assert state(message) == "queued"


# --- Messenger delivery and read ----------------------------------------------------------------------------


def messenger_receipt(kind: str, watermark: int, mids: list[str] | None = None, psid: str = PSID) -> dict:
    body: dict = {"watermark": watermark}
    if mids is not None:
        body["mids"] = mids
    return {"sender": {"id": psid}, "recipient": {"id": "104857600"}, "timestamp": watermark, kind: body}


def millis(moment) -> int:
    return int(moment.timestamp() * 1000)


def test_messenger_delivery_by_mid_and_read_by_watermark(client, page):
    now = timezone.now()
    older = sent_reply(page, PSID, "m_OLD", created_at=now - timedelta(minutes=5))
    conversation = older.conversation
    newer = Message.objects.create(
        conversation=conversation, connector=page, author_kind="operator", text="One more thing.",
        created_at=now, delivery="sent", source_message_id="m_NEW",
    )  # fmt: skip
    client_message = Message.objects.create(
        conversation=conversation, connector=page, author_kind="client", text="Thanks",
        created_at=now - timedelta(minutes=1), delivery="received", source_message_id="m_CLIENT",
    )  # fmt: skip
    body = page_body([messenger_receipt("delivery", millis(now - timedelta(minutes=10)), mids=["m_OLD"])])
    assert signed_post(client, page, body).json()["stored"] == 1
    process_all(page)
    assert (state(older), state(newer)) == ("delivered", "sent")
    # Read up to a moment between the two: only the older one; the client's own message is untouched.
    signed_post(client, page, page_body([messenger_receipt("read", millis(now - timedelta(minutes=1)))]))
    process_all(page)
    assert (state(older), state(newer), state(client_message)) == ("read", "sent", "received")
    signed_post(client, page, page_body([messenger_receipt("read", millis(now + timedelta(seconds=1)))]))
    process_all(page)
    assert state(newer) == "read"


def test_messenger_read_of_another_client_changes_nothing(client, page):
    message = sent_reply(page, PSID, "m_X")
    signed_post(client, page, page_body([messenger_receipt("read", millis(timezone.now()) + 1000, psid="999")]))
    process_all(page)
    assert state(message) == "sent"


@pytest.mark.parametrize(
    "event",
    [
        {"sender": {"id": PSID}, "read": {}},  # no watermark
        {"sender": {"id": PSID}, "read": {"watermark": "soon"}},
        {"sender": {"id": PSID}, "delivery": {"mids": "m_1", "watermark": None}},
        {"sender": {}, "read": {"watermark": 1}},  # no client
        {"sender": {"id": PSID}, "read": "yes"},
    ],
)
def test_messenger_malformed_receipts_answer_200_and_change_nothing(client, page, event):
    message = sent_reply(page, PSID, "m_Y")
    assert signed_post(client, page, page_body([event])).status_code == 200
    process_all(page)
    assert state(message) == "sent"
    assert not InboundUpdate.objects.filter(state="failed").exists()


def test_messenger_a_huge_watermark_is_ignored_not_a_crash(page):
    source = get_source(page.kind)
    payload = {"event": messenger_receipt("read", 10**20)}
    update = InboundUpdate.objects.create(
        connector=page, update_id="read:x", payload=payload, received_at=timezone.now(), state="pending"
    )
    inbound_updates_process(connector_id=page.pk, update_ids=["read:x"], now=timezone.now())
    update.refresh_from_db()
    assert update.state == "ignored"
    assert source is not None


def test_messenger_subscribes_to_deliveries_and_reads(page):
    assert "message_deliveries" in get_source(page.kind).subscribed_fields.split(",")
    assert "message_reads" in get_source(page.kind).subscribed_fields.split(",")


# --- Zalo user_received_message / user_seen_message -----------------------------------------------------------


def zalo_receipt(event_name: str, msg_ids) -> dict:
    return {
        "app_id": zalo_tests.APP_ID,
        "sender": {"id": "388613280878808645"},
        "recipient": {"id": "246845883529197922"},
        "event_name": event_name,
        "message": {"msg_ids": msg_ids},
        "timestamp": "1767225700000",
    }


def test_zalo_received_then_seen_marks_the_oas_message_delivered_then_read(client, oa):
    message = sent_reply(oa, "246845883529197922", "zalo-out-1")
    for event_name, expected in (("user_received_message", "delivered"), ("user_seen_message", "read")):
        raw, signature = zalo_tests.signed(zalo_receipt(event_name, ["zalo-out-1", "zalo-unknown"]))
        assert zalo_tests.post(client, oa, raw, signature).json()["stored"] == 1
        process_all(oa)
        assert state(message) == expected
    raw, signature = zalo_tests.signed(zalo_receipt("user_received_message", ["zalo-out-1", "zalo-unknown"]))
    assert zalo_tests.post(client, oa, raw, signature).json()["stored"] == 0  # a replay
    assert state(message) == "read"


@pytest.mark.parametrize("msg_ids", [[], "zalo-out-2", None, [None, 3.5]])
def test_zalo_malformed_receipts_answer_200_and_change_nothing(client, oa, msg_ids):
    message = sent_reply(oa, "246845883529197922", "zalo-out-2")
    raw, signature = zalo_tests.signed(zalo_receipt("user_seen_message", msg_ids))
    assert zalo_tests.post(client, oa, raw, signature).status_code == 200
    process_all(oa)
    assert state(message) == "sent"
