"""Files in the operator console, in Debian's Chromium against a real uvicorn server (issue 14).

Seen: a visitor's photo as a thumbnail that opens full size, a Telegram photo
and voice note ("downloading…" until the worker has copied them, then a
thumbnail and a player), an operator's reply that the messenger refused
("Not delivered"). ``python -m tests.e2e.screenshots`` draws them all in
``docs/console-files.png``. Sent: a PDF through the paper clip, and a file the open
channel does not accept refused before it is uploaded.

The test seeds through the services, in a worker thread (Playwright's event
loop runs in this one); the events those services send reach the consoles
through the server's own channel layer.
"""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from playwright.sync_api import Page, expect

from channels_app.engine.attachments import file_store_upload
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.models import Attachment, Conversation, Message, Offer
from channels_app.models.attachment import THUMBNAIL_SIZE
from tests.e2e.harness import in_worker, publish_to_server, wait_for
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b"0" * 3000


def png_bytes(size=(900, 600), colour=(47, 111, 237)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, colour)
    for x in range(0, size[0], 60):  # stripes, so the thumbnail is visibly a picture
        image.paste((255, 255, 255), (x, 0, x + 20, size[1]))
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def support(settings, cc_server):
    """Olga in the queue of "Website support", which has a live chat and a Telegram bot; no video accepted."""
    channel = OpenChannelFactory(name="Website support", welcome_enabled=False, accepts_video=False)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    livechat = ConnectorFactory(open_channel=channel, public_key="support-site-key")
    telegram = ConnectorFactory(open_channel=channel, kind="telegram", account_id="support-bot")
    publish_to_server(settings, cc_server)
    return SimpleNamespace(channel=channel, olga=olga, livechat=livechat, telegram=telegram)


def client_writes(connector, visitor_id: str, operator, *, text: str = "", files=None) -> Conversation:
    """The client's message, offered to ``operator`` and accepted."""
    received = message_receive(
        connector=connector,
        external_user_id=visitor_id,
        text=text,
        source_message_id=None,
        now=timezone.now(),
        files=files,
    )
    offer = Offer.objects.get(conversation=received.conversation, operator=operator, status=Offer.Status.PENDING)
    return offer_accept(offer_id=offer.pk, operator=operator, now=timezone.now())


def open_console(new_context, user) -> Page:
    page = new_context(user).new_page()
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def open_conversation(console: Page, conversation: Conversation) -> None:
    console.locator(f".conv-item[data-conversation-id='{conversation.pk}']").first.click()
    expect(console.locator("#conversation-view")).to_be_visible()


def test_a_visitors_photo_shows_as_a_thumbnail_and_opens_full_size(new_context, support):
    picture = png_bytes()

    def visitor_sends_a_photo() -> Conversation:
        upload = SimpleUploadedFile("broken-parcel.png", picture, "image/png")
        incoming = file_store_upload(
            open_channel=support.channel, upload=upload, name="broken-parcel.png", mime_type="image/png"
        )
        return client_writes(support.livechat, "visitor-photo", support.olga, files=[incoming])

    conversation = in_worker(visitor_sends_a_photo)
    attachment = Attachment.objects.get()
    console = open_console(new_context, support.olga)
    # The list previews a photo without a caption by its name.
    expect(console.locator(f"#list-mine [data-conversation-id='{conversation.pk}'] .preview")).to_have_text(
        "📎 broken-parcel.png"
    )
    open_conversation(console, conversation)

    thumbnail = console.locator(".msg-client .attachment.is-image img")
    expect(thumbnail).to_have_attribute("src", f"/files/{attachment.public_id}/thumbnail/")
    expect(thumbnail).to_have_attribute("alt", "broken-parcel.png")
    console.wait_for_function("document.querySelector('.attachment.is-image img').naturalWidth > 0")
    assert console.evaluate("document.querySelector('.attachment.is-image img').naturalWidth") == THUMBNAIL_SIZE

    with console.context.expect_page() as opened:
        console.locator(".msg-client .attachment.is-image a").click()
    full = opened.value
    full.wait_for_load_state()
    assert full.url.endswith(f"/files/{attachment.public_id}/")
    size = full.evaluate("[document.images[0].naturalWidth, document.images[0].naturalHeight]")
    assert size == [900, 600]


