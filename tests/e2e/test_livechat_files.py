"""In Chromium: the visitor sends files from the widget and sees the operator's (issue 14, points 2 and 4).

The visitor attaches an image with the paper clip and sees its thumbnail; a
file of a type the chat does not take is refused in the widget with the
limits in words (or, when the widget cannot tell, by the server, and the
failed upload says why until removed); an image pasted into the text box and a document dropped
onto the chat go up too. The operator's PDF reaches the widget live over its
socket, and the visitor downloads it through their signed link.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

import contact_center.settings as configured
from channels_app.engine import events
from channels_app.engine.attachments import file_store_upload
from channels_app.engine.conversations import message_send_by_operator
from channels_app.models import Attachment, Conversation, ConversationStatus, Message
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + bytes(range(256))


def png_bytes(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 420), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def server_channel_layer(settings, cc_server):
    """Events of the services this test calls reach the server's sockets (the real Redis layer, its prefix)."""
    layers = copy.deepcopy(configured.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = cc_server.environment["CHANNEL_LAYER_PREFIX"]
    settings.CHANNEL_LAYERS = layers
    yield
    events.flush()


def test_the_visitor_sends_an_image_sees_it_and_downloads_the_operators_pdf(
    new_context, cc_server, server_channel_layer, tmp_path
):
    channel = OpenChannelFactory(name="Garden shop", welcome_enabled=False, max_file_megabytes=10)
    olga = OperatorFactory(username="olga", first_name="Olga")
    connector = ConnectorFactory(open_channel=channel, public_key="garden-files-key")

    page = new_context().new_page()
    page.goto(f"/livechat/demo/{connector.public_key}/")
    page.locator("button.launcher").click()
    chat = page.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    expect(chat.locator("#attach")).to_be_visible()
    assert ".png" in chat.locator("#file-input").get_attribute("accept").split(",")

    # A type the chat does not take is refused in the widget, with the limits in words; nothing goes up.
    with page.expect_file_chooser() as chooser:
        chat.locator("#attach").click()
    chooser.value.set_files(files=[{"name": "backup.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04"}])
    expect(chat.locator("#transcript-note")).to_have_text(
        "“backup.zip” cannot be sent here. Files up to 10 MB: images, PDF and documents, audio, video"
    )

    # One the widget cannot judge (no extension) goes up, is refused by the server, and says so until removed.
    with page.expect_file_chooser() as chooser:
        chat.locator("#attach").click()
    chooser.value.set_files(files=[{"name": "setup", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90"}])
    failed = chat.locator(".msg.upload.is-failed")
    expect(failed.locator(".state")).to_have_text("Not sent: This chat does not accept files of this type.")
    failed.get_by_role("button", name="Remove").click()
    expect(failed).to_have_count(0)

    # The paper clip: the image goes up and shows as a thumbnail that opens the full image.
    photo = png_bytes((46, 125, 50))
    with page.expect_file_chooser() as chooser:
        chat.locator("#attach").click()
    chooser.value.set_files(files=[{"name": "broken-pot.png", "mimeType": "image/png", "buffer": photo}])
    thumbnail = chat.locator(".msg-client:not(.is-pending) .file-image img[alt='broken-pot.png']")
    expect(thumbnail).to_be_visible()
    loaded_width = thumbnail.evaluate(
        "img => img.complete ? img.naturalWidth"
        " : new Promise(done => img.addEventListener('load', () => done(img.naturalWidth)))"
    )
    assert loaded_width > 0, "the thumbnail loaded through the visitor's signed link"
    sent = Attachment.objects.get(name="broken-pot.png")
    assert sent.file.read() == photo
    assert chat.locator(".file-image").get_attribute("href").startswith(f"/files/{sent.public_id}/?v=")
    conversation = sent.message.conversation

    # A pasted screenshot and a dropped document go up the same way.
    chat.locator("#text").evaluate(
        """(box, bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], "pasted.png", { type: "image/png" }));
            box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        list(png_bytes((200, 80, 40))),
    )
    expect(chat.locator(".msg-client:not(.is-pending) .file-image img[alt='pasted.png']")).to_be_visible()
    chat.locator("#chat").evaluate(
        """(node) => {
            const data = new DataTransfer();
            data.items.add(new File(["order 1234"], "order.txt", { type: "text/plain" }));
            for (const type of ["dragenter", "dragover", "drop"]) {
                node.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
            }
        }"""
    )
    expect(chat.locator(".msg-client:not(.is-pending) .file-download .file-name", has_text="order.txt")).to_be_visible()
    expect(chat.locator("#drop")).to_be_hidden()
    assert sorted(Attachment.objects.filter(message__conversation=conversation).values_list("name", flat=True)) == [
        "broken-pot.png",
        "order.txt",
        "pasted.png",
    ]

    # The operator who holds the conversation sends a PDF: it appears in the widget live, and downloads.
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.ACTIVE, operator=olga)
    invoice = file_store_upload(
        open_channel=channel,
        upload=SimpleUploadedFile("invoice 2026-11.pdf", PDF_BYTES, "application/pdf"),
        name="invoice 2026-11.pdf",
        mime_type="application/pdf",
    )
    message_send_by_operator(
        conversation_id=conversation.pk,
        operator=olga,
        text="Here is your invoice.",
        files=[invoice],
        now=timezone.now(),
    )
    assert events.flush()
    link = chat.locator(".msg-operator .file-download", has_text="invoice 2026-11.pdf")
    expect(link).to_be_visible()
    expect(link.locator(".file-details")).to_have_text(f"{len(PDF_BYTES)} B · application/pdf")
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == PDF_BYTES
    assert download.value.suggested_filename == "invoice 2026-11.pdf"
    assert Message.objects.filter(conversation=conversation, author_kind="operator").count() == 1

    page.locator("iframe[title='Live chat']").screenshot(path=str(tmp_path / "widget-files.png"))
