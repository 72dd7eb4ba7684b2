"""Meta sources (S2): Facebook Messenger pages and the WhatsApp Cloud API.

Both share Meta's webhook rules:

- ``GET`` with ``hub.mode=subscribe`` and the connector's ``hub.verify_token``
  echoes ``hub.challenge`` (the dashboard's subscription check);
- every ``POST`` carries ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw
  body keyed by the app secret>``;
- one ``POST`` may batch several entries, each with several events; each
  message becomes its own stored update, keyed by the message id (``mid`` /
  ``wamid``), so a retried batch stores nothing twice.

A Meta app has one callback URL per object type, so one delivery may carry
events for several pages / phone numbers of the same app; ``account_id`` of
each :class:`~channels_app.connectors.base.StoredUpdate` lets the webhook file
them under the right connector.

References: Messenger Platform webhooks and Send API (files uploaded in the
send call as ``filedata``); WhatsApp Cloud API webhooks (``messages`` field),
``POST /{phone-number-id}/media`` (upload, gives a media id) and
``POST /{phone-number-id}/messages``.
"""

from __future__ import annotations

import json as jsonlib
import posixpath
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

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
    download_link,
    download_transport_error,
    file_to_fetch,
    file_too_large,
    file_upload,
    hmac_sha256_hex,
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
from channels_app.policy import files, shared_details

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Messenger attachment types that carry a file at payload.url (others: location, fallback links, templates).
MESSENGER_FILE_TYPES = ("image", "video", "audio", "file")
# WhatsApp message types that carry one media id.
WHATSAPP_MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
# Graph error codes that mean "try again later" (rate limits, temporary outages).
RETRYABLE_GRAPH_CODES = {1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 133004}


