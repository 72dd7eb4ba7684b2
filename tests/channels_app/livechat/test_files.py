"""The widget sends files (issue 14): ``POST /api/livechat/<token>/files/``, and the visitor's signed links.

The upload is the socket's ``send`` with a file: consent first (A1), the same
rate limits, the open channel's file limits; a refused file leaves no bytes
behind. A visitor opens a file only through the link their widget was given.
"""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse
from PIL import Image

from channels_app.engine import events
from channels_app.engine.file_links import visitor_file_signature
from channels_app.livechat.texts import widget_texts
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import Attachment, ConsentForm, Message
from contact_center.asgi import application
from contact_center.body_limit import request_body_limit
from tests.factories import ConnectorFactory, OpenChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_media_and_buckets(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def connector(db):
    return ConnectorFactory(
        open_channel=OpenChannelFactory(name="Support", welcome_enabled=False, max_file_megabytes=1)
    )


@pytest.fixture
def published(monkeypatch):
    """Every (group, event) the services hand to the channel layer."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "deliver", lambda items: sent.extend(items))
    return sent


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (40, 120, 220)).save(out, format="PNG")
    return out.getvalue()


def upload(token: str, file: SimpleUploadedFile | None, **fields) -> HttpClient:
    data = {**fields, **({"file": file} if file is not None else {})}
    return HttpClient().post(reverse("api-livechat-files", args=[token]), data, HTTP_ACCEPT="application/json")


def stored_files(settings) -> list:
    return [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] if settings.MEDIA_ROOT.exists() else []


def test_an_uploaded_image_becomes_the_visitors_message_with_its_thumbnail(
    connector, settings, published, django_capture_on_commit_callbacks
):
    token = visitor_token_issue(connector=connector, visitor_id="visitor-anna")
    content = png_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            token,
            SimpleUploadedFile("holiday.png", content, "image/png"),
            text="My photo",
            client_message_id="abcd1234",
        )

    assert response.status_code == 201, response.content
    body = response.json()
    message = Message.objects.get(pk=body["message"]["id"])
    assert (message.author_kind, message.text) == ("client", "My photo")
    attachment = message.attachments.get()
    assert (attachment.name, attachment.kind, attachment.state, attachment.size) == (
        "holiday.png",
        "image",
        "ready",
        len(content),
    )
    assert attachment.file.read() == content
    assert attachment.thumbnail.name
    (payload,) = body["message"]["attachments"]
    assert payload["url"].startswith(f"/files/{attachment.public_id}/?v=")
    assert payload["thumbnail_url"].startswith(f"/files/{attachment.public_id}/thumbnail/?v=")
    assert body["client_id"] == "abcd1234"
    assert body["conversation"]["id"] == message.conversation_id
    # The consoles hear of it like of any message, and the visitor's other sockets follow the new conversation.
    created = [event for group, event in published if event["type"] == "message.created"]
    assert created and created[0]["message"]["attachments"][0]["id"] == str(attachment.public_id)
    assert (
        f"livechat.{connector.pk}.visitor-anna",
        {"type": "livechat.follow", "conversation_id": message.conversation_id},
    ) in published

    again = upload(token, SimpleUploadedFile("holiday.png", content, "image/png"), client_message_id="abcd1234")
    assert again.status_code == 201
    assert again.json()["message"]["id"] == message.pk
    assert Attachment.objects.count() == 1
    assert len(stored_files(settings)) == 2, "a resend keeps no second copy (the file and its thumbnail only)"


def test_the_frame_tells_the_widget_the_limits_in_words(client, connector):
    response = client.get(reverse("livechat-frame", args=[connector.public_key]))
    files = response.context["widget_config"]["files"]
    assert files["max_bytes"] == 1024 * 1024
    assert files["description"] == "Files up to 1 MB: images, PDF and documents, audio, video"
    assert ".png" in files["accept"].split(",") and ".svg" not in files["accept"].split(",")
    assert response.context["widget_config"]["urls"]["files"] == "/api/livechat/{token}/files/"

    channel = connector.open_channel
    channel.accepts_images = channel.accepts_documents = channel.accepts_audio = channel.accepts_video = False
    channel.save()
    response = client.get(reverse("livechat-frame", args=[connector.public_key]))
    assert response.context["widget_config"]["files"] is None


def test_a_file_over_the_limit_is_413_and_nothing_is_kept(connector, settings):
    token = visitor_token_issue(connector=connector, visitor_id="visitor-big")
    just_over = SimpleUploadedFile("scan.pdf", b"%PDF" + b"x" * (1024 * 1024), "application/pdf")
    response = upload(token, just_over)
    assert response.status_code == 413
    assert response.json() == {"detail": "This file is larger than 1 MB, the most this chat accepts."}

    # Far over: refused by the declared length, before the body is parsed.
    far_over = SimpleUploadedFile("film.mp4", b"\x00" * (3 * 1024 * 1024), "video/mp4")
    response = upload(token, far_over)
    assert response.status_code == 413
    assert not Message.objects.exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    ("name", "mime_type", "content", "reason"),
    [
        ("page.html", "text/html", b"<script>alert(1)</script>", "This chat does not accept files of this type."),
        ("drawing.svg", "image/svg+xml", b"<svg/>", "This chat does not accept files of this type."),
        ("backup.zip", "application/zip", b"PK\x03\x04", "This chat does not accept files of this type."),
        ("empty.pdf", "application/pdf", b"", "This file is empty."),
    ],
)
def test_a_refused_type_or_an_empty_file_is_400_with_the_reason(connector, settings, name, mime_type, content, reason):
    token = visitor_token_issue(connector=connector, visitor_id="visitor-odd")
    response = upload(token, SimpleUploadedFile(name, content, mime_type))
    assert response.status_code == 400
    assert response.json() == {"detail": reason}
    assert not Message.objects.exists()
    assert stored_files(settings) == []


def test_no_file_or_a_bad_message_id_is_400(connector):
    token = visitor_token_issue(connector=connector, visitor_id="visitor-odd")
    assert upload(token, None, text="hello").status_code == 400
    bad_id = upload(token, SimpleUploadedFile("a.pdf", b"%PDF-1", "application/pdf"), client_message_id="no spaces!")
    assert bad_id.status_code == 400
    assert not Message.objects.exists()


def test_A1_no_file_before_the_consent_notice_is_accepted(connector, settings):
    channel = connector.open_channel
    channel.consent_required = True
    channel.consent_form = ConsentForm.objects.create(name="Privacy", text="We keep your messages.")
    channel.save()
    token = visitor_token_issue(connector=connector, visitor_id="visitor-new")
    response = upload(token, SimpleUploadedFile("a.pdf", b"%PDF-1", "application/pdf"))
    assert response.status_code == 409
    assert response.json() == {"detail": widget_texts(channel.language)["consent_needed"]}
    assert not Message.objects.exists()
    assert stored_files(settings) == []


def test_a_bad_token_is_403(connector, settings):
    response = upload("not-a-token", SimpleUploadedFile("a.pdf", b"%PDF-1", "application/pdf"))
    assert response.status_code == 403
    assert stored_files(settings) == []


def test_the_visitors_signed_link_opens_their_file_and_no_other(connector):
    anna = visitor_token_issue(connector=connector, visitor_id="visitor-anna")
    bob = visitor_token_issue(connector=connector, visitor_id="visitor-bob")
    anna_payload = upload(anna, SimpleUploadedFile("anna.pdf", b"%PDF-anna", "application/pdf")).json()
    bob_payload = upload(bob, SimpleUploadedFile("bob.pdf", b"%PDF-bob", "application/pdf")).json()
    anna_file = Attachment.objects.get(public_id=anna_payload["message"]["attachments"][0]["id"])
    bob_file = Attachment.objects.get(public_id=bob_payload["message"]["attachments"][0]["id"])
    http = HttpClient()

    response = http.get(anna_payload["message"]["attachments"][0]["url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-anna"
    assert response["Content-Disposition"].startswith("attachment")

    bob_client_id = bob_file.message.conversation.client_id
    for foreign in (
        visitor_file_signature(anna_file, bob_client_id),  # Anna's file, signed for Bob
        visitor_file_signature(bob_file, anna_file.message.conversation.client_id),  # another file, for Anna
    ):
        assert http.get(f"{anna_file.url}?v={foreign}").status_code == 404
    assert http.get(anna_file.url).status_code == 404, "anonymous, without a link"


@pytest.mark.parametrize("declared", [True, False], ids=["declared length", "chunked"])
async def test_an_upload_larger_than_the_server_takes_is_refused_before_django_reads_it(
    settings, declared, monkeypatch
):
    """Under ASGI Django spools a whole body before any view runs: the door in front of it refuses first."""
    settings.MAX_ATTACHMENT_BYTES = 1000
    spooled = []
    monkeypatch.setattr("django.core.handlers.asgi.ASGIHandler.create_request", lambda *args: spooled.append(args))
    body = b"x" * (request_body_limit() + 1)

    async def chunks():
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/api/livechat/any-token/files/",
            content=body if declared else chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request is larger than this server accepts")
    assert spooled == [], "Django never built a request from the body"
