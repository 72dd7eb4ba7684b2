"""Telegram Bot API (S2): webhook with a secret token, text / files / edits, sendMessage, setWebhook.

Reference: https://core.telegram.org/bots/api (Update, Message, setWebhook,
sendMessage, getFile; sendPhoto, sendVoice, sendAudio, sendVideo and
sendDocument for operators' files, uploaded as multipart/form-data). A
connector's ``access_token`` is the bot token and its ``webhook_secret`` the
``secret_token`` given to ``setWebhook``; Telegram echoes it in
``X-Telegram-Bot-Api-Secret-Token`` on every delivery.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

import httpx
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename

from channels_app.connectors.base import (
    RATING_TOKENS,
    DeliveryError,
    InboundEvent,
    MalformedUpdate,
    RegistrationResult,
    SendResult,
    Source,
    StoredUpdate,
    as_dict,
    as_int,
    as_list,
    as_str,
    download_capped,
    file_upload,
    http_client,
    logger,
    provider_base,
    response_json,
    same_secret,
    transport_error,
)
from channels_app.models import Attachment, AttachmentKind, Connector, ConnectorKind

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 -- the header name
UPDATE_KINDS = ("message", "edited_message", "callback_query")
CALLBACK_PREFIX = "callback:"
# Bots may download files up to 20 MB (getFile); larger ones stay as a reference only.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
# Message fields that carry one file, and the attachment kind each becomes.
FILE_FIELDS = ("document", "video", "audio", "voice", "animation", "video_note", "sticker")

# What each Bot API send method shows natively; any other file goes as a document (a name and a download).
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
VOICE_TYPES = frozenset({"audio/ogg", "audio/mpeg", "audio/mp4"})  # OGG/Opus, MP3 or M4A
AUDIO_TYPES = frozenset({"audio/mpeg", "audio/mp4"})  # the music player takes MP3 and M4A
VIDEO_TYPES = frozenset({"video/mp4"})


class TelegramSource(Source):
    kinds = (ConnectorKind.TELEGRAM,)
    max_text_length = 4096
    max_caption_length = 1024

    def verify(self, connector: Connector, headers: Mapping[str, str], body: bytes) -> bool:
        return same_secret(headers.get(SECRET_HEADER), connector.webhook_secret)

    def extract_updates(self, connector: Connector, body: dict) -> list[StoredUpdate]:
        update_id = as_int(body.get("update_id"))
        if update_id is None:
            raise MalformedUpdate("An update needs an integer update_id.")
        if not any(isinstance(body.get(kind), dict) for kind in UPDATE_KINDS):
            return []
        return [StoredUpdate(update_id=str(update_id), payload=body)]

    def parse(self, connector: Connector, payload: dict) -> list[InboundEvent]:
        if "callback_query" in payload:
            return _rating_button_press(as_dict(payload.get("callback_query")))
        is_edit = "message" not in payload
        message = as_dict(payload.get("edited_message" if is_edit else "message"))
        chat = as_dict(message.get("chat"))
        sender = as_dict(message.get("from"))
        chat_id = as_str(chat.get("id"))
        message_id = as_int(message.get("message_id"))
        if not chat_id or message_id is None:
            raise MalformedUpdate("The message has no chat id or message id.")
        # A conversation is one person; bots added to groups would mix several people in one client.
        if chat.get("type") != "private" or sender.get("is_bot") is True:
            return []
        # message_id counts per chat, so the chat id makes it unique per bot.
        source_message_id = f"{chat_id}:{message_id}"
        text = as_str(message.get("text")) or as_str(message.get("caption"))
        if is_edit:
            return [InboundEvent(kind="edit", external_user_id=chat_id, source_message_id=source_message_id, text=text)]

        person = sender or chat
        event = InboundEvent(
            kind="message",
            external_user_id=chat_id,
            source_message_id=source_message_id,
            text=text,
            attachments=_attachments(message),
            client_name=" ".join(p for p in (as_str(person.get("first_name")), as_str(person.get("last_name"))) if p),
            client_username=as_str(person.get("username")),
        )
        contact = as_dict(message.get("contact"))
        if contact:
            phone = as_str(contact.get("phone_number"))
            # Only the client's own shared contact is their phone; a forwarded card is someone else's.
            if phone and as_str(contact.get("user_id")) == as_str(sender.get("id")):
                event.client_phone = phone
            event.text = event.text or f"Contact: {as_str(contact.get('first_name'))} {phone}".strip()
        location = as_dict(message.get("location"))
        if location and not event.text:
            event.text = f"Location: {location.get('latitude')}, {location.get('longitude')}"
        if not (event.text or event.attachments):
            return []
        return [event]

    def needs_provider_call(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> bool:
        return event.source_message_id.startswith(CALLBACK_PREFIX) or any(
            a.get("file_id") and not a.get("url") for a in event.attachments
        )

    def complete_event(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> None:
        """Download the files of ``event`` into our storage so they outlive Telegram's temporary links."""
        if event.source_message_id.startswith(CALLBACK_PREFIX):
            # Until answered, Telegram shows a spinner on the pressed button; failing to stop it loses nothing.
            try:
                self._call(
                    connector,
                    "answerCallbackQuery",
                    {"callback_query_id": event.source_message_id.removeprefix(CALLBACK_PREFIX)},
                )
            except DeliveryError as exc:
                logger.info("telegram connector %s: callback not answered: %s", connector.pk, exc)
        pending = [a for a in event.attachments if a.get("file_id") and not a.get("url")]
        if not pending:
            return
        with http_client() as http:
            for attachment in pending:
                try:
                    _download(http, connector, attachment)
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    attachment["error"] = f"not downloaded: {exc}"
                    logger.warning(
                        "telegram connector %s: file %s not downloaded: %s",
                        connector.pk,
                        attachment.get("file_id"),
                        exc,
                    )

    def send_text(self, connector: Connector, *, recipient_id: str, text: str) -> SendResult:
        data = self._call(connector, "sendMessage", {"chat_id": recipient_id, "text": text})
        message_id = as_int(as_dict(data.get("result")).get("message_id"))
        return SendResult(provider_message_id=f"{recipient_id}:{message_id}" if message_id is not None else "")

    def send_file(self, connector: Connector, *, recipient_id: str, attachment: Attachment, caption: str) -> SendResult:
        """Upload the file with the method that shows it natively (:func:`send_method`), the text as its caption."""
        method, field_name = send_method(attachment)
        params = {"chat_id": recipient_id, **({"caption": caption} if caption else {})}
        with file_upload(attachment) as upload:
            data = self._call(connector, method, params, files={field_name: upload})
        message_id = as_int(as_dict(data.get("result")).get("message_id"))
        return SendResult(provider_message_id=f"{recipient_id}:{message_id}" if message_id is not None else "")

    def send_rating_request(
        self, connector: Connector, *, recipient_id: str, text: str, buttons: list[tuple[str, str]]
    ) -> SendResult:
        """R1: the rating request with an inline keyboard; a press arrives as a ``callback_query``."""
        keyboard = {"inline_keyboard": [[{"text": label, "callback_data": token} for token, label in buttons]]}
        data = self._call(connector, "sendMessage", {"chat_id": recipient_id, "text": text, "reply_markup": keyboard})
        message_id = as_int(as_dict(data.get("result")).get("message_id"))
        return SendResult(provider_message_id=f"{recipient_id}:{message_id}" if message_id is not None else "")

    def register_webhook(self, connector: Connector, url: str) -> RegistrationResult:
        try:
            data = self._call(
                connector,
                "setWebhook",
                {"url": url, "secret_token": connector.webhook_secret, "allowed_updates": list(UPDATE_KINDS)},
            )
        except DeliveryError as exc:
            return RegistrationResult(ok=False, detail=str(exc))
        return RegistrationResult(ok=True, detail=as_str(data.get("description")) or "Webhook was set")

    def _call(self, connector: Connector, method: str, params: dict, *, files: dict | None = None) -> dict:
        """Call one Bot API method (as JSON, or as a multipart upload with ``files``); Telegram answers
        ``{"ok": false, "error_code", "description"}`` on errors."""
        if not connector.access_token:
            raise DeliveryError("The connector has no bot token.", retryable=False)
        url = f"{provider_base('TELEGRAM_API_BASE')}/bot{connector.access_token}/{method}"
        try:
            with http_client() as http:
                response = http.post(url, data=params, files=files) if files else http.post(url, json=params)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        data = response_json(response)
        if response.status_code == 200 and data.get("ok") is True:
            return data
        code = as_int(data.get("error_code")) or response.status_code
        description = as_str(data.get("description")) or f"HTTP {response.status_code}"
        retry_after = as_int(as_dict(data.get("parameters")).get("retry_after"))
        raise DeliveryError(
            f"Telegram {method} failed ({code}): {description}",
            retryable=response.status_code == 429 or response.status_code >= 500,
            retry_after=float(retry_after) if retry_after else None,
        )