class MetaSource(Source):
    """What Messenger and WhatsApp share: subscription check, signature, Graph API errors."""

    object_name = ""

    def verify(self, connector: Connector, headers: Mapping[str, str], body: bytes) -> bool:
        given = headers.get(SIGNATURE_HEADER) or ""
        if not given.startswith("sha256=") or not connector.app_secret:
            return False
        return same_secret(given.removeprefix("sha256="), hmac_sha256_hex(connector.app_secret, body))

    def subscription_challenge(self, connector: Connector, params: Mapping[str, str]) -> str | None:
        """The challenge to echo when Meta's subscription check names our verify token, else ``None``."""
        if params.get("hub.mode") != "subscribe":
            return None
        if not same_secret(params.get("hub.verify_token"), connector.verify_token):
            return None
        return params.get("hub.challenge") or ""

    def extract_updates(self, connector: Connector, body: dict) -> list[StoredUpdate]:
        if body.get("object") != self.object_name:
            return []
        entries = body.get("entry")
        if not isinstance(entries, list):
            raise MalformedUpdate("A Meta webhook body needs an entry list.")
        updates: list[StoredUpdate] = []
        for entry in entries:
            updates.extend(self._entry_updates(as_dict(entry)))
        return updates

    def _entry_updates(self, entry: dict) -> list[StoredUpdate]:
        raise NotImplementedError

    def _subscribe_app(
        self, endpoint: str, *, params: dict | None = None, token: str = "", json: dict | None = None
    ) -> RegistrationResult:
        """POST a ``subscribed_apps`` edge; Graph answers ``{"success": true}``."""
        try:
            data = self._graph_post(endpoint, json=json or {}, params=params, token=token)
        except DeliveryError as exc:
            return RegistrationResult(ok=False, detail=_("Meta refused the subscription: %(error)s") % {"error": exc})
        if data.get("success") is not True:
            return RegistrationResult(
                ok=False, detail=_("Meta did not confirm the subscription: %(answer)s") % {"answer": data}
            )
        return RegistrationResult(ok=True, detail="")

    def _graph_identity(self, path: str, *, token: str, fields: str) -> tuple[dict, IdentityResult | None]:
        """GET a Graph object with ``token``: its fields, or the result that says why there are none."""
        try:
            response = identity_get(
                f"{provider_base('META_GRAPH_API_BASE')}/{path}",
                params={"fields": fields},
                headers={"Authorization": f"Bearer {token}"},
            )
        except IdentityError as exc:
            return {}, IdentityResult(ok=False, detail=str(exc))
        data = response_json(response)
        error = as_dict(data.get("error"))
        if response.status_code >= 400 or error or not data:
            reason = as_str(error.get("message")) or response.reason_phrase
            return {}, identity_refused(response.status_code, reason)
        return data, None

    def _graph_post(
        self,
        url: str,
        *,
        json: dict | None = None,
        params: dict | None = None,
        token: str = "",
        form: dict | None = None,
        files: dict | None = None,
    ) -> dict:
        """POST to the Graph API as JSON, or as multipart/form-data when ``files`` (with ``form`` fields) are given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with http_client() as http:
                if files:
                    response = http.post(url, data=form, files=files, params=params, headers=headers)
                else:
                    response = http.post(url, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from None
        return _graph_result(response)


class MessengerSource(MetaSource):
    kinds = (ConnectorKind.FACEBOOK,)
    object_name = "page"
    max_text_length = 2000
    asks_for_new_clients_name = True

    def _entry_updates(self, entry: dict) -> list[StoredUpdate]:
        updates = []
        for event in as_list(entry.get("messaging")):
            event = as_dict(event)
            page_id = as_str(as_dict(event.get("recipient")).get("id")) or as_str(entry.get("id"))
            message = as_dict(event.get("message"))
            edit = as_dict(event.get("message_edit"))
            postback = as_dict(event.get("postback"))
            # Echoes are our own outbound messages coming back.
            if message and message.get("is_echo") is not True and as_str(message.get("mid")):
                # An unsent message comes back with the same mid and ``is_deleted``: a separate update.
                prefix = "delete:" if message.get("is_deleted") is True else ""
                updates.append(
                    StoredUpdate(
                        update_id=f"{prefix}{as_str(message['mid'])}", payload={"event": event}, account_id=page_id
                    )
                )
            elif postback:
                # A pressed button (a chatbot's, the page's menu, "Get started"). Older deliveries carry no mid.
                sender_id = as_str(as_dict(event.get("sender")).get("id"))
                update_id = as_str(postback.get("mid")) or f"postback:{sender_id}:{as_int(event.get('timestamp')) or 0}"
                updates.append(StoredUpdate(update_id=update_id, payload={"event": event}, account_id=page_id))
            elif edit and as_str(edit.get("mid")):
                update_id = f"edit:{as_str(edit['mid'])}:{as_int(edit.get('num_edit')) or 0}"
                updates.append(StoredUpdate(update_id=update_id, payload={"event": event}, account_id=page_id))
            else:
                receipt = _messenger_receipt_update(event, page_id)
                if receipt is not None:
                    updates.append(receipt)
        return updates

    def parse(self, connector: Connector, payload: dict) -> list[InboundEvent]:
        event = as_dict(payload.get("event"))
        sender_id = as_str(as_dict(event.get("sender")).get("id"))
        edit = as_dict(event.get("message_edit"))
        if not sender_id:
            raise MalformedUpdate("The event has no sender id.")
        for field_name, state in MESSENGER_RECEIPTS.items():
            if field_name in event:
                return _messenger_receipt(sender_id, state, as_dict(event.get(field_name)))
        if edit:
            return [
                InboundEvent(
                    kind="edit", external_user_id=sender_id, source_message_id=as_str(edit.get("mid")),
                    text=as_str(edit.get("text")),
                )
            ]  # fmt: skip
        postback = as_dict(event.get("postback"))
        if postback and not event.get("message"):
            return _messenger_postback(sender_id, event, postback)
        message = as_dict(event.get("message"))
        if message.get("is_deleted") is True:
            # Meta's unsend: the message, by its mid, marked ``is_deleted`` (documented for Instagram messaging).
            return [
                InboundEvent(kind="delete", external_user_id=sender_id, source_message_id=as_str(message.get("mid")))
            ]
        attachments = [
            item
            for item in (_messenger_file(connector, as_dict(a)) for a in as_list(message.get("attachments")))
            if item is not None
        ]
        text = as_str(message.get("text"))
        # R1: a tap on a rating quick reply carries our token; the visible text is the translated label.
        quick_reply = as_str(as_dict(message.get("quick_reply")).get("payload"))
        pressed_rating = quick_reply if quick_reply in RATING_TOKENS else ""
        text = pressed_rating or text
        if not (text or attachments):
            return []
        event_out = InboundEvent(
            kind="message", external_user_id=sender_id, source_message_id=as_str(message.get("mid")),
            text=text, files=attachments, pressed_rating=pressed_rating,
            pressed_consent=quick_reply == CONSENT_TOKEN,  # A1: the title is the label, kept as the text
        )  # fmt: skip
        if quick_reply and not pressed_rating and quick_reply != CONSENT_TOKEN:
            event_out.button_payload = quick_reply
            # Messenger's e-mail and phone quick replies post the person's own address or number (from their
            # profile) as both the title and the payload: the provider's, like a phone WhatsApp gives.
            if quick_reply == text and shared_details.typed_email(quick_reply) == quick_reply:
                event_out.client_email = quick_reply
            elif quick_reply == text and shared_details.typed_phone(quick_reply) == quick_reply:
                event_out.client_phone = quick_reply
        return [event_out]

    def download(self, connector: Connector, source_ref: dict, *, limit: int) -> DownloadedFile:
        """Messenger gives a CDN link that needs no token; the CDN declares the file's type."""
        return download_link(as_str(source_ref.get("url")), limit=limit)

    def complete_event(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> None:
        """Messenger bodies carry no name: ask the User Profile API once, for a new client (C2 needs the name)."""
        if not self.needs_clients_name(connector, event, client_is_new=client_is_new):
            return
        url = f"{provider_base('META_GRAPH_API_BASE')}/{event.external_user_id}"
        params = {"fields": "first_name,last_name", "access_token": connector.access_token}
        try:
            with http_client() as http:
                data = response_json(http.get(url, params=params))
        except httpx.HTTPError as exc:
            logger.info("facebook connector %s: profile of %s not read: %s", connector.pk, event.external_user_id, exc)
            return
        event.client_name = " ".join(p for p in (as_str(data.get("first_name")), as_str(data.get("last_name"))) if p)

    def send_text(self, connector: Connector, *, recipient_id: str, text: str) -> SendResult:
        return self._send_message(connector, recipient_id, {"text": text})

    def send_file(self, connector: Connector, *, recipient_id: str, attachment: Attachment, caption: str) -> SendResult:
        """Send API with the file uploaded in the same call (``filedata``); a Messenger file carries no text, so
        :meth:`delivery_parts` sends the text first (``max_caption_length`` is 0)."""
        if not connector.access_token:
            raise DeliveryError("The connector has no page access token.", retryable=False)
        message = {"attachment": {"type": messenger_attachment_type(attachment), "payload": {"is_reusable": False}}}
        with file_upload(attachment) as upload:
            data = self._graph_post(
                f"{provider_base('META_GRAPH_API_BASE')}/{connector.account_id}/messages",
                params={"access_token": connector.access_token},
                form={
                    "recipient": jsonlib.dumps({"id": recipient_id}),
                    "messaging_type": "RESPONSE",
                    "message": jsonlib.dumps(message),
                },
                files={"filedata": upload},
            )
        return SendResult(provider_message_id=as_str(data.get("message_id")))

    def send_rating_request(
        self, connector: Connector, *, recipient_id: str, text: str, buttons: list[tuple[str, str]]
    ) -> SendResult:
        """R1: the rating request with quick replies (a title holds at most 20 characters)."""
        quick_replies = [{"content_type": "text", "title": label[:20], "payload": token} for token, label in buttons]
        return self._send_message(connector, recipient_id, {"text": text, "quick_replies": quick_replies})

    def _send_message(self, connector: Connector, recipient_id: str, message: dict) -> SendResult:
        """Send API: one message to one page-scoped user."""
        if not connector.access_token:
            raise DeliveryError("The connector has no page access token.", retryable=False)
        data = self._graph_post(
            f"{provider_base('META_GRAPH_API_BASE')}/{connector.account_id}/messages",
            params={"access_token": connector.access_token},
            json={"recipient": {"id": recipient_id}, "messaging_type": "RESPONSE", "message": message},
        )
        return SendResult(provider_message_id=as_str(data.get("message_id")))

    # The page webhook fields _entry_updates reads: messages (quick replies ride in them), their edits, pressed
    # postback buttons (issue 15.9) and the receipts of ours (issue 15.5).
    subscribed_fields = "messages,message_edits,messaging_postbacks,message_deliveries,message_reads"

    def identify(self, connector: Connector) -> IdentityResult:
        """Graph ``GET /me`` with the page access token: the page it belongs to, ``{"id", "name"}``."""
        if not connector.access_token:
            return identity_missing(_("page access token"))
        page, failure = self._graph_identity("me", token=connector.access_token, fields="id,name")
        if failure is not None:
            return failure
        detail = _("Connected to the page %(name)s (id %(id)s).") % {
            "name": as_str(page.get("name")),
            "id": as_str(page.get("id")),
        }
        if as_str(page.get("id")) and as_str(page.get("id")) != connector.account_id:
            return IdentityResult(
                ok=False,
                detail=detail
                + " "
                + _("The token belongs to another page than the page id entered here (%(account)s).")
                % {"account": connector.account_id},
            )
        return IdentityResult(ok=True, detail=detail)

    def register_webhook(self, connector: Connector, url: str) -> RegistrationResult:
        """O5: subscribe the page to the app for the fields we read (``POST /{page-id}/subscribed_apps`` with
        the page token). A page's deliveries go to the app's one callback URL, which Meta lets only the app
        set, so the detail names the URL and verify token the app must have."""
        if not connector.access_token:
            return RegistrationResult(
                ok=False, automatic=False, detail=_("Enter the page access token and save the connector again.")
            )
        result = self._subscribe_app(
            f"{provider_base('META_GRAPH_API_BASE')}/{connector.account_id}/subscribed_apps",
            params={"subscribed_fields": self.subscribed_fields, "access_token": connector.access_token},
        )
        if not result.ok:
            return result
        return RegistrationResult(
            ok=True,
            detail=_(
                "The page is subscribed to the app for %(fields)s. In the Meta app dashboard (Webhooks, object "
                "Page) the callback URL must be %(url)s with the verify token %(token)s."
            )
            % {"fields": self.subscribed_fields, "url": url, "token": connector.verify_token},
        )


class WhatsAppSource(MetaSource):
    kinds = (ConnectorKind.WHATSAPP,)
    object_name = "whatsapp_business_account"
    max_text_length = 4096
    max_caption_length = 1024

    def _entry_updates(self, entry: dict) -> list[StoredUpdate]:
        updates = []
        for change in as_list(entry.get("changes")):
            change = as_dict(change)
            if change.get("field") != "messages":
                continue
            value = as_dict(change.get("value"))
            metadata = as_dict(value.get("metadata"))
            contacts = as_list(value.get("contacts"))
            # Receipts of our own messages (issue 15.5): one update per message and state, so a retried batch
            # stores nothing twice. "sent" is ours already (the send call's answer) and is not stored.
            for status in as_list(value.get("statuses")):
                status = as_dict(status)
                wamid, state = as_str(status.get("id")), as_str(status.get("status"))
                if wamid and state in WHATSAPP_RECEIPTS:
                    updates.append(
                        StoredUpdate(
                            update_id=f"status:{wamid}:{state}",
                            payload={"status": status, "metadata": metadata},
                            account_id=as_str(metadata.get("phone_number_id")),
                        )
                    )
            for message in as_list(value.get("messages")):
                message = as_dict(message)
                if as_str(message.get("id")):
                    updates.append(
                        StoredUpdate(
                            update_id=as_str(message["id"]),
                            payload={"message": message, "contacts": contacts, "metadata": metadata},
                            account_id=as_str(metadata.get("phone_number_id")),
                        )
                    )
        return updates

    def parse(self, connector: Connector, payload: dict) -> list[InboundEvent]:
        if "status" in payload:
            return _whatsapp_receipt(as_dict(payload.get("status")))
        message = as_dict(payload.get("message"))
        wa_id = as_str(message.get("from"))
        if not wa_id:
            raise MalformedUpdate("The message has no sender.")
        kind = as_str(message.get("type"))
        text, attachments = _whatsapp_content(connector, kind, message)
        if not (text or attachments):
            return []
        name = ""
        for contact in as_list(payload.get("contacts")):
            contact = as_dict(contact)
            if as_str(contact.get("wa_id")) == wa_id:
                name = as_str(as_dict(contact.get("profile")).get("name"))
        return [
            InboundEvent(
                kind="message",
                external_user_id=wa_id,
                source_message_id=as_str(message.get("id")),
                text=text,
                files=attachments,
                client_name=name,
                pressed_rating=_whatsapp_pressed_rating(kind, message),
                pressed_consent=_whatsapp_button_id(kind, message) == CONSENT_TOKEN,
                # A WhatsApp id is the phone number in international form without the plus (C1 looks it up).
                client_phone=f"+{wa_id}" if wa_id.isdigit() else "",
                client_email=_whatsapp_own_card_email(kind, message, wa_id),
                button_payload=_whatsapp_button_payload(kind, message),
                text_typed=kind == "text" or kind in WHATSAPP_MEDIA_TYPES,  # a caption is typed too
            )
        ]

    def download(self, connector: Connector, source_ref: dict, *, limit: int) -> DownloadedFile:
        """Media arrive as ids: 1. Graph ``GET /{media-id}`` gives a URL (valid for minutes), the type and the
        size; 2. that URL gives the bytes, with the same bearer token."""
        media_id = as_str(source_ref.get("media_id"))
        if not media_id:
            raise DownloadError(_("The message names no WhatsApp media."), retryable=False)
        if not connector.access_token:
            raise DownloadError(_("The connector has no WhatsApp access token."), retryable=False)
        headers = {"Authorization": f"Bearer {connector.access_token}"}
        with http_client() as http:
            try:
                response = http.get(f"{provider_base('META_GRAPH_API_BASE')}/{media_id}", headers=headers)
            except httpx.HTTPError as exc:
                raise download_transport_error(exc) from None
            try:
                info = _graph_result(response)
            except DeliveryError as exc:
                raise DownloadError(
                    _("WhatsApp did not hand over the file: %(reason)s") % {"reason": exc}, retryable=exc.retryable
                ) from None
            media_url = as_str(info.get("url"))
            if not media_url:
                raise DownloadError(_("WhatsApp gave no link to the file."), retryable=False)
            declared_size = as_int(info.get("file_size"))
            if declared_size is not None and declared_size > limit:
                raise file_too_large(limit)
            downloaded = download_capped(http, media_url, limit=limit, headers=headers)
        return DownloadedFile(downloaded.content, mime_type=as_str(info.get("mime_type")) or downloaded.mime_type)

    def send_text(self, connector: Connector, *, recipient_id: str, text: str) -> SendResult:
        return self._send_message(
            connector, recipient_id, {"type": "text", "text": {"preview_url": False, "body": text}}
        )

    def takes_caption(self, attachment: Attachment) -> bool:
        return whatsapp_media_type(attachment) != "audio"  # audio messages have no caption

    def send_file(self, connector: Connector, *, recipient_id: str, attachment: Attachment, caption: str) -> SendResult:
        """1. Upload the file to the number's media (``/media`` gives a media id); 2. send a message of the
        matching type naming that id, with the caption (not on audio) and, for a document, its file name."""
        if not connector.access_token:
            raise DeliveryError("The connector has no WhatsApp access token.", retryable=False)
        media_type = whatsapp_media_type(attachment)
        with file_upload(attachment) as upload:
            uploaded = self._graph_post(
                f"{provider_base('META_GRAPH_API_BASE')}/{connector.account_id}/media",
                token=connector.access_token,
                form={"messaging_product": "whatsapp", "type": upload[2]},
                files={"file": upload},
            )
        media_id = as_str(uploaded.get("id"))
        if not media_id:
            raise DeliveryError(f"WhatsApp gave no media id for {attachment.name}.", retryable=True)
        media: dict[str, str] = {"id": media_id}
        if caption and media_type != "audio":
            media["caption"] = caption
        if media_type == "document":
            media["filename"] = attachment.name  # the client sees the name the operator's file had
        return self._send_message(connector, recipient_id, {"type": media_type, media_type: media})

    def send_template(self, connector: Connector, *, recipient_id: str, template: dict) -> SendResult:
        """S2: a template message (Cloud API ``type: template``): its approved name and language, and the
        parameters in the body component's order (a template without placeholders sends no component)."""
        body: dict[str, Any] = {"name": template["name"], "language": {"code": template["language"]}}
        if template["parameters"]:
            body["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": text} for text in template["parameters"]]}
            ]
        return self._send_message(connector, recipient_id, {"type": "template", "template": body})

    def send_rating_request(
        self, connector: Connector, *, recipient_id: str, text: str, buttons: list[tuple[str, str]]
    ) -> SendResult:
        """R1: the rating request as interactive reply buttons (a title holds at most 20 characters)."""
        interactive = {
            "type": "button",
            "body": {"text": text},
            "action": {
                "buttons": [{"type": "reply", "reply": {"id": token, "title": label[:20]}} for token, label in buttons]
            },
        }
        return self._send_message(connector, recipient_id, {"type": "interactive", "interactive": interactive})

    def _send_message(self, connector: Connector, recipient_id: str, message: dict) -> SendResult:
        """Cloud API: one message to one WhatsApp user; ``message`` carries its type and body."""
        if not connector.access_token:
            raise DeliveryError("The connector has no WhatsApp access token.", retryable=False)
        data = self._graph_post(
            f"{provider_base('META_GRAPH_API_BASE')}/{connector.account_id}/messages",
            token=connector.access_token,
            json={"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient_id, **message},
        )
        messages = [as_dict(m) for m in as_list(data.get("messages"))]
        return SendResult(provider_message_id=as_str(messages[0].get("id")) if messages else "")

    def identify(self, connector: Connector) -> IdentityResult:
        """Graph ``GET /{phone-number-id}`` with the access token: the number and its verified business name."""
        if not connector.access_token:
            return identity_missing(_("access token"))
        number, failure = self._graph_identity(
            connector.account_id, token=connector.access_token, fields="display_phone_number,verified_name"
        )
        if failure is not None:
            return failure
        return IdentityResult(
            ok=True,
            detail=_("Connected to %(number)s (%(name)s).")
            % {"number": as_str(number.get("display_phone_number")), "name": as_str(number.get("verified_name"))},
        )

    def register_webhook(self, connector: Connector, url: str) -> RegistrationResult:
        """O5: subscribe the app to the business account with our URL as its callback
        (``POST /{waba-id}/subscribed_apps`` with ``override_callback_uri`` and ``verify_token``, Cloud API
        webhook overrides); Meta checks the URL with our verify token before it answers."""
        if not connector.business_account_id or not connector.access_token:
            return RegistrationResult(
                ok=False,
                automatic=False,
                detail=_("Enter the WhatsApp Business Account id and the access token and save the connector again."),
            )
        result = self._subscribe_app(
            f"{provider_base('META_GRAPH_API_BASE')}/{connector.business_account_id}/subscribed_apps",
            token=connector.access_token,
            json={"override_callback_uri": url, "verify_token": connector.verify_token},
        )
        if not result.ok:
            return result
        return RegistrationResult(
            ok=True,
            detail=_("The app is subscribed to business account %(account)s with the callback URL %(url)s.")
            % {"account": connector.business_account_id, "url": url},
        )


# The types WhatsApp plays or shows as such (Cloud API "supported media types"); others go as documents.
WHATSAPP_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
WHATSAPP_AUDIO_TYPES = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
WHATSAPP_VIDEO_TYPES = frozenset({"video/mp4", "video/3gpp"})
MESSENGER_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})


