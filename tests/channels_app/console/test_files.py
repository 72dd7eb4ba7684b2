"""Files in the console: the operator's upload (POST /api/conversations/<id>/files/) and the file door.

The upload goes through the open channel's limits, is stored under a random
name, becomes an operator message with its file row, and is announced like
any reply. The door (/files/<id>/) opens a file only to those who may read
its conversation, and never lets a browser render markup from it.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.utils import timezone
from PIL import Image

from channels_app.engine import events
from channels_app.engine.attachments import file_store_upload
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.models import Attachment, Message, Offer
from channels_app.models.attachment import THUMBNAIL_SIZE
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def published(monkeypatch):
    """Every event the services send after commit, in order."""
    sent: list[dict] = []
    monkeypatch.setattr(events, "deliver", lambda items: sent.extend(event for _, event in items))
    return sent


def png_bytes(size=(640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def support(db):
    channel = OpenChannelFactory(name="Support", welcome_enabled=False, max_file_megabytes=1, accepts_video=False)
    olga = OperatorFactory(username="olga", first_name="Olga")
    piotr = OperatorFactory(username="piotr", first_name="Piotr")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    QueueMemberFactory(open_channel=channel, operator=piotr, position=1)
    supervisor = UserFactory(username="sue")
    supervisor.groups.add(Group.objects.get(name="Supervisors"))
    channel.supervisors.add(supervisor)
    administrator = UserFactory(username="ada")
    administrator.groups.add(Group.objects.get(name="Administrators"))
    connector = ConnectorFactory(open_channel=channel, kind="livechat")
    sales = OpenChannelFactory(name="Sales", welcome_enabled=False)
    stan = OperatorFactory(username="stan")
    QueueMemberFactory(open_channel=sales, operator=stan, position=0)
    received = message_receive(
        connector=connector, external_user_id="anna", text="Hello", source_message_id=None, now=timezone.now()
    )
    offer = Offer.objects.get(conversation=received.conversation, operator=olga, status=Offer.Status.PENDING)
    conversation = offer_accept(offer_id=offer.pk, operator=olga, now=timezone.now())
    return SimpleNamespace(
        channel=channel,
        connector=connector,
        conversation=conversation,
        olga=olga,
        piotr=piotr,
        supervisor=supervisor,
        administrator=administrator,
        stan=stan,
        sales=sales,
    )


def signed_in(user, **kwargs) -> HttpClient:
    client = HttpClient(**kwargs)
    client.force_login(user)
    return client


def upload(client: HttpClient, conversation_id: int, name: str, content: bytes, mime: str, **fields):
    file = SimpleUploadedFile(name, content, content_type=mime)
    return client.post(f"/api/conversations/{conversation_id}/files/", {"file": file, **fields})


def stored_files(settings) -> list[str]:
    from pathlib import Path

    root = Path(settings.MEDIA_ROOT)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) if root.exists() else []


# --- upload -------------------------------------------------------------------------------------------------


def test_operator_uploads_a_pdf_with_a_caption(support, published, settings):
    response = upload(
        signed_in(support.olga), support.conversation.pk, "Invoice 42.pdf", PDF_BYTES, "application/pdf", text="Here"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    message = Message.objects.get(pk=body["id"])
    assert message.author_kind == Message.Author.OPERATOR and message.author_id == support.olga.pk
    assert message.text == "Here"
    attachment = message.attachments.get()
    assert (attachment.name, attachment.mime_type, attachment.size, attachment.state, attachment.kind) == (
        "Invoice 42.pdf",
        "application/pdf",
        len(PDF_BYTES),
        Attachment.State.READY,
        "file",
    )
    # Stored under a random name, never the sender's.
    assert "Invoice" not in attachment.file.name
    with attachment.file.open("rb") as handle:
        assert handle.read() == PDF_BYTES
    # The answer has the shape of the message.created event's message, so the console draws both alike.
    created = [event for event in published if event["type"] == "message.created"]
    assert {event["message"]["id"] for event in created} == {message.pk}
    assert body == created[0]["message"] | {"created_at": body["created_at"]}
    assert body["attachments"][0]["url"] == f"/files/{attachment.public_id}/"
    assert body["attachments"][0]["name"] == "Invoice 42.pdf"


def test_an_image_gets_a_thumbnail_and_a_file_only_message_previews_its_name(support, published):
    olga = signed_in(support.olga)
    response = upload(olga, support.conversation.pk, "screen.png", png_bytes(), "image/png")
    assert response.status_code == 201, response.content
    payload = response.json()["attachments"][0]
    assert payload["kind"] == "image" and payload["inline"] is True
    assert payload["thumbnail_url"].endswith("/thumbnail/")

    row = olga.get("/api/console/conversations/").json()["mine"][0]
    assert (row["last_message_text"], row["last_message_file"]) == ("", "screen.png")


@pytest.mark.parametrize(
    "name, content, mime, status, reason",
    [
        ("film.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4", 400, "does not accept files of this type"),
        ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 400, "does not accept files"),
        ("big.pdf", b"%PDF" + b"0" * (1024 * 1024), "application/pdf", 413, "larger than 1 MB"),
        ("empty.pdf", b"", "application/pdf", 400, "This file is empty."),
    ],
)
def test_a_file_the_channel_does_not_accept_is_refused_with_the_reason(
    support, settings, name, content, mime, status, reason
):
    response = upload(signed_in(support.olga), support.conversation.pk, name, content, mime)

    assert response.status_code == status
    assert reason in response.json()["detail"]
    assert not Attachment.objects.exists()
    assert not Message.objects.filter(author_kind=Message.Author.OPERATOR).exists()
    assert stored_files(settings) == []


def test_a_body_far_over_the_limit_is_refused_from_its_declared_length(support, settings):
    huge = b"0" * (1024 * 1024 + 200 * 1024)
    response = upload(signed_in(support.olga), support.conversation.pk, "huge.txt", huge, "text/plain")
    assert response.status_code == 413
    assert "larger than 1 MB" in response.json()["detail"]
    assert stored_files(settings) == []


def test_a_request_without_a_file_is_a_clear_400(support):
    response = signed_in(support.olga).post(f"/api/conversations/{support.conversation.pk}/files/", {"text": "hi"})
    assert response.status_code == 400
    assert response.json() == {"detail": "Choose a file to send."}
    assert not Message.objects.filter(author_kind=Message.Author.OPERATOR).exists()


@pytest.mark.parametrize("who", ["piotr", "supervisor", "administrator"])
def test_only_the_holder_sends_and_nothing_is_stored_for_anyone_else(support, settings, who):
    response = upload(signed_in(getattr(support, who)), support.conversation.pk, "a.pdf", PDF_BYTES, "application/pdf")

    assert response.status_code == 403
    assert "not assigned to you" in response.json()["detail"]
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_a_file_the_service_refuses_after_storing_it_is_forgotten(support, settings):
    """The offer ran out while the file was on its way: the service says no, and the stored bytes go."""
    received = message_receive(
        connector=support.connector, external_user_id="bert", text="Hi", source_message_id=None, now=timezone.now()
    )
    offer = Offer.objects.get(conversation=received.conversation, status=Offer.Status.PENDING)
    with time_machine.travel(offer.expires_at + timedelta(seconds=1)):
        response = upload(signed_in(offer.operator), received.conversation.pk, "a.pdf", PDF_BYTES, "application/pdf")
    assert response.status_code == 409
    assert "expired" in response.json()["detail"]
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_another_channels_operator_gets_404_and_nothing_is_stored(support, settings):
    response = upload(signed_in(support.stan), support.conversation.pk, "a.pdf", PDF_BYTES, "application/pdf")
    assert response.status_code == 404
    assert stored_files(settings) == []


def test_anonymous_is_refused(support, settings):
    response = upload(HttpClient(), support.conversation.pk, "a.pdf", PDF_BYTES, "application/pdf")
    assert response.status_code == 403
    assert stored_files(settings) == []


def test_the_upload_needs_the_csrf_token(support, settings):
    browser = signed_in(support.olga, enforce_csrf_checks=True)
    response = upload(browser, support.conversation.pk, "a.pdf", PDF_BYTES, "application/pdf")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Attachment.objects.exists()


def test_the_conversation_tells_the_page_its_channels_file_limits(support):
    detail = signed_in(support.olga).get(f"/api/conversations/{support.conversation.pk}/").json()
    limits = detail["file_limits"]
    assert limits["max_bytes"] == 1024 * 1024
    assert limits["max_size_text"] == "1 MB"
    assert limits["groups"] == ["images", "documents", "audio"]
    assert limits["groups_text"] == "images, documents, audio"
    assert ".pdf" in limits["accept"].split(",") and ".mp4" not in limits["accept"].split(",")


def test_the_messages_listing_reads_files_without_a_query_per_message(support, django_assert_max_num_queries):
    olga = signed_in(support.olga)
    for index in range(5):
        assert upload(olga, support.conversation.pk, f"doc{index}.pdf", PDF_BYTES, "application/pdf").status_code == 201
    path = f"/api/conversations/{support.conversation.pk}/messages/"
    olga.get(path)  # session and permission lookups cached alike for both counts
    with django_assert_max_num_queries(12) as counted:
        body = olga.get(path).json()
    assert [m["attachments"][0]["name"] for m in body["messages"] if m["attachments"]] == [
        f"doc{index}.pdf" for index in range(5)
    ]
    assert sum("attachment" in query["sql"] for query in counted.captured_queries) == 1


# --- the file door ------------------------------------------------------------------------------------------


def client_file(support, name: str, content: bytes, mime: str) -> Attachment:
    """A file the visitor sent (stored as the widget's upload would be)."""
    incoming = file_store_upload(
        open_channel=support.channel, upload=SimpleUploadedFile(name, content, mime), name=name, mime_type=mime
    )
    message_receive(
        connector=support.connector,
        external_user_id="anna",
        text="",
        source_message_id=None,
        now=timezone.now(),
        files=[incoming],
    )
    return Attachment.objects.get(name=name)


@pytest.mark.parametrize("who", ["olga", "piotr", "supervisor", "administrator"])
def test_the_channels_people_open_an_image_inline(support, who):
    image = client_file(support, "photo.png", png_bytes(), "image/png")
    response = signed_in(getattr(support, who)).get(f"/files/{image.public_id}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert not response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == png_bytes()


def test_the_thumbnail_is_a_small_jpeg(support):
    image = client_file(support, "photo.png", png_bytes((1600, 1200)), "image/png")
    response = signed_in(support.olga).get(f"/files/{image.public_id}/thumbnail/")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(response.streaming_content))) as thumbnail:
        assert max(thumbnail.size) == THUMBNAIL_SIZE and thumbnail.format == "JPEG"


