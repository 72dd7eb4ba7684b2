"""Issue 14, point 1: files from every messenger arrive with the message and are copied in the background.

Each test posts a webhook the way the provider documents it (through the
Django door, with Celery eager), so the message is stored at once with its
file pending; the commit queues ``download_attachment``, which fetches the
file from the fake provider (a real local HTTP server) and stores it under a
random name. Failures that may pass are retried; the last one, or one that
cannot pass, leaves the file failed with the reason the operator reads.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from channels_app.connectors import processing
from channels_app.engine import events
from channels_app.models import Attachment, ConnectorKind, Message
from contact_center.celery import app as celery_app
from tests.channels_app.connectors.test_meta import APP_SECRET, page_body, signed_post, whatsapp_body
from tests.channels_app.connectors.test_telegram import text_update
from tests.channels_app.connectors.test_zalo import OA_SECRET, signed, zalo_text_event
from tests.channels_app.connectors.test_zalo import post as zalo_post
from tests.factories import ConnectorFactory

VOICE_BYTES = b"OggS\x00\x02" + b"\x01" * 200
PDF_BYTES = b"%PDF-1.7\n" + b"%" * 200 + b"\n%%EOF"
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200
MP3_BYTES = b"ID3\x04\x00" + b"\x00" * 200


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


def webp_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (512, 512), (40, 200, 40, 255)).save(out, format="WEBP")
    return out.getvalue()


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    # Retries run in place (eager apply re-applies them) instead of surfacing as exceptions.
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def sent(monkeypatch, settings):
    """Every (group, event) the engine hands to the channel layer."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    recorded: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "deliver", recorded.extend)
    return recorded


@pytest.fixture
def storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def bot(open_channel):
    return ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="7000009", access_token="7000009:TOKEN"
    )


@pytest.fixture
def page(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.FACEBOOK,
        account_id="104857600",
        access_token="EAAGpageTOKEN",
        app_secret=APP_SECRET,
    )


@pytest.fixture
def whatsapp(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.WHATSAPP,
        account_id="106540352242922",
        access_token="EAAGwaTOKEN",
        app_secret=APP_SECRET,
    )


@pytest.fixture
def oa(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.ZALO,
        account_id="388613280878808645",
        access_token="zalo-oa-access-token",
        app_secret=OA_SECRET,
    )


@pytest.fixture
def receive(client, eager_celery, provider, storage, django_capture_on_commit_callbacks):
    """Post one webhook body to a connector and run what its commits queue (processing, the download)."""

    def _receive(connector, body: dict) -> Attachment:
        with django_capture_on_commit_callbacks(execute=True):
            if connector.kind == ConnectorKind.TELEGRAM:
                response = client.post(
                    f"/webhooks/telegram/{connector.pk}/",
                    data=json.dumps(body),
                    content_type="application/json",
                    HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=connector.webhook_secret,
                )
            elif connector.kind == ConnectorKind.ZALO:
                response = zalo_post(client, connector, *signed(body))
            else:
                response = signed_post(client, connector, body)
        assert response.status_code == 200
        message = Message.objects.get(connector=connector, author_kind="client")
        [attachment] = message.attachments.all()
        return attachment

    return _receive


def messenger_image(url: str) -> dict:
    attachment = {"type": "image", "payload": {"url": url}}
    return {"sender": {"id": "6028351927"}, "recipient": {"id": "104857600"},
            "message": {"mid": "m_image", "attachments": [attachment]}}  # fmt: skip


def telegram_message(**fields) -> dict:
    update = text_update()
    del update["message"]["text"]
    update["message"].update(fields)
    return update


def assert_stored(attachment: Attachment, content: bytes, storage) -> None:
    """Ready, with the bytes under a random storage name: nothing of the sender's name on disk."""
    assert (attachment.state, attachment.error) == (Attachment.State.READY, "")
    assert (storage / attachment.file.name).read_bytes() == content
    assert attachment.size == len(content)
    assert attachment.file.name.startswith("files/") and attachment.name not in attachment.file.name


