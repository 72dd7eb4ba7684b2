"""engine.attachments: storing uploads and copies, thumbnails, limits, events, deletion, who may open a file."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from channels_app.engine import access, attachments, conversations, events, inbound, jobs
from channels_app.engine.attachments import FileRefused, IncomingFile
from channels_app.engine.errors import NotAllowed, NotFound
from channels_app.models import Attachment, Message
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def png_bytes(width: int = 1200, height: int = 800) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def queued_downloads(monkeypatch):
    queued: list[tuple[str, tuple]] = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *args, **kw: queued.append((name, args)))
    return queued


@pytest.fixture
def olga(db):
    return make_operator("olga")


@pytest.fixture
def support(olga):
    return make_channel([olga], name="Support")


def upload(support, name="Screenshot 2026-12-02 at 10.15.png", content=None, mime="image/png"):
    content = png_bytes() if content is None else content
    return attachments.file_store_upload(
        open_channel=support, upload=SimpleUploadedFile(name, content, mime), name=name, mime_type=mime
    )


def stored_files(media) -> list:
    return sorted(p for p in media.rglob("*") if p.is_file())


def test_an_upload_is_stored_under_a_random_name_with_a_thumbnail(engine, support, media):
    incoming = upload(support)
    assert "Screenshot" not in incoming.stored_path and incoming.stored_path.startswith("files/")
    with Image.open(default_storage.open(incoming.thumbnail_path)) as thumbnail:
        assert thumbnail.format == "JPEG" and max(thumbnail.size) == 480

    conversation = engine.receive(support, "anna", "", files=[incoming])
    [attachment] = Attachment.objects.filter(message__conversation=conversation)
    assert attachment.state == "ready" and attachment.kind == "image"
    assert attachment.name == "Screenshot 2026-12-02 at 10.15.png" and attachment.size == incoming.size
    [created] = [e for e in engine.events(type="message.created") if e["message"]["author_kind"] == "client"]
    [payload] = created["message"]["attachments"]
    assert payload["url"] == f"/files/{attachment.public_id}/"
    assert payload["thumbnail_url"] == f"/files/{attachment.public_id}/thumbnail/"
    assert payload["inline"] is True and payload["state"] == "ready"


@pytest.mark.parametrize(
    ("name", "mime", "content", "settings_", "reason"),
    [
        ("big.pdf", "application/pdf", b"%PDF" + b"x" * 2_000_000, {"max_file_megabytes": 1}, "larger than 1 MB"),
        ("backup.zip", "application/zip", b"PK\x03\x04", {}, "does not accept files of this type"),
        ("logo.svg", "image/svg+xml", b"<svg onload=alert(1)/>", {}, "does not accept files of this type"),
        ("voice.ogg", "audio/ogg", b"OggS", {"accepts_audio": False}, "does not accept files of this type"),
        ("empty.txt", "text/plain", b"", {}, "empty"),
    ],
)
def test_refused_uploads_store_nothing(support, media, name, mime, content, settings_, reason):
    for field, value in settings_.items():
        setattr(support, field, value)
    with pytest.raises(FileRefused, match=reason):
        upload(support, name=name, content=content, mime=mime)
    assert stored_files(media) == []


def test_the_servers_ceiling_wins_over_the_channels_setting(support, settings):
    settings.MAX_ATTACHMENT_BYTES = 1000
    support.max_file_megabytes = 100
    assert support.file_limits.max_bytes == 1000


def test_an_operators_file_reply_is_stored_with_the_message(engine, support, olga):
    conversation = engine.receive(support, "anna", "Can you send the invoice?")
    engine.route(conversation)
    incoming = upload(support, name="invoice.pdf", content=b"%PDF-1.4 invoice", mime="application/pdf")
    message = engine.commit(
        conversations.message_send_by_operator,
        conversation_id=conversation.pk,
        operator=olga,
        text="",
        files=[incoming],
    )
    [attachment] = message.attachments.all()
    assert (attachment.kind, attachment.mime_type, attachment.thumbnail.name) == ("file", "application/pdf", "")
    assert default_storage.open(attachment.file.name).read() == b"%PDF-1.4 invoice"


def messenger_photo(engine, queued_downloads, text=""):
    channel = make_channel([make_operator("piotr")], connector_kind="telegram", name="Telegram")
    pending = IncomingFile(name="photo.jpg", mime_type="image/jpeg", kind_hint="image", source_ref={"file_id": "AgA"})
    conversation = engine.receive(channel, "555", text, files=[pending])
    return conversation, Attachment.objects.get(message__conversation=conversation)


def test_a_messengers_file_is_stored_pending_and_its_download_queued_after_commit(engine, queued_downloads):
    _, attachment = messenger_photo(engine, queued_downloads)
    assert attachment.state == "pending" and attachment.source_ref == {"file_id": "AgA"}
    assert (jobs.DOWNLOAD_ATTACHMENT, (attachment.pk,)) in queued_downloads
    # The client's photo without a caption is a message at once; the console shows "downloading…".
    [created] = [e for e in engine.events(type="message.created") if e["message"]["author_kind"] == "client"]
    assert created["message"]["attachments"][0]["state"] == "pending"
    assert created["message"]["attachments"][0]["url"] == ""


def test_a_downloaded_file_becomes_ready_once_and_viewers_are_told(engine, queued_downloads, media):
    conversation, attachment = messenger_photo(engine, queued_downloads)
    stored = engine.commit(
        attachments.attachment_store_downloaded, attachment_id=attachment.pk, content=png_bytes(), mime_type=""
    )
    assert stored.state == "ready" and stored.thumbnail.name and stored.size > 0
    [event] = engine.events(group=events.conversation_group(conversation.pk), type="message.attachments")
    assert event["message"]["attachments"][0]["state"] == "ready"
    files_before = stored_files(media)

    again = engine.commit(
        attachments.attachment_store_downloaded, attachment_id=attachment.pk, content=png_bytes(), mime_type=""
    )
    assert again is None and stored_files(media) == files_before


def test_a_download_the_channel_refuses_fails_with_the_reason(engine, queued_downloads, media):
    conversation, attachment = messenger_photo(engine, queued_downloads)
    conversation.open_channel.__class__.objects.filter(pk=conversation.open_channel_id).update(accepts_images=False)
    result = engine.commit(
        attachments.attachment_store_downloaded, attachment_id=attachment.pk, content=png_bytes(), mime_type=""
    )
    assert result.state == "failed" and "does not accept files of this type" in result.error
    assert stored_files(media) == []
    [event] = engine.events(type="message.attachments")
    assert event["message"]["attachments"][0]["error"] == result.error


def test_a_last_failed_download_is_shown_with_its_reason(engine, queued_downloads):
    _, attachment = messenger_photo(engine, queued_downloads)
    engine.commit(attachments.attachment_download_failed, attachment_id=attachment.pk, reason="Telegram said 400")
    attachment.refresh_from_db()
    assert (attachment.state, attachment.error) == ("failed", "Telegram said 400")
    assert engine.events(type="message.attachments")[0]["message"]["attachments"][0]["state"] == "failed"
    # Only a pending file can fail or be stored.
    assert attachments.attachment_download_claim(attachment_id=attachment.pk) is None


def test_claiming_a_download_counts_the_attempt(engine, queued_downloads):
    _, attachment = messenger_photo(engine, queued_downloads)
    claimed = attachments.attachment_download_claim(attachment_id=attachment.pk)
    assert claimed.download_attempts == 1 and claimed.message.connector.open_channel.name == "Telegram"


def test_a_non_image_that_claims_to_be_one_gets_no_thumbnail_but_is_kept(support):
    incoming = upload(support, name="fake.png", content=b"<html>not a picture</html>", mime="image/png")
    assert incoming.stored_path and incoming.thumbnail_path == ""


def test_huge_images_get_no_thumbnail(support, monkeypatch):
    monkeypatch.setattr(attachments, "THUMBNAIL_MAX_PIXELS", 100)
    assert upload(support, content=png_bytes(20, 20)).thumbnail_path == ""


def test_deleting_a_conversation_deletes_its_files_after_commit(
    engine, support, media, django_capture_on_commit_callbacks
):
    conversation = engine.receive(support, "anna", "", files=[upload(support)])
    assert len(stored_files(media)) == 2  # the file and its thumbnail
    assert attachments.storage_used([support.pk]) > 0
    with django_capture_on_commit_callbacks(execute=True):
        Message.objects.filter(conversation=conversation).delete()
        conversation.delete()
    assert stored_files(media) == []
    assert attachments.storage_used([support.pk]) == 0


def test_storage_used_counts_each_channel_apart(engine, support, olga):
    other = make_channel([olga], name="Sales")
    engine.receive(support, "anna", "", files=[upload(support)])
    engine.receive(other, "bob", "", files=[upload(other, name="x.pdf", content=b"%PDF" * 10, mime="application/pdf")])
    assert attachments.storage_used([other.pk]) == 40
    assert attachments.storage_used() == attachments.storage_used([support.pk]) + 40


def test_who_may_open_a_file(engine, support, olga):
    conversation = engine.receive(support, "anna", "", files=[upload(support)])
    attachment = Attachment.objects.get(message__conversation=conversation)
    stranger = make_operator("quynh")
    make_channel([stranger], name="Elsewhere")
    assert access.attachment_for_user(olga, attachment.public_id) == attachment
    for nobody in (stranger, UserFactory()):
        with pytest.raises(NotFound):
            access.attachment_for_user(nobody, attachment.public_id)

    from channels_app.engine.file_links import visitor_file_signature

    own = visitor_file_signature(attachment, conversation.client_id)
    assert access.attachment_for_visitor(attachment.public_id, own) == attachment
    with pytest.raises(NotFound):
        access.attachment_for_visitor(
            attachment.public_id, visitor_file_signature(attachment, conversation.client_id + 1)
        )
    with pytest.raises(NotAllowed):
        access.attachment_for_visitor(attachment.public_id, own[:-2] + "xx")


def test_bad_file_lists_are_refused(engine, support):
    with pytest.raises(Exception, match="Files must be a list of IncomingFile"):
        engine.commit(
            inbound.message_receive,
            connector=support.connectors.get(),
            external_user_id="anna",
            text="",
            source_message_id=None,
            files=[{"url": "javascript:alert(1)"}],
        )
