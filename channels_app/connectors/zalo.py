"""Zalo Official Account (S2): signed webhook events, inbound text and files, the customer-service send API.

Zalo signs each event with ``X-ZEvent-Signature: mac=<hex>`` where the hex is
``sha256(app_id + raw body + timestamp + OA secret key)``; ``app_id`` and
``timestamp`` are read from the body itself, and are empty in a body that is
not a JSON object (so a malformed body is a 403 like an unknown connector,
unless signed with the secret: then the webhook answers 400). The connector's
``app_secret`` is the OA secret key (not the app's own secret), ``access_token``
the OA access token and ``account_id`` the OA id. The webhook URL is set in the Zalo
developer dashboard after the site's domain is verified there; Zalo expects a
200 within 2 seconds and retries otherwise.

Operators' files: an official account may send JPEG/PNG images (uploaded to
``/v2.0/oa/upload/image``, sent as a ``media`` template with the text beside
it) and PDF/Word documents (``/v2.0/oa/upload/file`` gives a token, sent as a
``file`` attachment); Zalo has no way for an OA to send audio or video.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.connectors import zalo_tokens
from channels_app.connectors.base import (
    DeliveryError,
    DownloadedFile,
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
    download_link,
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
from channels_app.models import Attachment, Connector, ConnectorKind
from channels_app.policy import files, shared_details

SIGNATURE_HEADER = "X-ZEvent-Signature"
# Events a follower sends to the OA; "oa_send_*" are our own messages and are not stored.
CLIENT_EVENTS = (
    "user_send_text",
    "user_send_image",
    "user_send_file",
    "user_send_link",
    "user_send_sticker",
    "user_send_gif",
    "user_send_audio",
    "user_send_video",
    "user_send_location",
)
# The follower pressed "share" on the OA's request for their details: their name and phone, from Zalo.
SUBMIT_INFO_EVENT = "user_submit_info"
RETRYABLE_ZALO_ERRORS = {-32}  # rate limit exceeded
# What an OA may send: images through upload/image, documents through upload/file (by type or extension).
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png"})
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)
DOCUMENT_EXTENSIONS = frozenset({"pdf", "doc", "docx"})
# Attachment types whose payload.url is a file (a "link" is a web page the client shared, kept as text), and the
# extension of one Zalo sends without a name.
ZALO_FILE_EXTENSIONS = {"image": ".jpg", "gif": ".gif", "sticker": "", "audio": "", "video": "", "file": ""}


def zalo_mac(*, app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    signed = app_id.encode() + raw_body + timestamp.encode() + oa_secret_key.encode()
    return hashlib.sha256(signed).hexdigest()


class ZaloSource(Source):
    kinds = (ConnectorKind.ZALO,)
    max_text_length = 2000
    max_caption_length = 2000  # the text beside an image is the message's own text
    asks_for_new_clients_name = True

    def verify(self, connector: Connector, headers: Mapping[str, str], body: bytes) -> bool:
        given = (headers.get(SIGNATURE_HEADER) or "").strip()
        given = given[4:] if given.lower().startswith("mac=") else given
        if not given or not connector.app_secret:
            return False
        try:
            data = as_dict(json.loads(body))
        except (ValueError, RecursionError):  # not JSON (or too deep to parse): signed without app_id and timestamp
            data = {}
        expected = zalo_mac(
            app_id=as_str(data.get("app_id")),
            raw_body=body,
            timestamp=as_str(data.get("timestamp")),
            oa_secret_key=connector.app_secret,
        )
        return same_secret(given.lower(), expected)

    def extract_updates(self, connector: Connector, body: dict) -> list[StoredUpdate]:
        event_name = body.get("event_name")
        if not isinstance(event_name, str):
            raise MalformedUpdate("A Zalo event needs an event_name.")
        if event_name == SUBMIT_INFO_EVENT:
            sender_id = as_str(as_dict(body.get("sender")).get("id"))
            if not sender_id:
                raise MalformedUpdate("A Zalo event needs sender.id.")
            return [StoredUpdate(update_id=f"submit_info:{sender_id}:{as_str(body.get('timestamp'))}", payload=body)]
        if event_name in RECEIPT_EVENTS:
            return _receipt_update(event_name, body)
        if event_name not in CLIENT_EVENTS:
            return []
        msg_id = as_str(as_dict(body.get("message")).get("msg_id"))
        if not msg_id:
            raise MalformedUpdate("A Zalo message event needs message.msg_id.")
        return [StoredUpdate(update_id=msg_id, payload=body)]

    def parse(self, connector: Connector, payload: dict) -> list[InboundEvent]:
        if payload.get("event_name") in RECEIPT_EVENTS:
            return _receipt(payload)
        sender_id = as_str(as_dict(payload.get("sender")).get("id"))
        message = as_dict(payload.get("message"))
        if not sender_id:
            raise MalformedUpdate("The event has no sender id.")
        if payload.get("event_name") == SUBMIT_INFO_EVENT:
            return _submitted_info(sender_id, payload)
        text = as_str(message.get("text"))
        attachments: list[IncomingFile] = []
        for number, item in enumerate(as_list(message.get("attachments"))):
            item = as_dict(item)
            content = as_dict(item.get("payload"))
            kind = as_str(item.get("type"))
            url = as_str(content.get("url"))
            coordinates = as_dict(content.get("coordinates"))
            if kind in ZALO_FILE_EXTENSIONS and urlsplit(url).scheme in ("https", "http"):
                attachments.append(_file(connector, kind, content, f"{as_str(message.get('msg_id'))}_{number}"))
            elif kind == "link" and url and url not in text:
                text = f"{text}\n{url}".strip()
            elif coordinates and not text:
                text = f"Location: {coordinates.get('latitude')}, {coordinates.get('longitude')}"
        if not (text or attachments):
            return []
        return [
            InboundEvent(
                kind="message", external_user_id=sender_id, source_message_id=as_str(message.get("msg_id")),
                text=text, files=attachments,
            )
        ]  # fmt: skip

    def download(self, connector: Connector, source_ref: dict, *, limit: int) -> DownloadedFile:
        """Zalo gives a CDN link that needs no token; the CDN declares the file's type."""
        return download_link(as_str(source_ref.get("url")), limit=limit)

    def complete_event(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> None:
        """Zalo events carry no name: read the follower's profile once, for a new client (C2 needs the name)."""
        if not self.needs_clients_name(connector, event, client_is_new=client_is_new):
            return
        try:
            with http_client() as http:
                response = http.get(
                    f"{provider_base('ZALO_API_BASE')}/v3.0/oa/user/detail",
                    params={"data": json.dumps({"user_id": event.external_user_id})},
                    headers={"access_token": connector.access_token},
                )
        except httpx.HTTPError as exc:
            logger.info("zalo connector %s: profile of %s not read: %s", connector.pk, event.external_user_id, exc)
            return
        event.client_name = as_str(as_dict(response_json(response).get("data")).get("display_name"))

    def send_text(self, connector: Connector, *, recipient_id: str, text: str) -> SendResult:
        return self._send_message(connector, recipient_id, {"text": text})

    def takes_caption(self, attachment: Attachment) -> bool:
        return is_image(attachment)  # a file attachment carries no text

    def file_refusal(self, attachment: Attachment) -> str:
        reason = super().file_refusal(attachment)
        if reason or is_image(attachment) or is_document(attachment):
            return reason
        return (
            f"Zalo lets an official account send only JPEG or PNG images and PDF or Word documents, "
            f"so {attachment.name} cannot be sent there."
        )

    def send_file(self, connector: Connector, *, recipient_id: str, attachment: Attachment, caption: str) -> SendResult:
        """1. Upload the file (an image gives an ``attachment_id``, a document a ``token``); 2. send it."""
        if is_image(attachment):
            uploaded = self._upload(connector, "image", attachment)
            element = {"media_type": "image", "attachment_id": as_str(uploaded.get("attachment_id"))}
            message: dict = {
                "attachment": {"type": "template", "payload": {"template_type": "media", "elements": [element]}}
            }
            if caption:
                message["text"] = caption
        else:
            uploaded = self._upload(connector, "file", attachment)
            message = {"attachment": {"type": "file", "payload": {"token": as_str(uploaded.get("token"))}}}
        return self._send_message(connector, recipient_id, message)

    def _upload(self, connector: Connector, kind: str, attachment: Attachment) -> dict:
        with file_upload(attachment) as upload:
            data = self._post(connector, f"/v2.0/oa/upload/{kind}", files={"file": upload})
        if not (as_str(data.get("attachment_id")) or as_str(data.get("token"))):
            raise DeliveryError(f"Zalo gave no reference for the uploaded {attachment.name}.", retryable=True)
        return data

    def _send_message(self, connector: Connector, recipient_id: str, message: dict) -> SendResult:
        """The customer-service message API: one message to one follower."""
        data = self._post(
            connector, "/v3.0/oa/message/cs", json={"recipient": {"user_id": recipient_id}, "message": message}
        )
        return SendResult(provider_message_id=as_str(data.get("message_id")))

    def _post(self, connector: Connector, path: str, *, json: dict | None = None, files: dict | None = None) -> dict:
        """POST to the OA API and return its ``data``; Zalo answers HTTP 200 with a non-zero ``error`` for refusals.

        A call refused for an invalid access token refreshes the token once
        (:mod:`~channels_app.connectors.zalo_tokens`) and is made again.
        """
        if not connector.access_token:
            raise DeliveryError("The connector has no OA access token.", retryable=False)
        response, data = self._call(connector, path, json=json, files=files)
        error = as_int(data.get("error"))
        if zalo_tokens.is_invalid_token(status_code=response.status_code, error=error) and zalo_tokens.can_refresh(
            connector
        ):
            connector.access_token = zalo_tokens.zalo_access_token_refresh(
                connector_id=connector.pk, now=timezone.now(), rejected_token=connector.access_token
            )
            for upload in (files or {}).values():
                upload[1].seek(0)  # the first call read the file to its end
            response, data = self._call(connector, path, json=json, files=files)
            error = as_int(data.get("error"))
        if response.status_code == 200 and error == 0:
            return as_dict(data.get("data"))
        description = as_str(data.get("message")) or f"HTTP {response.status_code}"
        raise DeliveryError(
            f"Zalo error {error if error is not None else response.status_code}: {description}",
            retryable=response.status_code >= 500 or response.status_code == 429 or error in RETRYABLE_ZALO_ERRORS,
            unreachable=response.status_code >= 500,
        )

    def _call(
        self, connector: Connector, path: str, *, json: dict | None, files: dict | None
    ) -> tuple[httpx.Response, dict]:
        try:
            with http_client() as http:
                response = http.post(
                    f"{provider_base('ZALO_API_BASE')}{path}",
                    headers={"access_token": connector.access_token},
                    json=json,
                    files=files,
                )
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        return response, response_json(response)

    def identify(self, connector: Connector) -> IdentityResult:
        """``GET /v2.0/oa/getoa`` with the OA access token: the Official Account, ``data: {"oa_id", "name"}``.
        Zalo answers refusals with HTTP 200 and a non-zero ``error``."""
        if not connector.access_token:
            return identity_missing(_("OA access token"))
        try:
            response = identity_get(
                f"{provider_base('ZALO_API_BASE')}/v2.0/oa/getoa", headers={"access_token": connector.access_token}
            )
        except IdentityError as exc:
            return IdentityResult(ok=False, detail=str(exc))
        data = response_json(response)
        error = as_int(data.get("error"))
        if response.status_code != 200 or error != 0:
            code = error if response.status_code == 200 and error is not None else response.status_code
            return identity_refused(code, as_str(data.get("message")) or response.reason_phrase)
        oa = as_dict(data.get("data"))
        detail = _("Connected to the Official Account %(name)s (id %(id)s).") % {
            "name": as_str(oa.get("name")),
            "id": as_str(oa.get("oa_id")),
        }
        return IdentityResult(ok=True, detail=detail)

    def register_webhook(self, connector: Connector, url: str) -> RegistrationResult:
        """O5: Zalo has no API for an app's webhook URL, so the result says exactly what to do by hand."""
        return RegistrationResult(
            ok=False,
            automatic=False,
            detail=_(
                "Zalo has no API for this; do it by hand once: in the Zalo for Developers dashboard, open the app "
                "of Official Account %(account)s, verify the domain of %(url)s (Domain verification), then under "
                "Webhook set the webhook URL to %(url)s and turn on the events %(events)s."
            )
            % {"account": connector.account_id, "url": url, "events": ", ".join((*CLIENT_EVENTS, SUBMIT_INFO_EVENT))},
        )


def is_image(attachment: Attachment) -> bool:
    return attachment.mime_type in IMAGE_TYPES or files.extension(attachment.name) in IMAGE_EXTENSIONS


def is_document(attachment: Attachment) -> bool:
    return attachment.mime_type in DOCUMENT_TYPES or files.extension(attachment.name) in DOCUMENT_EXTENSIONS


# Issue 15.5: the follower's Zalo received / saw the OA's messages ``message.msg_ids`` (no failure is reported).
RECEIPT_EVENTS = {"user_received_message": "delivered", "user_seen_message": "read"}


def _receipt_ids(body: dict) -> list[str]:
    return [value for value in (as_str(item) for item in as_list(as_dict(body.get("message")).get("msg_ids"))) if value]


def _receipt_update(event_name: str, body: dict) -> list[StoredUpdate]:
    """One update per receipt, keyed by its kind and the messages it names (a replay stores nothing); a receipt
    naming none is acknowledged and dropped."""
    ids = _receipt_ids(body)
    if not ids:
        return []
    return [StoredUpdate(update_id=f"{RECEIPT_EVENTS[event_name]}:{','.join(sorted(ids))}", payload=body)]


def _receipt(payload: dict) -> list[InboundEvent]:
    ids = _receipt_ids(payload)
    if not ids:
        raise MalformedUpdate("A Zalo receipt needs message.msg_ids.")
    return [
        InboundEvent(
            kind="receipt", external_user_id=as_str(as_dict(payload.get("recipient")).get("id")),
            source_message_id="", receipt_state=RECEIPT_EVENTS[as_str(payload.get("event_name"))], receipt_ids=ids,
        )
    ]  # fmt: skip


def _file(connector: Connector, kind: str, content: dict, fallback_id: str) -> IncomingFile:
    """One attachment with a file at ``payload.url``; files carry their name and size (sometimes as text)."""
    size = as_str(content.get("size"))
    return file_to_fetch(
        connector,
        name=as_str(content.get("name")) or f"{kind}_{fallback_id}{ZALO_FILE_EXTENSIONS[kind]}",
        mime_type="image/gif" if kind == "gif" else "",
        size=int(size) if size.isdigit() else None,
        kind_hint=files.STICKER if kind == "sticker" else "",
        source_ref={"url": as_str(content.get("url"))},
    )


def _submitted_info(sender_id: str, payload: dict) -> list[InboundEvent]:
    """``user_submit_info``: the details the follower shared from their Zalo profile (name, phone, address), shown
    as their message; the name and phone are the provider's, like a Telegram contact of the sender themselves."""
    info = as_dict(payload.get("info"))
    name, phone = as_str(info.get("name")).strip(), as_str(info.get("phone")).strip()
    place = ", ".join(
        part for part in (as_str(info.get(key)).strip() for key in ("address", "ward", "district", "city")) if part
    )
    shown = " · ".join(part for part in (name, phone, place) if part)
    if not shown:
        return []
    return [
        InboundEvent(
            kind="message",
            external_user_id=sender_id,
            source_message_id=f"submit_info:{sender_id}:{as_str(payload.get('timestamp'))}",
            text=f"Contact details: {shown}",
            client_name=name[:200],
            client_phone=phone if shared_details.typed_phone(phone) else "",
            text_typed=False,
        )
    ]