def test_a_pdf_downloads_as_an_attachment(support):
    pdf = client_file(support, "invoice.pdf", PDF_BYTES, "application/pdf")
    response = signed_in(support.olga).get(f"/files/{pdf.public_id}/")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="invoice.pdf"' in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "name, mime", [("page.html", "text/html"), ("drawing.svg", "image/svg+xml"), ("fake.png", "text/html")]
)
def test_markup_is_never_served_inline(support, name, mime):
    """Even if it got in (here written straight into a row, as a provider's file might), markup downloads."""
    message = Message.objects.create(
        conversation=support.conversation,
        connector=support.connector,
        author_kind=Message.Author.CLIENT,
        text="",
        created_at=timezone.now(),
    )
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    path = default_storage.save(f"attachments/{uuid.uuid4().hex}", ContentFile(b"<script>alert(1)</script>"))
    attachment = Attachment.objects.create(
        message=message, kind="file", name=name, mime_type=mime, size=25, file=path, created_at=timezone.now()
    )
    response = signed_in(support.olga).get(f"/files/{attachment.public_id}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/files/{id}/", "/files/{id}/thumbnail/"])
def test_another_channels_operator_and_anonymous_get_404(support, path):
    image = client_file(support, "photo.png", png_bytes(), "image/png")
    url = path.format(id=image.public_id)
    assert signed_in(support.stan).get(url).status_code == 404
    assert HttpClient().get(url).status_code == 404