# --- Telegram: every kind of file ---------------------------------------------------------------------------

INVOICE = {"file_name": "invoice.pdf", "mime_type": "application/pdf", "file_size": 221}
TELEGRAM_KINDS = [
    # (message field, its value, the bytes behind it, how it is shown, the name kept)
    ("document", INVOICE, PDF_BYTES, "file", "invoice.pdf"),
    ("voice", {"mime_type": "audio/ogg", "duration": 3}, VOICE_BYTES, "voice", "voice_U1.ogg"),
    ("audio", {"file_name": "song.mp3", "mime_type": "audio/mpeg", "duration": 30}, MP3_BYTES, "audio", "song.mp3"),
    ("video", {"mime_type": "video/mp4", "width": 640, "duration": 2}, MP4_BYTES, "video", "video_U1.mp4"),
    ("video_note", {"length": 240, "duration": 2}, MP4_BYTES, "video", "video_note_U1.mp4"),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value", "content", "kind", "name"), TELEGRAM_KINDS)
def test_telegram_file_arrives_pending_and_is_copied(
    receive, bot, provider, storage, field, value, content, kind, name
):
    provider.telegram_file("F1", f"{field}s/file_1.bin", content)
    attachment = receive(bot, telegram_message(**{field: {"file_id": "F1", "file_unique_id": "U1", **value}}))
    assert (attachment.kind, attachment.name) == (kind, name)
    assert_stored(attachment, content, storage)
    assert not attachment.thumbnail
    assert provider.calls("/getFile")[0].json == {"file_id": "F1"}


@pytest.mark.django_db
def test_telegram_photo_keeps_the_largest_size_and_gets_a_thumbnail(receive, bot, provider, storage):
    photo = jpeg_bytes()
    provider.telegram_file("P-large", "photos/file_2.jpg", photo)
    sizes = [
        {"file_id": "P-small", "file_unique_id": "S", "width": 90, "height": 67, "file_size": 1200},
        {"file_id": "P-large", "file_unique_id": "L", "width": 640, "height": 480, "file_size": len(photo)},
    ]
    attachment = receive(bot, telegram_message(photo=sizes, caption="My broken kettle"))
    assert attachment.message.text == "My broken kettle"
    assert (attachment.kind, attachment.name, attachment.mime_type) == ("image", "photo_L.jpg", "image/jpeg")
    assert_stored(attachment, photo, storage)
    with Image.open(storage / attachment.thumbnail.name) as thumbnail:
        assert max(thumbnail.size) < 640
    assert [call.json for call in provider.calls("/getFile")] == [{"file_id": "P-large"}]


@pytest.mark.django_db
def test_telegram_animation_is_one_file_though_it_also_comes_as_a_document(receive, bot, provider, storage):
    provider.telegram_file("A1", "animations/file_3.mp4", MP4_BYTES)
    gif = {"file_id": "A1", "file_unique_id": "UA", "file_name": "dance.mp4", "mime_type": "video/mp4"}
    attachment = receive(bot, telegram_message(animation=gif, document=gif))
    assert (attachment.kind, attachment.name) == ("video", "dance.mp4")
    assert_stored(attachment, MP4_BYTES, storage)


@pytest.mark.django_db
def test_telegram_sticker_is_shown_as_a_sticker(receive, bot, provider, storage):
    picture = webp_bytes()
    provider.telegram_file("ST1", "stickers/file_4.webp", picture)
    sticker = {"file_id": "ST1", "file_unique_id": "UST", "type": "regular", "is_animated": False, "is_video": False}
    attachment = receive(bot, telegram_message(sticker={**sticker, "emoji": "😀", "width": 512, "height": 512}))
    assert (attachment.kind, attachment.mime_type) == ("sticker", "image/webp")
    assert_stored(attachment, picture, storage)


@pytest.mark.django_db
def test_telegram_animated_sticker_shows_its_thumbnail(receive, bot, provider, storage):
    """An animated sticker is a Lottie file no browser shows; its thumbnail is the picture the operator sees."""
    picture = webp_bytes()
    provider.telegram_file("THUMB", "thumbnails/file_5.webp", picture)
    sticker = {
        "file_id": "TGS",
        "file_unique_id": "UTGS",
        "is_animated": True,
        "is_video": False,
        "emoji": "🎉",
        "thumbnail": {"file_id": "THUMB", "file_unique_id": "UTH", "width": 128, "height": 128},
    }
    attachment = receive(bot, telegram_message(sticker=sticker))
    assert attachment.kind == "sticker"
    assert_stored(attachment, picture, storage)
    assert [call.json for call in provider.calls("/getFile")] == [{"file_id": "THUMB"}]


@pytest.mark.django_db
def test_telegram_file_over_20_mb_is_never_asked_for(receive, bot, provider, open_channel, settings):
    settings.MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
    open_channel.max_file_megabytes = 50
    open_channel.save()
    big = {"file_id": "BIG", "file_unique_id": "UB", "file_name": "film.mp4", "file_size": 21 * 1024 * 1024}
    attachment = receive(bot, telegram_message(document=big))
    assert attachment.state == Attachment.State.FAILED
    assert attachment.error == "Telegram lets bots download files up to 20 MB; this one is larger."
    assert provider.calls("/getFile") == provider.calls("/file/bot") == []


@pytest.mark.django_db
def test_file_declared_over_the_channels_limit_is_never_asked_for(receive, bot, provider, open_channel):
    open_channel.max_file_megabytes = 1
    open_channel.save()
    big = {"file_id": "BIG", "file_unique_id": "UB", "file_name": "scan.pdf", "file_size": 2 * 1024 * 1024}
    attachment = receive(bot, telegram_message(document=big))
    assert attachment.state == Attachment.State.FAILED
    assert attachment.error == "This file is larger than 1 MB, the most this chat accepts."
    assert provider.calls("/getFile") == provider.calls("/file/bot") == []


# --- Messenger, WhatsApp, Zalo -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "path", "content", "content_type", "shown"),
    [
        ("image", "/cdn/p/kettle.jpg", None, "image/jpeg", "image"),
        ("file", "/cdn/f/manual.pdf", PDF_BYTES, "application/pdf", "file"),
        ("audio", "/cdn/a/clip.mp3", MP3_BYTES, "audio/mpeg", "audio"),
        ("video", "/cdn/v/clip.mp4", MP4_BYTES, "video/mp4", "video"),
    ],
)
def test_messenger_attachment_is_copied_from_its_cdn_link(
    receive, page, provider, storage, kind, path, content, content_type, shown
):
    content = content or jpeg_bytes()
    url = provider.serve_file(path, content, content_type) + "?_nc_cat=1&oh=signature"
    event = {
        "sender": {"id": "6028351927"},
        "recipient": {"id": "104857600"},
        "timestamp": 1767225600123,
        "message": {"mid": "m_file", "attachments": [{"type": kind, "payload": {"url": url}}]},
    }
    attachment = receive(page, page_body([event]))
    assert (attachment.kind, attachment.name, attachment.mime_type) == (shown, path.rsplit("/", 1)[1], content_type)
    assert_stored(attachment, content, storage)
    # A CDN link needs no token: none is sent to it.
    assert "authorization" not in provider.calls(path)[0].headers


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "body", "content", "shown", "name"),
    [
        ("image", {"mime_type": "image/jpeg", "caption": "Receipt"}, None, "image", "image_media-7"),
        ("document", {"mime_type": "application/pdf", "filename": "order.pdf"}, PDF_BYTES, "file", "order.pdf"),
        ("audio", {"mime_type": "audio/ogg; codecs=opus", "voice": True}, VOICE_BYTES, "voice", "audio_media-7"),
        ("audio", {"mime_type": "audio/mpeg"}, MP3_BYTES, "audio", "audio_media-7"),
        ("video", {"mime_type": "video/mp4"}, MP4_BYTES, "video", "video_media-7"),
        ("sticker", {"mime_type": "image/webp", "animated": False}, None, "sticker", "sticker_media-7"),
    ],
)
def test_whatsapp_media_is_copied_through_the_media_api(
    receive, whatsapp, provider, storage, kind, body, content, shown, name
):
    content = content or (webp_bytes() if kind == "sticker" else jpeg_bytes())
    provider.whatsapp_media("media-7", content, body["mime_type"])
    message = {"from": "16315551181", "id": "wamid.F", "timestamp": "1767225600", "type": kind}
    message[kind] = {"id": "media-7", "sha256": "x", **body}
    attachment = receive(whatsapp, whatsapp_body(message))
    assert (attachment.kind, attachment.name) == (shown, name)
    assert_stored(attachment, content, storage)
    assert provider.calls("/graph/media-bytes/media-7")[0].headers["authorization"] == "Bearer EAAGwaTOKEN"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "payload", "content", "content_type", "shown", "name"),
    [
        ("image", {}, None, "image/jpeg", "image", "image_zm1_0.jpg"),
        ("file", {"name": "bao-gia.pdf", "size": "221"}, PDF_BYTES, "application/pdf", "file", "bao-gia.pdf"),
        ("gif", {}, None, "image/gif", "image", "gif_zm1_0.gif"),
        ("sticker", {"id": "b9a1"}, None, "image/png", "sticker", "sticker_zm1_0"),
    ],
)  # fmt: skip
def test_zalo_attachment_is_copied_from_its_link(
    receive, oa, provider, storage, kind, payload, content, content_type, shown, name
):
    content = content or jpeg_bytes()
    url = provider.serve_file(f"/zalo-cdn/{kind}", content, content_type)
    event = zalo_text_event("zm1", text="")
    event["event_name"] = f"user_send_{kind}"
    event["message"]["attachments"] = [{"type": kind, "payload": {"url": url, "thumbnail": url, **payload}}]
    attachment = receive(oa, event)
    assert (attachment.kind, attachment.name) == (shown, name)
    assert_stored(attachment, content, storage)


