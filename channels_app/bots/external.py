"""The external bot over HTTP (B1, B2): signed events out, answers back in the response or over the REST API.

For every client message of a conversation it holds, the bot's ``endpoint_url``
receives a POST whose body is a JSON event (see :func:`message_event`), with:

* ``X-Bot-Signature: sha256=<hex>``: HMAC-SHA256 of the raw body keyed by the
  chatbot's signing secret (check it with :func:`verify_signature`);
* ``X-Bot-Timestamp: <unix seconds>``: the same value as the signed body's
  ``sent_at``. A bot rejects an event whose header and body disagree or
  whose timestamp is more than a few minutes old, so a captured event cannot
  be replayed later; ``event_id`` lets it drop a delivery it has seen (events
  are delivered at least once).

The bot may answer in its HTTP response (2xx) with
``{"texts": ["…"], "handover": false, "reason": ""}`` (every key optional), or
with an empty body and answer later through ``POST /api/bots/conversations/<id>/messages/``
and ``…/handover/`` (``Authorization: Bearer <API token>``). An answer that
does not arrive within ``timeout_seconds``, a non-2xx status, a connection
error or an answer of the wrong shape is a failure: the conversation is
handed over to the operators (B1 "or fails"). So is a URL whose host is, or
resolves to, an address that is not public (issue 13,
:mod:`channels_app.bots.outbound`): the event is not sent at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime

import httpx
from django.conf import settings
from django.urls import reverse

from channels_app.bots.base import Bot, BotFailure, BotReply, register
from channels_app.bots.outbound import checked_destination
from channels_app.engine.file_links import attachment_payloads
from channels_app.models import MESSAGE_TEXT_MAX_LENGTH, Chatbot, Conversation, Message
from channels_app.web import JSONTooDeep, loads_untrusted_json

SIGNATURE_HEADER = "X-Bot-Signature"
TIMESTAMP_HEADER = "X-Bot-Timestamp"
EVENT_HEADER = "X-Bot-Event"
MESSAGE_EVENT = "message.created"
MAX_ANSWER_BYTES = 64 * 1024
MAX_TEXTS_PER_ANSWER = 10
MAX_REASON_LENGTH = 100


def sign(secret: str, body: bytes) -> str:
    """The ``X-Bot-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """What a bot does with an event: compare the signature in constant time."""
    return hmac.compare_digest(sign(secret, body), signature or "")


def message_event(*, chatbot: Chatbot, conversation: Conversation, message: Message, now: datetime) -> dict:
    """The event a bot receives for one client message."""
    channel = conversation.open_channel
    return {
        "type": MESSAGE_EVENT,
        "event_id": f"message-{message.pk}",
        "sent_at": int(now.timestamp()),
        "chatbot": {"id": chatbot.pk, "name": chatbot.name},
        "conversation": {
            "id": conversation.pk,
            "status": conversation.status,
            "language": channel.language,
            "open_channel": {"id": channel.pk, "name": channel.name},
            "source": conversation.connector.kind,
            "started_at": conversation.created_at.isoformat(),
            "client": {"id": conversation.client_id, "name": conversation.client.name},
        },
        "message": {
            "id": message.pk,
            "text": message.text,
            "attachments": attachment_payloads(message),
            "created_at": message.created_at.isoformat(),
            # A button the client pressed: {"payload": its data} (``text`` is its title); null when typed.
            "button": message.button,
        },
        "api": {
            "reply_url": settings.SITE_URL + reverse("bot-api-messages", args=[conversation.pk]),
            "handover_url": settings.SITE_URL + reverse("bot-api-handover", args=[conversation.pk]),
        },
    }


def parse_answer(status_code: int, body: bytes) -> BotReply:
    """The bot's HTTP answer as a :class:`BotReply`; :class:`BotFailure` when it is an error or malformed."""
    if not 200 <= status_code < 300:
        raise BotFailure(f"the bot answered HTTP {status_code}")
    if not body.strip():
        return BotReply()  # it will answer through the REST API
    try:
        answer = loads_untrusted_json(body)
    except JSONTooDeep:
        raise BotFailure("the bot's answer is nested too deeply") from None
    except ValueError:  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
        raise BotFailure("the bot's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise BotFailure("the bot's answer is not a JSON object")
    texts = answer.get("texts", [])
    if not isinstance(texts, list) or not all(isinstance(text, str) and text.strip() for text in texts):
        raise BotFailure("“texts” must be a list of non-empty strings")
    if len(texts) > MAX_TEXTS_PER_ANSWER:
        raise BotFailure(f"at most {MAX_TEXTS_PER_ANSWER} texts per answer")
    if any(len(text.strip()) > MESSAGE_TEXT_MAX_LENGTH for text in texts):
        raise BotFailure(f"a text is longer than {MESSAGE_TEXT_MAX_LENGTH} characters")
    handover = answer.get("handover", False)
    if not isinstance(handover, bool):
        raise BotFailure("“handover” must be true or false")
    reason = answer.get("reason", "")
    if not isinstance(reason, str):
        raise BotFailure("“reason” must be a string")
    return BotReply(
        texts=tuple(text.strip() for text in texts),
        handover=handover,
        reason=reason.strip()[:MAX_REASON_LENGTH] or ("the bot handed over" if handover else ""),
    )


@register
class ExternalBot(Bot):
    kind = Chatbot.Kind.EXTERNAL
    calls_out = True

    def handle(self, conversation: Conversation, message: Message, *, now: datetime) -> BotReply:
        chatbot = self.chatbot
        if not chatbot.endpoint_url:
            raise BotFailure("the bot has no URL")
        event = message_event(chatbot=chatbot, conversation=conversation, message=message, now=now)
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "open-channels-contact-center",
            SIGNATURE_HEADER: sign(chatbot.signing_secret, body),
            TIMESTAMP_HEADER: str(event["sent_at"]),
            EVENT_HEADER: MESSAGE_EVENT,
        }
        status_code, answer = self._post(chatbot.endpoint_url, body, headers, chatbot.timeout_seconds)
        return parse_answer(status_code, answer)

    @staticmethod
    def _post(url: str, body: bytes, headers: dict[str, str], timeout_seconds: int) -> tuple[int, bytes]:
        destination = checked_destination(url, allowed_hosts=settings.CHATBOT_ALLOWED_HOSTS)
        # httpx's timeout bounds each network step; the deadline bounds a bot that trickles its answer.
        deadline = time.monotonic() + timeout_seconds
        try:
            with (
                # Never follow a redirect: its target was not checked (a 3xx answer fails the turn).
                httpx.Client(timeout=httpx.Timeout(timeout_seconds), follow_redirects=False) as client,
                client.stream(
                    "POST",
                    destination.url,
                    content=body,
                    headers={**headers, **destination.headers},
                    extensions=destination.extensions,
                ) as response,
            ):
                answer = bytearray()
                for chunk in response.iter_bytes():
                    answer += chunk
                    if len(answer) > MAX_ANSWER_BYTES:
                        raise BotFailure(f"the bot's answer is longer than {MAX_ANSWER_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise BotFailure(f"the bot did not answer within {timeout_seconds} s")
                return response.status_code, bytes(answer)
        except httpx.TimeoutException:
            raise BotFailure(f"the bot did not answer within {timeout_seconds} s") from None
        except httpx.HTTPError as error:
            raise BotFailure(f"could not reach the bot ({error.__class__.__name__})") from None