def send_method(attachment: Attachment) -> tuple[str, str]:
    """The Bot API method that sends this file natively, and the multipart field that carries it."""
    mime_type = attachment.mime_type
    if attachment.kind == AttachmentKind.IMAGE and mime_type in PHOTO_TYPES:
        return "sendPhoto", "photo"
    if mime_type in VOICE_TYPES and (attachment.kind == AttachmentKind.VOICE or mime_type == "audio/ogg"):
        return "sendVoice", "voice"
    if attachment.kind == AttachmentKind.AUDIO and mime_type in AUDIO_TYPES:
        return "sendAudio", "audio"
    if attachment.kind == AttachmentKind.VIDEO and mime_type in VIDEO_TYPES:
        return "sendVideo", "video"
    return "sendDocument", "document"


def _rating_button_press(callback: dict) -> list[InboundEvent]:
    """A press on our rating keyboard is the client answering 👍/👎; other callbacks are not ours."""
    chat = as_dict(as_dict(callback.get("message")).get("chat"))
    chat_id = as_str(chat.get("id"))
    callback_id = as_str(callback.get("id"))
    token = as_str(callback.get("data"))
    if not chat_id or not callback_id:
        raise MalformedUpdate("The callback query has no id or chat.")
    if token not in RATING_TOKENS or chat.get("type") != "private":
        return []
    # The callback id is unique per bot, so a redelivered press is stored once.
    return [
        InboundEvent(
            kind="message", external_user_id=chat_id, source_message_id=f"{CALLBACK_PREFIX}{callback_id}", text=token
        )
    ]


