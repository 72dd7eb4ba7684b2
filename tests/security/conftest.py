"""The world every hostile-input test attacks, and a fingerprint that proves an attack changed nothing.

Personas:

* **Olga**: operator in the queue of “Support”; holds Alice's conversation and
  has Bob's conversation offered to her.
* **Mallory**: operator of another open channel, “Sales”.
* **Nina**: a signed-in employee with neither an operator profile nor a queue.
* **Alice** and **Bob**: live-chat visitors of Support; **Eve** is a third
  visitor of the same widget, holding her own valid token.
* **Helpdesk bot**: the external chatbot of “Bot desk”, which holds Carol's
  conversation; the **Intruder bot** is assigned to Sales.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from channels_app.engine.attachments import file_store_upload
from channels_app.engine.conversations import message_send_by_operator
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import (
    Attachment,
    Chatbot,
    ClientRating,
    ConsentRecord,
    Conversation,
    ConversationNote,
    ConversationStatus,
    DataExport,
    InboundUpdate,
    Message,
    Notification,
    Offer,
    OperatorProfile,
)
from crm.models import Lead
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

ALICE_SECRET = "My card ends in 4242 and the order is 1234"


@pytest.fixture(autouse=True)
def isolated_side_channels(settings, tmp_path):
    """Events stay in this process, rate-limit buckets and stored files are this test's own."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    settings.MEDIA_ROOT = str(tmp_path / "media")


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def stored_upload(open_channel, name: str, content: bytes, mime_type: str):
    upload = SimpleUploadedFile(name, content, content_type=mime_type)
    return file_store_upload(open_channel=open_channel, upload=upload, name=name, mime_type=mime_type)


@pytest.fixture(autouse=True)
def bot_turns_not_queued(monkeypatch):
    """B1 turns would go to Celery; the attacks here never need the bot to answer."""
    from channels_app import tasks as bot_tasks

    monkeypatch.setattr(bot_tasks.answer_client_message, "apply_async", lambda *args, **kwargs: None)


def _visitor_writes(connector, visitor_id: str, text: str):
    return message_receive(
        connector=connector, external_user_id=visitor_id, text=text, source_message_id=None, now=timezone.now()
    )