# --- retries, failures, refusals, events -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failure_that_may_pass_is_retried_then_the_file_is_stored(receive, bot, provider, storage):
    provider.telegram_file("F1", "documents/file_1.pdf", PDF_BYTES)
    provider.fail("/getFile", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    provider.fail("/file/bot", 503, b"busy")
    provider.fail("/file/bot", 429, b"slow down")
    attachment = receive(bot, telegram_message(document={"file_id": "F1", "file_name": "a.pdf"}))
    assert_stored(attachment, PDF_BYTES, storage)
    assert attachment.download_attempts == 4


@pytest.mark.django_db
def test_the_last_failed_try_marks_the_file_failed_with_the_reason(receive, bot, provider):
    provider.fail("/getFile", 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}, times=10)
    attachment = receive(bot, telegram_message(document={"file_id": "F1", "file_name": "a.pdf"}))
    assert attachment.state == Attachment.State.FAILED
    assert attachment.download_attempts == processing.DOWNLOAD_MAX_RETRIES + 1
    assert (
        attachment.error == "Telegram did not hand over the file: Telegram getFile failed (500): Internal Server Error"
    )
    assert not attachment.file


@pytest.mark.django_db
def test_an_expired_link_fails_at_once_without_retrying(receive, page, provider):
    provider.fail("/cdn/gone.jpg", 403, b"URL signature expired")
    attachment = receive(page, page_body([messenger_image(provider.url + "/cdn/gone.jpg")]))
    assert attachment.state == Attachment.State.FAILED
    assert attachment.download_attempts == 1
    assert attachment.error == "The provider refused the file (HTTP 403); its link may have expired."