def _attachments(message: dict) -> list[dict]:
    found: list[dict] = []
    sizes = [s for s in as_list(message.get("photo")) if isinstance(s, dict) and as_str(s.get("file_id"))]
    if sizes:
        # Telegram lists the sizes of one photo from smallest to largest.
        largest = sizes[-1]
        found.append(
            {
                "kind": "photo",
                "file_id": as_str(largest.get("file_id")),
                "file_unique_id": as_str(largest.get("file_unique_id")),
                "name": f"photo_{as_str(largest.get('file_unique_id')) or 'telegram'}.jpg",
                "mime_type": "image/jpeg",
                "size": as_int(largest.get("file_size")),
            }
        )
    for kind in FILE_FIELDS:
        item = as_dict(message.get(kind))
        file_id = as_str(item.get("file_id"))
        if not file_id:
            continue
        unique_id = as_str(item.get("file_unique_id"))
        found.append(
            {
                "kind": "document" if kind == "document" else kind,
                "file_id": file_id,
                "file_unique_id": unique_id,
                "name": as_str(item.get("file_name")) or f"{kind}_{unique_id or 'telegram'}",
                "mime_type": as_str(item.get("mime_type")),
                "size": as_int(item.get("file_size")),
            }
        )
    return found


def _download(http: httpx.Client, connector: Connector, attachment: dict) -> None:
    """1. getFile gives the file's path; 2. the file endpoint gives its bytes; 3. store them once per file."""
    size = attachment.get("size")
    if isinstance(size, int) and size > min(MAX_DOWNLOAD_BYTES, settings.MAX_ATTACHMENT_BYTES):
        attachment["error"] = (
            f"larger than the {min(MAX_DOWNLOAD_BYTES, settings.MAX_ATTACHMENT_BYTES)} bytes we download"
        )
        return
    base = provider_base("TELEGRAM_API_BASE")
    token = connector.access_token
    response = http.post(f"{base}/bot{token}/getFile", json={"file_id": attachment["file_id"]})
    file_path = as_str(as_dict(response_json(response).get("result")).get("file_path"))
    if response.status_code != 200 or not file_path:
        raise ValueError(f"getFile answered HTTP {response.status_code}")
    name = get_valid_filename(attachment.get("name") or posixpath.basename(file_path)) or "file"
    folder = get_valid_filename(attachment.get("file_unique_id") or attachment["file_id"])[:100]
    storage_path = f"connectors/telegram/{connector.pk}/{folder}/{name}"
    if not default_storage.exists(storage_path):
        content = download_capped(http, f"{base}/file/bot{token}/{file_path}", limit=MAX_DOWNLOAD_BYTES)
        storage_path = default_storage.save(storage_path, ContentFile(content))
        attachment["size"] = len(content)
    attachment["path"] = storage_path
    attachment["url"] = default_storage.url(storage_path)