def test_the_operator_attaches_a_pdf_with_the_paper_clip(new_context, support):
    conversation = in_worker(lambda: client_writes(support.livechat, "visitor-pdf", support.olga, text="The offer?"))
    console = open_console(new_context, support.olga)
    open_conversation(console, conversation)
    expect(console.locator("#btn-attach")).to_be_enabled()
    expect(console.locator("#file-input")).to_have_attribute("accept", re.compile(r"(^|,)\.pdf(,|$)"))

    with console.expect_file_chooser() as chooser:
        console.locator("#btn-attach").click()
    chooser.value.set_files(files=[{"name": "Offer 2026.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}])

    sent = console.locator(".msg-operator .attachment.is-file")
    expect(sent.locator(".file-name")).to_have_text("Offer 2026.pdf")
    # 3,045 bytes, in the server's words (engine.attachments.human_size).
    expect(sent.locator(".file-facts")).to_have_text("2 KB · application/pdf")
    attachment = Attachment.objects.get()
    expect(sent.locator("a")).to_have_attribute("href", f"/files/{attachment.public_id}/")
    assert attachment.message.author_id == support.olga.pk
    assert attachment.message.conversation_id == conversation.pk
    with attachment.file.open("rb") as stored:
        assert stored.read() == PDF_BYTES

    # A video is not accepted here: refused in the page, before anything is uploaded, with the reason.
    with console.expect_file_chooser() as chooser:
        console.locator("#btn-attach").click()
    chooser.value.set_files(files=[{"name": "clip.mp4", "mimeType": "video/mp4", "buffer": b"\x00" * 2048}])
    expect(console.locator("[data-upload] .state")).to_have_text("This chat does not accept files of this type.")
    assert Attachment.objects.count() == 1


def test_a_dropped_file_and_a_pasted_screenshot_are_sent(new_context, support):
    conversation = in_worker(lambda: client_writes(support.livechat, "visitor-drop", support.olga, text="See?"))
    console = open_console(new_context, support.olga)
    open_conversation(console, conversation)
    make_file = """([name, type, size]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(size).fill(65)], name, { type }));
        return transfer;
    }"""

    # Dropped onto the conversation (the hint shows while a file is dragged over it).
    dropped = console.evaluate_handle(make_file, ["notes.txt", "text/plain", 1500])
    console.dispatch_event("#messages", "dragover", {"dataTransfer": dropped})
    expect(console.locator(".drop-hint")).to_be_visible()
    console.dispatch_event("#messages", "drop", {"dataTransfer": dropped})
    expect(console.locator(".drop-hint")).to_be_hidden()
    expect(console.locator(".msg-operator .attachment.is-file .file-name")).to_have_text("notes.txt")

    # A screenshot pasted into the reply box is sent as a file; its text stays as it was.
    console.locator("#reply").fill("Draft answer")
    console.evaluate(
        """async () => {
            const canvas = Object.assign(document.createElement("canvas"), { width: 120, height: 80 });
            canvas.getContext("2d").fillRect(10, 10, 60, 40);
            const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
            const transfer = new DataTransfer();
            transfer.items.add(new File([blob], "image.png", { type: "image/png" }));
            const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
            document.getElementById("reply").dispatchEvent(paste);
        }"""
    )
    expect(console.locator(".msg-operator .attachment.is-image img")).to_have_count(1)
    expect(console.locator("#reply")).to_have_value("Draft answer")
    expect(console.locator("[data-upload]")).to_have_count(0)
    assert sorted(Attachment.objects.values_list("name", "kind")) == [("image.png", "image"), ("notes.txt", "file")]


def telegram_posts(server, connector, update: dict) -> None:
    """Telegram delivers ``update`` to the live server's webhook, as it would over the internet."""
    response = httpx.post(
        f"{server.url}/webhooks/telegram/{connector.pk}/",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": connector.webhook_secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def telegram_update(update_id: int, **message) -> dict:
    chat = {"id": 4242, "type": "private", "first_name": "Mai"}
    sender = {"id": 4242, "is_bot": False, "first_name": "Mai"}
    body = {"message_id": update_id, "date": 1_764_000_000, "chat": chat, "from": sender, **message}
    return {"update_id": update_id, "message": body}


@pytest.fixture
def telegram_chat(support, cc_server, fake_provider, new_context):
    """Mai writes to the bot through the live server; Olga accepts in her console and opens the conversation."""
    bot = support.telegram
    bot.access_token, bot.webhook_secret = "123456:bot-token", "telegram-webhook-secret"
    bot.save()
    telegram_posts(cc_server, bot, telegram_update(1, text="Hi, the kettle I bought is broken"))
    offer = wait_for(lambda: Offer.objects.filter(operator=support.olga, status=Offer.Status.PENDING).first())
    conversation = in_worker(lambda: offer_accept(offer_id=offer.pk, operator=support.olga, now=timezone.now()))
    console = open_console(new_context, support.olga)
    open_conversation(console, conversation)
    return SimpleNamespace(bot=bot, conversation=conversation, console=console)


def test_a_telegram_photo_and_voice_note_show_downloading_then_a_thumbnail_and_a_player(
    telegram_chat, cc_server, fake_provider
):
    """Through the live server: the webhook stores the photo at once, its worker copies it from (fake) Telegram."""
    console = telegram_chat.console
    fake_provider.telegram_file("photo-large", "photos/file_7.jpg", png_bytes((1280, 960), (18, 161, 80)))
    fake_provider.telegram_file("voice-1", "voice/file_8.oga", b"OggS" + b"\x00" * 4000)
    # Telegram takes its time with the photo: the operator sees the message at once, "downloading…".
    fake_provider.slow("photos/file_7.jpg", 3)

    sizes = [{"file_id": "photo-small", "file_unique_id": "AQs", "width": 90, "height": 68},
             {"file_id": "photo-large", "file_unique_id": "AQl", "width": 1280, "height": 960}]  # fmt: skip
    telegram_posts(cc_server, telegram_chat.bot, telegram_update(2, photo=sizes))
    expect(console.locator(".msg-client .attachment.is-pending .file-state")).to_have_text("downloading…")

    expect(console.locator(".msg-client .attachment.is-image img")).to_have_attribute(
        "src", re.compile(r"^/files/[0-9a-f-]{36}/thumbnail/$"), timeout=15_000
    )
    voice = {"file_id": "voice-1", "file_unique_id": "AwV", "duration": 3, "mime_type": "audio/ogg"}
    telegram_posts(cc_server, telegram_chat.bot, telegram_update(3, voice=voice))
    player = console.locator(".msg-client .attachment.is-audio audio")
    expect(player).to_have_attribute("src", re.compile(r"^/files/[0-9a-f-]{36}/$"))
    expect(player).to_have_attribute("controls", "")
    expect(console.locator(".attachment.is-pending")).to_have_count(0)
    photo, voice_note = Attachment.objects.order_by("id")
    assert (photo.kind, photo.state, voice_note.kind, voice_note.state) == ("image", "ready", "voice", "ready")
    # The photo has no caption, and is no longer an empty bubble.
    photo_message = console.locator(f"[data-message-id='{photo.message_id}']")
    expect(photo_message.locator(".bubble .text")).to_have_count(0)
    expect(photo_message.locator("img")).to_be_visible()
    # Opened full size through the checked door, with Olga's session.
    full = console.context.request.get(f"{cc_server.url}{photo.url}")
    assert full.status == 200 and full.headers["content-type"] == "image/jpeg"


def test_a_reply_the_messenger_refused_shows_not_delivered(telegram_chat, fake_provider):
    """Olga answers; (fake) Telegram refuses it for good; her console says so, live and after a reload."""
    console = telegram_chat.console
    blocked = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    fake_provider.fail("/sendMessage", 403, blocked)
    console.locator("#reply").fill("Thanks, checking it now.")
    console.locator("#reply").press("Enter")
    reply = wait_for(lambda: Message.objects.filter(author_kind="operator", text="Thanks, checking it now.").first())
    failed = console.locator(f"[data-message-id='{reply.pk}']")
    notice = "Not delivered: Telegram sendMessage failed (403): Forbidden: bot was blocked by the user"
    expect(failed.locator(".delivery-failed")).to_have_text(notice, timeout=15_000)
    # The same after a reload (the REST listing carries the delivery and its reason).
    console.reload()
    expect(console.locator("#connection")).to_have_attribute("data-state", "open")
    open_conversation(console, telegram_chat.conversation)
    expect(console.locator(f"[data-message-id='{reply.pk}'] .delivery-failed")).to_have_text(notice)
