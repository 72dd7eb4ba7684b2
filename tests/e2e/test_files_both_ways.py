"""Issue 14 end to end, two people in Chromium: a visitor and an operator exchange files through the live server.

The visitor attaches a photo in the widget; the operator sees its thumbnail in
the console and opens it full size. The operator attaches a PDF with the
console's paper clip; it appears in the visitor's widget and downloads
byte for byte. An operator of another open channel and an anonymous browser
get nothing at either file's address.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from channels_app.engine.offers import offer_accept
from channels_app.models import Attachment, Offer
from channels_app.models.attachment import THUMBNAIL_SIZE
from tests.e2e.harness import in_worker, wait_for
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + bytes(range(256)) * 8


def photo_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), (180, 60, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_visitor_and_an_operator_exchange_files(new_context, cc_server):
    shop = OpenChannelFactory(name="Garden shop", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga")
    QueueMemberFactory(open_channel=shop, operator=olga, position=0)
    widget_key = ConnectorFactory(open_channel=shop, public_key="garden-both-ways").public_key
    elsewhere = OpenChannelFactory(name="Wholesale", welcome_enabled=False)
    mallory = OperatorFactory(username="mallory", first_name="Mallory")
    QueueMemberFactory(open_channel=elsewhere, operator=mallory, position=0)

    # The visitor attaches a photo with the paper clip.
    visitor = new_context().new_page()
    visitor.goto(f"/livechat/demo/{widget_key}/")
    visitor.locator("button.launcher").click()
    chat = visitor.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#attach")).to_be_visible()
    photo = photo_bytes()
    with visitor.expect_file_chooser() as chooser:
        chat.locator("#attach").click()
    chooser.value.set_files(files=[{"name": "broken pot.png", "mimeType": "image/png", "buffer": photo}])
    expect(chat.locator(".msg-client:not(.is-pending) .file-image img[alt='broken pot.png']")).to_be_visible()
    sent_photo = Attachment.objects.get(name="broken pot.png")

    # Olga is offered the conversation, accepts it, and sees the thumbnail.
    offer = wait_for(lambda: Offer.objects.filter(operator=olga, status=Offer.Status.PENDING).first())
    conversation = in_worker(lambda: offer_accept(offer_id=offer.pk, operator=olga, now=timezone.now()))
    console = new_context(olga).new_page()
    console.goto("/console/")
    expect(console.locator("#connection")).to_have_attribute("data-state", "open")
    console.locator(f".conv-item[data-conversation-id='{conversation.pk}']").first.click()
    thumbnail = console.locator(".msg-client .attachment.is-image img")
    expect(thumbnail).to_have_attribute("src", f"/files/{sent_photo.public_id}/thumbnail/")
    console.wait_for_function("document.querySelector('.attachment.is-image img').naturalWidth > 0")
    assert console.evaluate("document.querySelector('.attachment.is-image img').naturalWidth") == THUMBNAIL_SIZE
    # …and opens it full size, the visitor's own bytes.
    with console.context.expect_page() as opened:
        console.locator(".msg-client .attachment.is-image a").click()
    full = opened.value
    full.wait_for_load_state()
    assert full.evaluate("[document.images[0].naturalWidth, document.images[0].naturalHeight]") == [1600, 1200]
    assert console.context.request.get(f"{cc_server.url}{sent_photo.url}").body() == photo

    # Olga answers with a PDF through the console's paper clip.
    with console.expect_file_chooser() as chooser:
        console.locator("#btn-attach").click()
    chooser.value.set_files(files=[{"name": "Invoice 2026-11.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}])
    expect(console.locator(".msg-operator .attachment.is-file .file-name")).to_have_text("Invoice 2026-11.pdf")

    # The visitor sees it arrive and downloads it.
    link = chat.locator(".msg-operator .file-download", has_text="Invoice 2026-11.pdf")
    expect(link).to_be_visible()
    with visitor.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == PDF_BYTES
    assert download.value.suggested_filename == "Invoice 2026-11.pdf"

    # Neither file opens for an operator of another open channel, nor for a browser with no session or link.
    invoice = Attachment.objects.get(name="Invoice 2026-11.pdf")
    # Mallory's session without a console (a console would keep the server busy after the test).
    session = HttpClient()
    session.force_login(mallory)
    outsider_context = new_context()
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session.cookies[settings.SESSION_COOKIE_NAME].value}
    outsider_context.add_cookies([{**cookie, "url": cc_server.url}])
    outsider = outsider_context.request
    stranger = new_context().request
    for attachment in (sent_photo, invoice):
        for who in (outsider, stranger):
            answer = who.get(f"{cc_server.url}{attachment.url}")
            assert answer.status == 404, (attachment.name, answer.status)
            assert PDF_BYTES not in answer.body() and photo not in answer.body()