@pytest.mark.django_db
def test_a_type_the_channel_refuses_fails_with_the_reason(receive, bot, provider, open_channel, storage):
    open_channel.accepts_audio = False
    open_channel.save()
    provider.telegram_file("V1", "voice/file_1.oga", VOICE_BYTES)
    attachment = receive(
        bot, telegram_message(voice={"file_id": "V1", "file_unique_id": "UV", "mime_type": "audio/ogg"})
    )
    assert attachment.state == Attachment.State.FAILED
    assert attachment.error == "This chat does not accept files of this type."
    assert not attachment.file and not any(storage.rglob("*"))


@pytest.mark.django_db
def test_a_file_larger_than_declared_stops_at_the_channels_limit(receive, bot, provider, open_channel, storage):
    open_channel.max_file_megabytes = 1
    open_channel.save()
    provider.telegram_file("F1", "documents/file_1.pdf", b"%PDF" + b"0" * (1024 * 1024))
    attachment = receive(bot, telegram_message(document={"file_id": "F1", "file_name": "a.pdf", "file_size": 10}))
    assert attachment.state == Attachment.State.FAILED
    assert attachment.error == "This file is larger than 1 MB, the most this chat accepts."
    assert attachment.download_attempts == 1


@pytest.mark.django_db
def test_the_console_is_told_when_the_file_is_ready(receive, bot, provider, sent):
    provider.telegram_file("F1", "documents/file_1.pdf", PDF_BYTES)
    attachment = receive(bot, telegram_message(document={"file_id": "F1", "file_name": "a.pdf"}))
    group = events.conversation_group(attachment.message.conversation_id)
    frames = [
        event for to, event in sent if to == group and event.get("message", {}).get("id") == attachment.message_id
    ]
    assert [frame["type"] for frame in frames] == ["message.created", "message.attachments"]
    assert frames[0]["message"]["attachments"][0]["state"] == "pending"
    [ready] = frames[1]["message"]["attachments"]
    assert (ready["state"], ready["name"], ready["url"]) == ("ready", "a.pdf", attachment.url)