@pytest.fixture
def world(transactional_db):
    support = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga")
    QueueMemberFactory(open_channel=support, operator=olga, position=0)
    livechat = ConnectorFactory(open_channel=support, kind="livechat")
    telegram = ConnectorFactory(open_channel=support, kind="telegram", account_id="support-bot")

    sales = OpenChannelFactory(name="Sales", welcome_enabled=False)
    mallory = OperatorFactory(username="mallory", first_name="Mallory")
    QueueMemberFactory(open_channel=sales, operator=mallory, position=0)
    sales_livechat = ConnectorFactory(open_channel=sales, kind="livechat")
    nina = UserFactory(username="nina")

    helpdesk_bot = Chatbot.objects.create(
        name="Helpdesk bot", kind=Chatbot.Kind.EXTERNAL, endpoint_url="http://127.0.0.1:9/bot"
    )
    intruder_bot = Chatbot.objects.create(
        name="Intruder bot", kind=Chatbot.Kind.EXTERNAL, endpoint_url="http://127.0.0.1:9/other"
    )
    bot_desk = OpenChannelFactory(name="Bot desk", welcome_enabled=False, chatbot_enabled=True, chatbot=helpdesk_bot)
    QueueMemberFactory(open_channel=bot_desk, operator=olga, position=0)
    bot_connector = ConnectorFactory(open_channel=bot_desk, kind="livechat")
    sales.chatbot = intruder_bot
    sales.save(update_fields=["chatbot"])

    # Alice's conversation: offered to Olga (the only operator), accepted, answered.
    alice = _visitor_writes(livechat, "alice-visitor-id", ALICE_SECRET).conversation
    offer = Offer.objects.get(conversation=alice, status=Offer.Status.PENDING)
    offer_accept(offer_id=offer.pk, operator=olga, now=timezone.now())
    alice_reply = message_send_by_operator(
        conversation_id=alice.pk, operator=olga, text="Let me check that.", now=timezone.now()
    )
    # Issue 15.5: pretend the messenger refused it, so the retry action has a failed reply to aim at.
    Message.objects.filter(pk=alice_reply.pk).update(delivery=Message.Delivery.FAILED, delivery_error="refused")
    # Olga sends Alice a photo and her statement: the statement's bytes are Alice's secret.
    alice_files = [
        stored_upload(support, "receipt.png", png_bytes(), "image/png"),
        stored_upload(support, "statement.txt", ALICE_SECRET.encode(), "text/plain"),
    ]
    message_send_by_operator(conversation_id=alice.pk, operator=olga, text="", files=alice_files, now=timezone.now())
    # Bob's conversation waits for Olga to accept it.
    bob = _visitor_writes(livechat, "bob-visitor-id", "Hello, anyone there?").conversation
    bob_offer = Offer.objects.get(conversation=bob, status=Offer.Status.PENDING)
    carol = _visitor_writes(bot_connector, "carol-visitor-id", "Bot, help me").conversation
    # Olga's unread notification about Alice's conversation (issue 15): nobody else may read or mark it.
    olga_notification = Notification.objects.create(
        recipient=olga, kind="mention", conversation=alice, text=ALICE_SECRET, created_at=timezone.now()
    )

    alice.refresh_from_db()
    bob.refresh_from_db()
    carol.refresh_from_db()
    assert alice.status == ConversationStatus.ACTIVE and alice.operator_id == olga.pk
    assert bob.status == ConversationStatus.OFFERED
    assert carol.status == ConversationStatus.BOT

    return SimpleNamespace(
        support=support,
        sales=sales,
        bot_desk=bot_desk,
        olga=olga,
        mallory=mallory,
        nina=nina,
        livechat=livechat,
        telegram=telegram,
        sales_livechat=sales_livechat,
        alice=alice,
        alice_photo=Attachment.objects.get(name="receipt.png"),
        alice_statement=Attachment.objects.get(name="statement.txt"),
        bob=bob,
        bob_offer=bob_offer,
        carol=carol,
        olga_notification=olga_notification,
        helpdesk_bot=helpdesk_bot,
        intruder_bot=intruder_bot,
        alice_token=visitor_token_issue(connector=livechat, visitor_id="alice-visitor-id"),
        eve_token=visitor_token_issue(connector=livechat, visitor_id="eve-visitor-id"),
        sales_token=visitor_token_issue(connector=sales_livechat, visitor_id="eve-visitor-id"),
        alice_reply=alice_reply,
        # Issue 19: a ready export of Alice's data, its archive holding her secret.
        alice_export=DataExport.objects.create(
            client_id=alice.client_id,
            status=DataExport.Status.READY,
            progress=100,
            created_at=timezone.now(),
            file=default_storage.save("exports/alice.zip", ContentFile(ALICE_SECRET.encode())),
            expires_at=timezone.now() + timedelta(hours=1),
        ),
    )


def fingerprint() -> str:
    """A digest of every row an attack could change (heartbeat timestamps aside: a socket that
    connects is online, whoever it belongs to)."""
    parts = [
        list(Conversation.objects.order_by("pk").values_list("pk", "status", "operator_id", "is_unprocessed", "lead")),
        list(Message.objects.order_by("pk").values_list("pk", "conversation_id", "author_kind", "text", "delivery")),
        list(Offer.objects.order_by("pk").values_list("pk", "status", "operator_id")),
        list(OperatorProfile.objects.order_by("pk").values_list("user_id", "clocked_in", "on_break")),
        list(Lead.objects.order_by("pk").values_list("pk")),
        list(ClientRating.objects.order_by("pk").values_list("pk", "value")),
        list(ConsentRecord.objects.order_by("pk").values_list("pk")),
        list(InboundUpdate.objects.order_by("pk").values_list("pk", "state")),
        list(ConversationNote.objects.order_by("pk").values_list("pk", "text")),
        list(Attachment.objects.order_by("pk").values_list("pk", "state")),
        list(Notification.objects.order_by("pk").values_list("pk", "recipient_id", "read_at")),
        list(DataExport.objects.order_by("pk").values_list("pk", "status", "file")),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()