# --- Receipts of our own messages (issue 15.5) ---------------------------------------------------------------

# Messenger's message_deliveries and message_reads events: the field that carries each, and the state it reports.
MESSENGER_RECEIPTS = {"delivery": "delivered", "read": "read"}
# WhatsApp statuses stored as receipts ("sent" only repeats the send call's answer).
WHATSAPP_RECEIPTS = ("delivered", "read", "failed")


def _messenger_receipt_update(event: dict, page_id: str) -> StoredUpdate | None:
    """A delivery or read event as an update keyed by the client and its watermark (a replay stores nothing)."""
    sender_id = as_str(as_dict(event.get("sender")).get("id"))
    for field_name in MESSENGER_RECEIPTS:
        receipt = as_dict(event.get(field_name))
        watermark = as_int(receipt.get("watermark"))
        if sender_id and watermark is not None:
            return StoredUpdate(
                update_id=f"{field_name}:{sender_id}:{watermark}", payload={"event": event}, account_id=page_id
            )
    return None


def _messenger_receipt(sender_id: str, state: str, receipt: dict) -> list[InboundEvent]:
    """``delivery``: ``mids`` (when present) and ``watermark``; ``read``: ``watermark`` (milliseconds): every
    message to this client sent before it."""
    watermark = as_int(receipt.get("watermark"))
    if watermark is None or watermark <= 0:
        raise MalformedUpdate("A Messenger receipt needs a watermark.")
    try:
        up_to = datetime.fromtimestamp(watermark / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedUpdate("The receipt's watermark is not a time.") from None
    ids = [mid for mid in (as_str(item) for item in as_list(receipt.get("mids"))) if mid]
    return [
        InboundEvent(
            kind="receipt", external_user_id=sender_id, source_message_id="",
            receipt_state=state, receipt_ids=ids, receipt_up_to=up_to,
        )
    ]  # fmt: skip


def _whatsapp_receipt(status: dict) -> list[InboundEvent]:
    """A WhatsApp status of one of our messages; ``failed`` carries ``errors`` (code, title, message, details)."""
    wamid, state = as_str(status.get("id")), as_str(status.get("status"))
    if not wamid or state not in WHATSAPP_RECEIPTS:
        raise MalformedUpdate("A WhatsApp status needs a message id and a state.")
    return [
        InboundEvent(
            kind="receipt", external_user_id=as_str(status.get("recipient_id")), source_message_id=wamid,
            receipt_state=state, receipt_ids=[wamid],
            receipt_error=_whatsapp_error_reason(as_list(status.get("errors"))) if state == "failed" else "",
        )
    ]  # fmt: skip


def _whatsapp_error_reason(errors: list) -> str:
    """WhatsApp's reason in its own words: the details, else the message, else the title, with the code."""
    reasons = []
    for error in errors:
        error = as_dict(error)
        words = (
            as_str(as_dict(error.get("error_data")).get("details"))
            or as_str(error.get("message"))
            or as_str(error.get("title"))
        )
        code = as_int(error.get("code"))
        if words or code is not None:
            reasons.append(f"{words} ({code})" if words and code is not None else words or f"({code})")
    return "; ".join(reasons)


def whatsapp_media_type(attachment: Attachment) -> str:
    """The Cloud API message type that carries this file: image, audio, video or document."""
    if attachment.mime_type in WHATSAPP_IMAGE_TYPES:
        return "image"
    if attachment.mime_type in WHATSAPP_AUDIO_TYPES:
        return "audio"
    if attachment.mime_type in WHATSAPP_VIDEO_TYPES:
        return "video"
    return "document"


def messenger_attachment_type(attachment: Attachment) -> str:
    """The Send API attachment type: image, audio, video, or file for anything else (a TIFF, say)."""
    if attachment.mime_type in MESSENGER_IMAGE_TYPES:
        return "image"
    if attachment.kind in (AttachmentKind.AUDIO, AttachmentKind.VOICE):
        return "audio"
    if attachment.kind == AttachmentKind.VIDEO:
        return "video"
    return "file"


def _messenger_file(connector: Connector, item: dict) -> IncomingFile | None:
    """One Messenger attachment with a file at ``payload.url`` (a sticker is an image with a ``sticker_id``)."""
    kind = as_str(item.get("type"))
    payload = as_dict(item.get("payload"))
    url = as_str(payload.get("url"))
    if kind not in MESSENGER_FILE_TYPES or urlsplit(url).scheme not in ("https", "http"):
        return None
    name = unquote(posixpath.basename(urlsplit(url).path)) or kind
    return file_to_fetch(
        connector,
        name=name,
        kind_hint=files.STICKER if payload.get("sticker_id") else "",
        source_ref={"url": url},
    )


def _messenger_postback(sender_id: str, event: dict, postback: dict) -> list[InboundEvent]:
    """A pressed postback button: the client's message, its title as the text and its payload as the data."""
    title, payload = as_str(postback.get("title")), as_str(postback.get("payload"))
    if not (title or payload):
        return []
    source_message_id = as_str(postback.get("mid")) or f"postback:{sender_id}:{as_int(event.get('timestamp')) or 0}"
    return [
        InboundEvent(
            kind="message", external_user_id=sender_id, source_message_id=source_message_id,
            text=title or payload, button_payload=payload,
        )
    ]  # fmt: skip


def _whatsapp_button_payload(kind: str, message: dict) -> str | None:
    """A pressed button's data: a reply button's or a list row's id, a template quick reply's payload; None for
    a typed message and for our own rating and consent buttons (R1, A1), which are read apart."""
    if kind == "button":
        return as_str(as_dict(message.get("button")).get("payload"))
    if kind != "interactive":
        return None
    interactive = as_dict(message.get("interactive"))
    reply = as_dict(interactive.get("button_reply")) or as_dict(interactive.get("list_reply"))
    if not reply:
        return None
    payload = as_str(reply.get("id"))
    return None if payload in (*RATING_TOKENS, CONSENT_TOKEN) else payload


def _whatsapp_own_card_email(kind: str, message: dict, wa_id: str) -> str:
    """The e-mail on a contact card the client shared of themselves (a phone of the card is their WhatsApp
    number); a card of someone else gives nothing (it is shown in the message only)."""
    if kind != "contacts":
        return ""
    for card in as_list(message.get("contacts")):
        card = as_dict(card)
        if any(as_str(as_dict(phone).get("wa_id")) == wa_id for phone in as_list(card.get("phones"))):
            for item in as_list(card.get("emails")):
                email = as_str(as_dict(item).get("email")).strip()
                if shared_details.typed_email(email) == email:
                    return email
    return ""


def _whatsapp_pressed_rating(kind: str, message: dict) -> str:
    """R1: the token of our rating reply button the client pressed ("" for anything else)."""
    token = _whatsapp_button_id(kind, message)
    return token if token in RATING_TOKENS else ""


def _whatsapp_button_id(kind: str, message: dict) -> str:
    """The id of the reply button the client pressed ("" for any other message)."""
    if kind != "interactive":
        return ""
    return as_str(as_dict(as_dict(message.get("interactive")).get("button_reply")).get("id"))


def _whatsapp_content(connector: Connector, kind: str, message: dict) -> tuple[str, list[IncomingFile]]:
    """Text and files of one WhatsApp message by its ``type``; unknown types give nothing."""
    body = as_dict(message.get(kind))
    if kind == "text":
        return as_str(body.get("body")), []
    if kind in WHATSAPP_MEDIA_TYPES:
        media_id = as_str(body.get("id"))
        if not media_id:
            return as_str(body.get("caption")), []
        hint = files.STICKER if kind == "sticker" else files.VOICE if body.get("voice") is True else ""
        media = file_to_fetch(
            connector,
            name=as_str(body.get("filename")) or f"{kind}_{media_id}",
            mime_type=as_str(body.get("mime_type")),
            kind_hint=hint,
            source_ref={"media_id": media_id},
        )
        return as_str(body.get("caption")), [media]
    if kind == "location":
        label = " ".join(p for p in (as_str(body.get("name")), as_str(body.get("address"))) if p)
        return f"Location: {body.get('latitude')}, {body.get('longitude')} {label}".strip(), []
    if kind == "button":
        return as_str(body.get("text")) or as_str(body.get("payload")), []
    if kind == "contacts":
        cards = [as_dict(card) for card in as_list(message.get("contacts"))]
        shown = []
        for card in cards:
            name = as_str(as_dict(card.get("name")).get("formatted_name"))
            phones = [as_str(as_dict(p).get("phone")) for p in as_list(card.get("phones"))]
            emails = [as_str(as_dict(e).get("email")) for e in as_list(card.get("emails"))]
            shown.append(" ".join(part for part in (name, *phones, *emails) if part))
        text = "; ".join(line for line in shown if line)
        return (f"Contact: {text}" if text else ""), []
    if kind == "interactive":
        reply = as_dict(body.get("button_reply")) or as_dict(body.get("list_reply"))
        # R1: our rating buttons carry the token as their id; the title is the translated label.
        if as_str(reply.get("id")) in RATING_TOKENS:
            return as_str(reply.get("id")), []
        return as_str(reply.get("title")), []
    return "", []


def _graph_result(response: httpx.Response) -> dict:
    """The Graph API's answer, or a :class:`DeliveryError` built from its ``error`` object."""
    data = response_json(response)
    error = as_dict(data.get("error"))
    if response.status_code < 400 and not error:
        return data
    code = as_int(error.get("code"))
    message = as_str(error.get("message")) or f"HTTP {response.status_code}"
    retryable = (
        response.status_code >= 500
        or response.status_code == 429
        or error.get("is_transient") is True
        or code in RETRYABLE_GRAPH_CODES
    )
    raise DeliveryError(
        f"Graph API error {code or response.status_code}: {message}",
        retryable=retryable,
        unreachable=response.status_code >= 500,
    )