@pytest.mark.django_db
def test_the_console_is_told_when_the_file_could_not_be_copied(receive, page, provider, sent):
    provider.fail("/cdn/gone.jpg", 404, b"")
    attachment = receive(page, page_body([messenger_image(provider.url + "/cdn/gone.jpg")]))
    [frame] = [event for _, event in sent if event["type"] == "message.attachments"]
    assert frame["message"]["attachments"][0]["state"] == "failed"
    assert frame["message"]["attachments"][0]["error"] == attachment.error != ""


@pytest.mark.django_db
def test_the_sweep_requeues_a_pending_file_whose_task_was_lost(bot, provider, storage, eager_celery, client):
    """The broker was down when the message committed: the file stays pending until the sweep queues it again."""
    from channels_app.tasks import sweep_connectors

    provider.telegram_file("F1", "documents/file_1.pdf", PDF_BYTES)
    update = telegram_message(document={"file_id": "F1", "file_name": "a.pdf"})
    # Without capturing on-commit callbacks, nothing queues the download: as if the broker had lost it.
    client.post(
        f"/webhooks/telegram/{bot.pk}/",
        data=json.dumps(update),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=bot.webhook_secret,
    )
    attachment = Attachment.objects.get(message__connector=bot)
    assert attachment.state == Attachment.State.PENDING
    assert processing.connectors_sweep(now=timezone.now()).attachments == []  # within the grace period
    Attachment.objects.filter(pk=attachment.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    assert processing.connectors_sweep(now=timezone.now()).attachments == [attachment.pk]
    sweep_connectors.apply()
    attachment.refresh_from_db()
    assert_stored(attachment, PDF_BYTES, storage)
