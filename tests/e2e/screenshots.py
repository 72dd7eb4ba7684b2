"""Take the README's screenshots of the console and the widget: ``python -m tests.e2e.screenshots``.

1. Create a throw-away database on the embedded PostgreSQL and migrate it.
2. Seed a realistic afternoon through the services: two open channels, an
   active conversation with history, an offer waiting for Olga, a visitor
   waiting in the Sales queue.
3. Start uvicorn on it, open Olga's console and a visitor's widget in
   Chromium, and save ``docs/console.png``, ``docs/console-files.png`` (a
   Telegram client's photo and voice note, the operator's PDF, a reply the
   messenger refused), ``docs/console-phone.png`` (390×844) and ``docs/widget.png``.
4. Stop the server and drop the database.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
DOCS = BASE_DIR / "docs"


def _prepare_database() -> tuple[str, str]:
    sys.path.insert(0, str(BASE_DIR))
    from contact_center import embedded

    socket_dir = embedded.postgres_socket_dir()
    name = f"screenshots_{uuid.uuid4().hex[:8]}"
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql://postgres@/{name}?host={socket_dir}"


def _drop_database(name: str) -> None:
    import psycopg

    from contact_center import embedded

    with psycopg.connect(
        host=str(embedded.postgres_socket_dir()), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seed():
    from datetime import timedelta

    from django.utils import timezone

    from channels_app import models as m
    from channels_app.engine.conversations import message_send_by_operator
    from channels_app.engine.inbound import message_receive
    from channels_app.engine.offers import offer_accept
    from tests.factories import OperatorFactory

    now = timezone.now()
    replies = m.CannedReplyList.objects.create(name="Standard replies")
    for shortcut, title, text in (
        ("hello", "Greeting", "Hello! How can I help you today?"),
        ("hours", "Opening hours", "We are open Monday to Friday, 9:00 to 17:00."),
        ("thanks", "Thanks", "Thank you for your patience."),
        ("bye", "Goodbye", "Thank you for contacting us. Have a nice day!"),
    ):
        m.CannedReply.objects.create(reply_list=replies, shortcut=shortcut, title=title, text=text)
    support = m.OpenChannel.objects.create(name="Website support", canned_reply_list=replies, welcome_enabled=False)
    sales = m.OpenChannel.objects.create(name="Sales", canned_reply_list=replies, welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    piotr = OperatorFactory(username="piotr", first_name="Piotr", last_name="Kowalski")
    m.OperatorProfile.objects.filter(user=olga).update(display_name="Olga N.")
    m.OperatorProfile.objects.filter(user=piotr).update(is_online=False, console_heartbeat_at=None)
    m.QueueMember.objects.create(open_channel=support, operator=olga, position=0)
    m.QueueMember.objects.create(open_channel=sales, operator=piotr, position=0)
    m.QueueMember.objects.create(open_channel=sales, operator=olga, position=1)
    m.OpenChannel.objects.filter(pk=sales.pk).update(check_online=True)
    support_site = m.Connector.objects.create(
        open_channel=support, kind=m.ConnectorKind.LIVECHAT, account_id="garden-site", public_key="garden-support"
    )
    sales_site = m.Connector.objects.create(
        open_channel=sales, kind=m.ConnectorKind.LIVECHAT, account_id="garden-sales", public_key="garden-sales"
    )

    def say(connector, visitor, text, at, **details):
        return message_receive(
            connector=connector, external_user_id=visitor, text=text, source_message_id=None, now=at, **details
        )

    start = now - timedelta(minutes=12)
    first = say(
        support_site, "visitor-anna", "Hello! I ordered a lemon tree last week.", start,
        client_name="Anna Lewandowska", client_email="anna@example.com",
    )  # fmt: skip
    offer = m.Offer.objects.get(conversation=first.conversation, status=m.Offer.Status.PENDING)
    offer_accept(offer_id=offer.pk, operator=olga, now=start + timedelta(seconds=40))
    message_send_by_operator(
        conversation_id=first.conversation.pk,
        operator=olga,
        text="Hello Anna! Let me check your order.",
        now=start + timedelta(minutes=1),
    )
    say(support_site, "visitor-anna", "Order #4471. It has not arrived yet.", start + timedelta(minutes=2))
    message_send_by_operator(
        conversation_id=first.conversation.pk,
        operator=olga,
        text="Thank you. The tree left our nursery on Monday; the courier delivers it tomorrow before noon.",
        now=start + timedelta(minutes=4),
    )
    say(support_site, "visitor-anna", "Great! Does it need repotting when it arrives?", now - timedelta(seconds=30))
    say(support_site, "visitor-marek", "Do you ship to Gdańsk?", now - timedelta(seconds=20), client_name="Marek")
    say(
        sales_site, "visitor-lin", "I would like a quote for 40 olive trees.", now - timedelta(seconds=50),
        client_name="Lin Chen",
    )  # fmt: skip
    files = _seed_files(support, olga, say, now - timedelta(minutes=8))
    return olga, support_site, first.conversation, files


def _picture() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (960, 720), (226, 214, 190))
    draw = ImageDraw.Draw(image)
    draw.rectangle((180, 160, 780, 600), fill=(176, 132, 84), outline=(110, 80, 50), width=12)
    draw.line((180, 160, 560, 420), fill=(110, 80, 50), width=14)  # the dent
    draw.polygon([(520, 380), (640, 300), (700, 460)], fill=(90, 140, 60))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _seed_files(support, olga, say, start):
    """A Telegram client's photo and voice note, Olga's return label (a PDF) and a reply Telegram refused."""
    from datetime import timedelta

    from django.core.files.uploadedfile import SimpleUploadedFile

    from channels_app import models as m
    from channels_app.engine.attachments import file_store_upload
    from channels_app.engine.conversations import message_send_by_operator
    from channels_app.engine.offers import offer_accept

    def stored(name: str, content: bytes, mime_type: str, kind_hint: str = ""):
        upload = SimpleUploadedFile(name, content, mime_type)
        incoming = file_store_upload(open_channel=support, upload=upload, name=name, mime_type=mime_type)
        incoming.kind_hint = kind_hint
        return incoming

    telegram = m.Connector.objects.create(open_channel=support, kind=m.ConnectorKind.TELEGRAM, account_id="garden_bot")
    first = say(
        telegram, "tg-5521", "The tree came like this 😞", start,
        client_name="Tomasz Wiśniewski", files=[stored("photo_AgADBAAD.jpg", _picture(), "image/png")],
    )  # fmt: skip
    conversation = first.conversation
    offer = m.Offer.objects.get(conversation=conversation, status=m.Offer.Status.PENDING)
    offer_accept(offer_id=offer.pk, operator=olga, now=start + timedelta(seconds=20))
    say(telegram, "tg-5521", "", start + timedelta(seconds=40), files=[
        stored("voice_AwADBAAD.ogg", b"OggS" + bytes(12_000), "audio/ogg", kind_hint="voice"),
    ])  # fmt: skip
    label = stored("Return label 4471.pdf", b"%PDF-1.4\n" + bytes(48_000), "application/pdf")
    message_send_by_operator(
        conversation_id=conversation.pk,
        operator=olga,
        text="I am so sorry! Here is a return label; we send a new tree today.",
        files=[label],
        now=start + timedelta(minutes=2),
    )
    refused = message_send_by_operator(
        conversation_id=conversation.pk, operator=olga, text="Did the label arrive?", now=start + timedelta(minutes=3)
    )
    m.Message.objects.filter(pk=refused.pk).update(
        delivery=m.Message.Delivery.FAILED, delivery_error="Forbidden: bot was blocked by the user"
    )
    return conversation


def main() -> int:
    name, url = _prepare_database()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
    # Development settings: DEBUG on needs no SECRET_KEY of its own.
    os.environ.setdefault("DEBUG", "true")
    os.environ["CHANNEL_LAYER_PREFIX"] = f"screens-{uuid.uuid4().hex[:8]}"
    import django

    django.setup()
    from django.conf import settings

    from contact_center import embedded

    embedded.start()
    from django.core.management import call_command
    from django.test import Client as HttpClient
    from playwright.sync_api import expect, sync_playwright

    from channels_app.livechat.visitors import visitor_token_issue
    from tests.e2e.harness import CHROMIUM_ARGS, LiveServer, chromium_executable

    server = None
    try:
        call_command("migrate", interactive=False, verbosity=0)
        olga, support_site, conversation, files_conversation = _seed()
        visitor_token = visitor_token_issue(connector=support_site, visitor_id="visitor-anna")
        http = HttpClient()
        http.force_login(olga)
        session = http.cookies[settings.SESSION_COOKIE_NAME].value
        server = LiveServer(database=url, redis_url=settings.REDIS_URL, log_path=BASE_DIR / "var" / "screenshots.log")
        server.start()
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        DOCS.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
            console_context = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 860})
            console_context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}])
            console = console_context.new_page()
            console.goto("/console/")
            expect(console.locator("#connection")).to_have_attribute("data-state", "open")
            console.locator(f"#list-mine [data-conversation-id='{conversation.pk}']").click()
            expect(console.locator("#messages .msg")).to_have_count(5)
            console.locator("#reply").fill("/h")
            expect(console.locator("#canned-suggestions")).to_be_visible()
            console.screenshot(path=str(DOCS / "console.png"))
            console.locator("#reply").fill("")
            console.locator(f"#list-mine [data-conversation-id='{files_conversation.pk}']").click()
            expect(console.locator(".delivery-failed")).to_be_visible()
            console.wait_for_function("[...document.images].every((image) => image.complete && image.naturalWidth)")
            console.screenshot(path=str(DOCS / "console-files.png"))

            # Issue 20: the console on a phone, one pane at a time (the conversation open).
            phone_context = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 844})
            phone_context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}])
            phone = phone_context.new_page()
            phone.goto(f"/console/#conversation={conversation.pk}")
            expect(phone.locator("#connection")).to_have_attribute("data-state", "open")
            expect(phone.locator("#messages .msg")).to_have_count(5)
            expect(phone.locator("#status-dot")).to_have_attribute("data-status", "available")
            phone.locator("#reply").fill("Your parcel left our warehouse this morning.")
            phone.screenshot(path=str(DOCS / "console-phone.png"))

            visitor_context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
            key = f"open-channels-chat:{support_site.public_key}:token"
            visitor_context.add_init_script(f"try {{ localStorage.setItem('{key}', '{visitor_token}') }} catch {{}}")
            visitor = visitor_context.new_page()
            visitor.goto(f"/livechat/demo/{support_site.public_key}/")
            visitor.locator("button.launcher").click()
            chat = visitor.frame_locator("iframe[title='Live chat']")
            expect(chat.locator(".msg-operator")).to_have_count(2)
            chat.locator("#text").fill("Thanks a lot!")
            visitor.screenshot(path=str(DOCS / "widget.png"))
            browser.close()
        saved = ("console.png", "console-files.png", "console-phone.png", "widget.png")
        print("Saved " + ", ".join(str(DOCS / name) for name in saved))
        return 0
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        _drop_database(name)


if __name__ == "__main__":
    sys.exit(main())
