"""Telegram Bot API (S2): webhook with a secret token, text / files / edits, sendMessage, setWebhook.

Reference: https://core.telegram.org/bots/api (Update, Message, setWebhook,
sendMessage, getFile; sendPhoto, sendVoice, sendAudio, sendVideo and
sendDocument for operators' files, uploaded as multipart/form-data). A
connector's ``access_token`` is the bot token and its ``webhook_secret`` the
``secret_token`` given to ``setWebhook``; Telegram echoes it in
``X-Telegram-Bot-Api-Secret-Token`` on every delivery.

Receipts (issue 15.5): the Bot API tells a bot nothing about delivery or
reading, so an operator's reply on Telegram ends at "sent" (or "failed"),
and that is final; the console never claims more.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from django.utils.translation import gettext as _

from channels_app.connectors.base import (
    RATING_TOKENS,
    DeliveryError,
    DownloadedFile,
    DownloadError,
    IdentityError,
    IdentityResult,
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
    file_to_fetch,
    file_upload,
    http_client,
    identity_get,
    identity_missing,
    identity_refused,
    logger,
    provider_base,
    response_json,
    same_secret,
    transport_error,
)
from channels_app.engine.attachments import IncomingFile
from channels_app.engine.consent import CONSENT_TOKEN
from channels_app.models import Attachment, AttachmentKind, Connector, ConnectorKind
from channels_app.policy import files

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 -- the header name
UPDATE_KINDS = ("message", "edited_message", "callback_query")
CALLBACK_PREFIX = "callback:"
# Bots may download files up to 20 MB (getFile); a larger one is never asked for.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
# Message fields that carry one file: (field, the extension of a file Telegram sends without a name,
# the type when Telegram declares none, how it is shown). Photos and stickers are read apart.
FILE_FIELDS = (
    ("document", "", "", ""),
    ("video", ".mp4", "video/mp4", ""),
    ("animation", ".mp4", "video/mp4", ""),
    ("video_note", ".mp4", "video/mp4", ""),
    ("audio", ".mp3", "audio/mpeg", ""),
    ("voice", ".ogg", "audio/ogg", files.VOICE),
)

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
            return _button_press(as_dict(payload.get("callback_query")))
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
            files=_files(connector, message),
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
            event.text_typed = False
        location = as_dict(message.get("location"))
        if location and not event.text:
            event.text = f"Location: {location.get('latitude')}, {location.get('longitude')}"
            event.text_typed = False
        if not event.text and not event.files:
            # A sticker Telegram gives no picture for (an animated one) is still the client saying something.
            event.text = as_str(as_dict(message.get("sticker")).get("emoji"))
        if not (event.text or event.files):
            return []
        return [event]

    def needs_provider_call(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> bool:
        return event.source_message_id.startswith(CALLBACK_PREFIX)

    def complete_event(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> None:
        """Stop the spinner Telegram shows on a pressed button until the press is answered."""
        if not event.source_message_id.startswith(CALLBACK_PREFIX):
            return
        # Failing to stop it loses nothing: the press itself is stored.
        try:
            self._call(
                connector,
                "answerCallbackQuery",
                {"callback_query_id": event.source_message_id.removeprefix(CALLBACK_PREFIX)},
            )
        except DeliveryError as exc:
            logger.info("telegram connector %s: callback not answered: %s", connector.pk, exc)

    def download(self, connector: Connector, source_ref: dict, *, limit: int) -> DownloadedFile:
        """1. ``getFile`` turns the file id into a path (valid for an hour); 2. the file endpoint gives the bytes.

        The name and type stay those of the message: the file endpoint declares none.
        """
        file_id = as_str(source_ref.get("file_id"))
        if not file_id:
            raise DownloadError(_("The message names no Telegram file."), retryable=False)
        try:
            data = self._call(connector, "getFile", {"file_id": file_id})
        except DeliveryError as exc:
            raise DownloadError(
                _("Telegram did not hand over the file: %(reason)s") % {"reason": exc}, retryable=exc.retryable
            ) from None
        file_path = as_str(as_dict(data.get("result")).get("file_path"))
        if not file_path:
            raise DownloadError(_("Telegram gave no path for the file."), retryable=False)
        url = f"{provider_base('TELEGRAM_API_BASE')}/file/bot{connector.access_token}/{file_path}"
        with http_client() as http:
            downloaded = download_capped(http, url, limit=min(limit, MAX_DOWNLOAD_BYTES))
        return DownloadedFile(downloaded.content)

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

    def identify(self, connector: Connector) -> IdentityResult:
        """``getMe``: the bot the token belongs to, ``{"id", "first_name", "username"}``."""
        if not connector.access_token:
            return identity_missing(_("bot token"))
        try:
            response = identity_get(f"{provider_base('TELEGRAM_API_BASE')}/bot{connector.access_token}/getMe")
        except IdentityError as exc:
            return IdentityResult(ok=False, detail=str(exc))
        data = response_json(response)
        bot = as_dict(data.get("result"))
        if response.status_code != 200 or data.get("ok") is not True:
            code = as_int(data.get("error_code")) or response.status_code
            return identity_refused(code, as_str(data.get("description")) or response.reason_phrase)
        username, name, bot_id = as_str(bot.get("username")), as_str(bot.get("first_name")), as_str(bot.get("id"))
        detail = _("Connected to @%(username)s (%(name)s).") % {"username": username, "name": name}
        if bot_id and connector.account_id != bot_id:
            # Telegram itself never reads the account id; it only tells connectors apart, so say it, not fail.
            detail += " " + _("The bot's id is %(id)s; the account id entered here is %(account)s.") % {
                "id": bot_id,
                "account": connector.account_id,
            }
        return IdentityResult(ok=True, detail=detail)

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
            unreachable=response.status_code >= 500,
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


def _button_press(callback: dict) -> list[InboundEvent]:
    """A press on an inline keyboard button: ours (the rating 👍/👎, the consent notice's "I agree", A1), or a
    chatbot's, which is the client's message: the button's title (read from the keyboard of the message it
    was under), with its callback data as the payload. Either way it is answered (``answerCallbackQuery``)."""
    message = as_dict(callback.get("message"))
    chat = as_dict(message.get("chat"))
    chat_id = as_str(chat.get("id"))
    callback_id = as_str(callback.get("id"))
    token = as_str(callback.get("data"))
    if not chat_id or not callback_id:
        raise MalformedUpdate("The callback query has no id or chat.")
    if not token or chat.get("type") != "private":
        return []  # a game's button, or a group's
    # The callback id is unique per bot, so a redelivered press is stored once.
    source_message_id = f"{CALLBACK_PREFIX}{callback_id}"
    if token in (*RATING_TOKENS, CONSENT_TOKEN):
        return [
            InboundEvent(
                kind="message",
                external_user_id=chat_id,
                source_message_id=source_message_id,
                text=token,
                pressed_rating=token if token in RATING_TOKENS else "",
                pressed_consent=token == CONSENT_TOKEN,
            )
        ]
    return [
        InboundEvent(
            kind="message",
            external_user_id=chat_id,
            source_message_id=source_message_id,
            text=_button_title(message, token) or token,
            button_payload=token,
        )
    ]


def _button_title(message: dict, data: str) -> str:
    """The title of the inline keyboard button carrying ``data`` under ``message`` ("" when it is not there)."""
    for row in as_list(as_dict(message.get("reply_markup")).get("inline_keyboard")):
        for button in as_list(row):
            button = as_dict(button)
            if as_str(button.get("callback_data")) == data:
                return as_str(button.get("text"))
    return ""


def _files(connector: Connector, message: dict) -> list[IncomingFile]:
    """The files of one message, each to be fetched later by its ``file_id``."""
    found: list[IncomingFile] = []
    sizes = [s for s in as_list(message.get("photo")) if isinstance(s, dict) and as_str(s.get("file_id"))]
    if sizes:
        # Telegram lists the sizes of one photo from smallest to largest.
        found.append(_file(connector, sizes[-1], name="photo", extension=".jpg", mime_type="image/jpeg"))
    for field_name, extension, mime_type, kind_hint in FILE_FIELDS:
        # An animation also comes as a document, for older clients: one file, not two.
        if field_name == "document" and "animation" in message:
            continue
        item = as_dict(message.get(field_name))
        if as_str(item.get("file_id")):
            found.append(
                _file(connector, item, name=field_name, extension=extension, mime_type=mime_type, kind_hint=kind_hint)
            )
    sticker = _sticker_file(connector, as_dict(message.get("sticker")))
    if sticker is not None:
        found.append(sticker)
    return found


def _sticker_file(connector: Connector, sticker: dict) -> IncomingFile | None:
    """A WEBP picture, a WEBM clip, or for an animated (Lottie) sticker no browser shows, its thumbnail."""
    if not as_str(sticker.get("file_id")):
        return None
    if sticker.get("is_video") is True:
        return _file(
            connector, sticker, name="sticker", extension=".webm", mime_type="video/webm", kind_hint=files.STICKER
        )
    if sticker.get("is_animated") is True:
        thumbnail = as_dict(sticker.get("thumbnail")) or as_dict(sticker.get("thumb"))
        if not as_str(thumbnail.get("file_id")):
            return None
        return _file(
            connector, thumbnail, name="sticker", extension=".webp", mime_type="image/webp", kind_hint=files.STICKER
        )
    return _file(connector, sticker, name="sticker", extension=".webp", mime_type="image/webp", kind_hint=files.STICKER)


def _file(
    connector: Connector, item: dict, *, name: str, extension: str, mime_type: str, kind_hint: str = ""
) -> IncomingFile:
    """One Telegram file object (Document, PhotoSize, Voice…) as a file to fetch; named after its kind when
    the client's app gave no name."""
    unique_id = as_str(item.get("file_unique_id"))
    return file_to_fetch(
        connector,
        name=as_str(item.get("file_name")) or f"{name}_{unique_id or 'telegram'}{extension}",
        mime_type=as_str(item.get("mime_type")) or mime_type,
        size=as_int(item.get("file_size")),
        kind_hint=kind_hint,
        source_ref={"file_id": as_str(item.get("file_id")), "file_unique_id": unique_id},
        provider_limit=MAX_DOWNLOAD_BYTES,
        provider_refusal=_("Telegram lets bots download files up to 20 MB; this one is larger."),
    )
