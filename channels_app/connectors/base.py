"""What every messenger source provides, and the value types that cross its edges.

A source (Telegram, Messenger, WhatsApp, Zalo) is a stateless object with six
jobs:

- ``verify``: is this webhook request really from the provider?
- ``extract_updates``: split a verified body into :class:`StoredUpdate` rows,
  each with the provider's own dedupe key; unknown kinds give nothing.
- ``parse``: turn one stored update into :class:`InboundEvent` values for the
  inbound services (after the webhook has answered: in the web process, or
  in Celery when :meth:`Source.needs_provider_call` says the provider must be
  called). Files are only described (:func:`file_to_fetch`), never fetched
  here: the message is stored at once with its files pending;
- ``download``: fetch one such file later, in a Celery worker, with retries.
- ``send_part``: deliver one part of an outbound message (a piece of text, or
  one file sent natively with the text as its caption where the provider
  allows); :meth:`Source.delivery_parts` says what the parts are, and
  :func:`channels_app.connectors.processing.message_deliver` sends them in
  order, recording each, so a retry resumes after the parts that went out.
  Raise :class:`DeliveryError` on failure.
- ``register_webhook``: bind the provider to our URL (O5).
- ``identify``: ask the provider who the stored credentials belong to (the admin's
  *Test connection*: Telegram ``getMe``, Graph ``/me`` or the phone number, Zalo ``getoa``).

Sources never touch the ORM except to read the connector they are given (and
its open channel's file limits), so the webhook, the Celery tasks and the
management command share them.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.cookiejar import DefaultCookiePolicy
from typing import IO, Any, ClassVar
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext as _

from channels_app.engine.attachments import IncomingFile, refusal_text
from channels_app.engine.consent import CONSENT_TOKEN, consent_agree_label
from channels_app.engine.texts import RATING_DISLIKE_LABEL, RATING_LIKE_LABEL, translated
from channels_app.models import Attachment, Connector
from channels_app.policy import files

logger = logging.getLogger("channels_app.connectors")

# Providers want an answer within seconds; a send that takes longer is retried.


class MalformedUpdate(ValueError):
    """The body is JSON but not shaped as the provider documents it (answered with 400)."""


@dataclass(frozen=True)
class StoredUpdate:
    """One provider delivery to store as an ``InboundUpdate`` row."""

    update_id: str
    payload: dict
    # The provider account the update is for, when the body says (Meta batches several per app).
    account_id: str = ""


@dataclass
class InboundEvent:
    """One client message (or its edit, or its deletion) ready for :mod:`channels_app.engine.inbound`, or a
    receipt of ours for :mod:`channels_app.engine.delivery`."""

    kind: str  # "message", "edit" (the new ``text``), "delete" (``source_message_id`` only) or "receipt"
    external_user_id: str
    source_message_id: str
    text: str = ""
    # Files of the message: stored pending with their ``source_ref``, fetched by :meth:`Source.download`.
    files: list[IncomingFile] = field(default_factory=list)
    client_name: str = ""
    client_username: str = ""
    client_phone: str = ""
    client_email: str = ""
    # R1: "like" or "dislike" when the client pressed our rating button (callback, quick reply, reply button);
    # only such a press or an exact rating reply rates, never a word the client typed.
    pressed_rating: str = ""
    # A1: the client pressed our "I agree" button under the consent notice.
    pressed_consent: bool = False
    # A button the client pressed that is not one of ours (a chatbot's, a page's menu): its data; ``text`` is its
    # title. None for a typed message.
    button_payload: str | None = None
    # False when the source wrote ``text`` (a shared contact card, a location): no phone or e-mail is read in it.
    text_typed: bool = True
    # A receipt (issue 15.5): our messages ``receipt_ids`` (provider ids), and/or every one to this client up to
    # ``receipt_up_to`` (a watermark), reached ``receipt_state`` (delivered, read, failed with ``receipt_error``).
    receipt_state: str = ""
    receipt_ids: list[str] = field(default_factory=list)
    receipt_up_to: datetime | None = None
    receipt_error: str = ""


@dataclass(frozen=True)
class DownloadedFile:
    """The bytes of a client's file, with the name and type the provider gave (empty when it gave none)."""

    content: bytes
    name: str = ""
    mime_type: str = ""


class DownloadError(Exception):
    """A file could not be fetched; ``retryable`` says whether trying again may help, the text says why."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str


class DeliveryError(Exception):
    """An outbound send failed; ``retryable`` says whether trying again may help, ``unreachable`` whether the
    provider itself did not answer (refused, reset, timed out, HTTP 5xx), which counts against the connector's
    circuit breaker (issue 21); a refusal about this one message does not."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.unreachable = unreachable


@dataclass(frozen=True)
class RegistrationResult:
    ok: bool
    detail: str
    # False when the provider has no API for it and a person must paste the URL in its dashboard.
    automatic: bool = True


@dataclass(frozen=True)
class IdentityResult:
    """What the provider said about the connector's credentials, in the administrator's words (``detail``)."""

    ok: bool
    detail: str


class IdentityError(Exception):
    """An identity call that did not get an answer to read: the text says why, in the administrator's words."""


@dataclass(frozen=True)
class OutboundPart:
    """One provider message of an outbound message: a piece of its text, or one of its files (with the
    message's text as the caption when it fits there)."""

    text: str = ""
    attachment: Attachment | None = None
    # S2: a WhatsApp template message ({"name", "language", "parameters"}, ``Message.template``); ``text`` is then
    # only what the template reads as.
    template: dict | None = None


class Source:
    """Base class of the messenger sources; see the module docstring for the contract."""

    kinds: ClassVar[tuple[str, ...]] = ()
    # Longest text one provider message may carry; longer texts are sent in parts.
    max_text_length: ClassVar[int] = 2000
    # Longest caption a file may carry; 0 when the provider sends files without text.
    max_caption_length: ClassVar[int] = 0

    def verify(self, connector: Connector, headers: Mapping[str, str], body: bytes) -> bool:
        raise NotImplementedError

    def extract_updates(self, connector: Connector, body: dict) -> list[StoredUpdate]:
        raise NotImplementedError

    def parse(self, connector: Connector, payload: dict) -> list[InboundEvent]:
        raise NotImplementedError

    def send_text(self, connector: Connector, *, recipient_id: str, text: str) -> SendResult:
        raise NotImplementedError

    def register_webhook(self, connector: Connector, url: str) -> RegistrationResult:
        raise NotImplementedError

    def identify(self, connector: Connector) -> IdentityResult:
        """Ask the provider's identity endpoint who the stored credentials belong to; never raises for the
        provider's answers or network trouble (the result says what happened)."""
        raise NotImplementedError

    def send_rating_request(
        self, connector: Connector, *, recipient_id: str, text: str, buttons: list[tuple[str, str]]
    ) -> SendResult:
        """R1: ask for a rating; ``buttons`` are (token, label) pairs whose token comes back as the reply text.

        Sources without buttons (Zalo) send the text, and the client answers by typing 👍 or 👎.
        """
        return self.send(connector, recipient_id=recipient_id, text=text, attachments=[])

    def send_consent_request(
        self, connector: Connector, *, recipient_id: str, text: str, buttons: list[tuple[str, str]]
    ) -> SendResult:
        """A1: the consent notice with an "I agree" button, drawn as the rating buttons are (inline keyboard,
        quick reply, reply button); its token comes back as ``InboundEvent.pressed_consent``. Sources without
        buttons (Zalo) send the text, and the client agrees by replying the button's words."""
        return self.send_rating_request(connector, recipient_id=recipient_id, text=text, buttons=buttons)

    # Sources whose webhook bodies carry no client name ask the provider for it, once, for a new client (C2).
    asks_for_new_clients_name: ClassVar[bool] = False

    def needs_provider_call(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> bool:
        """Whether :meth:`complete_event` would call the provider for ``event`` (a name to ask for, a button
        press to acknowledge). Such updates are processed in Celery, never on a web thread. Files do not count:
        they are fetched by :meth:`download` after the message is stored."""
        return self.asks_for_new_clients_name and self.needs_clients_name(connector, event, client_is_new=client_is_new)

    def needs_clients_name(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> bool:
        """A new client without a name, and a token to ask the provider for it."""
        return client_is_new and not event.client_name and bool(connector.access_token)

    def complete_event(self, connector: Connector, event: InboundEvent, *, client_is_new: bool) -> None:
        """Fetch what the webhook body lacks (the client's name) or answer the provider; best effort, runs in Celery.

        ``client_is_new`` is looked up only for events without a client name (it
        exists to fetch that name once); for an event with a name it is False.
        """

    def download(self, connector: Connector, source_ref: dict, *, limit: int) -> DownloadedFile:
        """Fetch one client file the webhook only referenced (``IncomingFile.source_ref``), at most ``limit``
        bytes; raise :class:`DownloadError`. Runs in a Celery worker, retried with backoff."""
        raise DownloadError(f"{type(self).__name__} cannot download files.", retryable=False)

    def send(self, connector: Connector, *, recipient_id: str, text: str, attachments: list[Attachment]) -> SendResult:
        """Send every part of a message at once (see :meth:`delivery_parts`); the first part's id stands for it.

        For sends that need no resuming (the rating request of sources without
        buttons); operators' messages go through ``processing.message_deliver``,
        which records each part as it goes out.
        """
        results = [
            self.send_part(connector, recipient_id=recipient_id, part=part)
            for part in self.delivery_parts(text=text, attachments=attachments)
        ]
        return results[0]

    def delivery_parts(
        self, *, text: str, attachments: list[Attachment], name_line: str = "", template: dict | None = None
    ) -> list[OutboundPart]:
        """The provider messages that carry ``text`` and ``attachments``, in the order they are sent.

        A template message (S2) is one part, the template, whatever its text (a template's words are Meta's
        approved ones: no name line).
        ``name_line`` (Q12: "Olga:", from :func:`engine.client_view.name_line_for_client`) becomes the text's
        first line, or the caption of a reply with files only; it is never sent alone, so a file-only reply
        to a file that takes no caption goes without it. The stored message is not changed.

        1. Every file must be one this provider takes (:meth:`file_refusal`),
           checked before anything is sent, so a message is never cut short
           halfway by a file that could never go.
        2. The text rides as the caption of the first file when the provider
           lets that file carry one and it fits; otherwise it goes first, in as
           many parts as ``max_text_length`` needs.
        3. Then the files, one provider message each, in the order attached.

        The same message always gives the same parts (its text and files never
        change once queued; the name line changes only if the operator is
        renamed between attempts), which is what lets a retry skip the ones sent.
        """
        if template is not None:
            return [OutboundPart(text=text, template=template)]
        text = text.strip()
        for attachment in attachments:
            reason = self.file_refusal(attachment)
            if reason:
                raise DeliveryError(reason, retryable=False)
        if name_line and (text or (attachments and self.takes_caption(attachments[0]))):
            text = f"{name_line}\n{text}" if text else name_line
        if not attachments:
            if not text:
                raise DeliveryError("The message has no text to send.", retryable=False)
            return [OutboundPart(text=chunk) for chunk in split_text(text, self.max_text_length)]
        first, *rest = attachments
        if text and self.takes_caption(first) and len(text) <= self.max_caption_length:
            return [OutboundPart(text=text, attachment=first), *(OutboundPart(attachment=a) for a in rest)]
        texts = [OutboundPart(text=chunk) for chunk in split_text(text, self.max_text_length)] if text else []
        return [*texts, *(OutboundPart(attachment=a) for a in attachments)]

    def send_part(self, connector: Connector, *, recipient_id: str, part: OutboundPart) -> SendResult:
        """Send one part: its template, its text, or its file with the text as the caption."""
        if part.template is not None:
            return self.send_template(connector, recipient_id=recipient_id, template=part.template)
        if part.attachment is None:
            return self.send_text(connector, recipient_id=recipient_id, text=part.text)
        return self.send_file(connector, recipient_id=recipient_id, attachment=part.attachment, caption=part.text)

    def send_template(self, connector: Connector, *, recipient_id: str, template: dict) -> SendResult:
        """S2: send an approved message template (WhatsApp only) with its parameters."""
        raise DeliveryError(f"{type(self).__name__} has no message templates.", retryable=False)

    def send_file(self, connector: Connector, *, recipient_id: str, attachment: Attachment, caption: str) -> SendResult:
        """Send one stored file natively (uploaded with the message, never as a link to our site)."""
        raise DeliveryError(f"{type(self).__name__} cannot send files.", retryable=False)

    def takes_caption(self, attachment: Attachment) -> bool:
        """Whether this file's provider message may carry the text (WhatsApp audio, for one, may not)."""
        return self.max_caption_length > 0

    def file_refusal(self, attachment: Attachment) -> str:
        """Why this provider cannot take the file, in the operator's words ("" when it can)."""
        if attachment.state != Attachment.State.READY or not attachment.file:
            return f"The file {attachment.name} is not stored here, so it cannot be sent."
        return ""


# R1 button payloads: each source hands a press back as ``InboundEvent.pressed_rating`` (a typed "like" is a message).
RATING_TOKENS = ("like", "dislike")


def rating_buttons(language: str) -> list[tuple[str, str]]:
    """The (token, label) pairs of the rating buttons, labelled in the open channel's language (O3)."""
    labels = {"like": RATING_LIKE_LABEL, "dislike": RATING_DISLIKE_LABEL}
    return [(token, translated(labels[token], language)) for token in RATING_TOKENS]


def consent_buttons(language: str) -> list[tuple[str, str]]:
    """A1: the one (token, label) pair of the consent notice's button, labelled in the open channel's language."""
    return [(CONSENT_TOKEN, consent_agree_label(language))]


def split_text(text: str, limit: int) -> list[str]:
    """Split on line breaks or spaces where possible so no part exceeds ``limit`` characters."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


@contextmanager
def file_upload(attachment: Attachment) -> Iterator[tuple[str, IO[bytes], str]]:
    """The ``(name, open file, type)`` an httpx multipart ``files=`` entry takes, read from our storage.

    The sender's name goes to the provider as the file's name (the client
    sees it); the bytes are streamed from storage, not read into memory.
    Bytes gone from the storage are a permanent failure; other storage
    trouble (a remote store briefly unreachable) may pass.
    """
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise DeliveryError(f"The file {attachment.name} is no longer stored.", retryable=False) from None
    except OSError as exc:
        raise DeliveryError(f"The file {attachment.name} could not be read: {exc}", retryable=True) from None
    with handle:
        yield attachment.name, handle, attachment.mime_type or "application/octet-stream"


def hmac_sha256_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison that treats a missing or empty secret as a mismatch."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


@contextmanager
def http_client() -> Iterator[httpx.Client]:
    """This process's client for the providers' APIs (``with http_client() as http:``); it stays open.

    A new ``httpx.Client`` per call cost most of a reply's worker CPU (a TLS context loaded from the
    certificate store, a new connection and handshake per send: issue 17). One client per process keeps both:
    it is made on first use in each process (a forked Celery child never uses its parent's, whose sockets it
    shares), shared by the process's threads (httpx's pool is thread-safe), and closed at the process's exit.
    CONNECTOR_HTTP_TIMEOUT_SECONDS for the answer, at most 5 s of it to connect; a changed setting makes a new
    client. The circuit breaker and the retries work on the answers, as before.
    """
    yield _process_client(settings.CONNECTOR_HTTP_TIMEOUT_SECONDS)


_clients: dict[tuple[int, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def _process_client(answer: float) -> httpx.Client:
    key = (os.getpid(), answer)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                if any(pid != key[0] for pid, _ in _clients):
                    _clients.clear()  # inherited through fork: the parent's sockets are not ours to use or close
                timeout = httpx.Timeout(answer, connect=min(5.0, answer))
                client = httpx.Client(timeout=timeout, headers={"User-Agent": "open-channels-contact-center"})
                # Shared by every connector: a cookie one provider account is given must never go out with
                # another's calls, so none is kept.
                client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=()))
                _clients[key] = client
    return client


@atexit.register
def http_clients_close() -> None:
    """Close this process's provider clients (their connections); the next call makes a new one."""
    with _clients_lock:
        mine = [client for (pid, _), client in _clients.items() if pid == os.getpid()]
        _clients.clear()
    for client in mine:
        client.close()


def file_to_fetch(
    connector: Connector,
    *,
    name: str,
    source_ref: dict,
    mime_type: str = "",
    size: int | None = None,
    kind_hint: str = "",
    provider_limit: int | None = None,
    provider_refusal: str = "",
) -> IncomingFile:
    """A client's file as ``parse`` describes it: stored pending with ``source_ref`` and fetched by
    :meth:`Source.download` later, or failed at once when its declared size is already too large.

    Too large means over the open channel's limit (the engine's words, the
    server ceiling included) or over what the provider lets us download
    (``provider_limit``, with ``provider_refusal`` saying so): such a file is
    never asked of the provider.
    """
    error = ""
    if size is not None and size > 0:
        channel_limit = connector.open_channel.file_limits.max_bytes
        if size > channel_limit:
            error = str(file_too_large(channel_limit))
        elif provider_limit is not None and size > provider_limit:
            error = provider_refusal
    return IncomingFile(
        name=name, mime_type=mime_type, size=size, kind_hint=kind_hint, source_ref=source_ref, error=error
    )


def download_capped(http: httpx.Client, url: str, *, limit: int, headers: dict | None = None) -> DownloadedFile:
    """A file's bytes, read as they arrive, with the type the server declared ("" for none or a bare
    ``application/octet-stream``); raises :class:`DownloadError`.

    More than ``limit`` bytes (the open channel's limit, capped by
    ``settings.MAX_ATTACHMENT_BYTES``) stops the download before the rest is
    read into memory. Network trouble, 429 and 5xx may pass (retryable);
    another status (an expired or refused link) will not.
    """
    limit = min(limit, settings.MAX_ATTACHMENT_BYTES)
    too_large = file_too_large(limit)
    try:
        with http.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                raise download_status_error(response.status_code)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
            mime_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise DownloadError(
            _("The provider gave no usable link to the file (%(error)s).") % {"error": exc}, retryable=False
        ) from None
    except httpx.HTTPError as exc:
        raise download_transport_error(exc) from None
    return DownloadedFile(b"".join(chunks), mime_type="" if mime_type == files.OCTET_STREAM else mime_type)


def download_link(url: str, *, limit: int) -> DownloadedFile:
    """The file at a link the provider gave in the webhook body (a CDN address that needs no token)."""
    if not url:
        raise DownloadError(_("The message gives no link to the file."), retryable=False)
    with http_client() as http:
        return download_capped(http, url, limit=limit)


def file_too_large(limit: int) -> DownloadError:
    """Over the open channel's limit: trying again cannot help (the engine's words for it)."""
    return DownloadError(refusal_text(files.Refusal("too_large", limit=limit)), retryable=False)


def download_status_error(status: int, detail: str = "") -> DownloadError:
    """A provider's HTTP error while fetching a file, in the words the operator reads after the last try."""
    retryable = status == 429 or status >= 500
    if retryable:
        text = _("The provider could not hand over the file (HTTP %(status)s).") % {"status": status}
    else:
        text = _("The provider refused the file (HTTP %(status)s); its link may have expired.") % {"status": status}
    return DownloadError(f"{text} {detail}".strip(), retryable=retryable)


def download_transport_error(exc: httpx.HTTPError) -> DownloadError:
    """Network trouble (refused, reset, timeout) may pass: always worth another try."""
    return DownloadError(
        _("The provider could not be reached (%(error)s).") % {"error": f"{type(exc).__name__}: {exc}"},
        retryable=True,
    )


def provider_base(setting_name: str) -> str:
    return str(getattr(settings, setting_name)).rstrip("/")


def transport_error(exc: httpx.HTTPError) -> DeliveryError:
    """Network trouble (refused, reset, timeout) may pass: always worth a retry."""
    return DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True, unreachable=True)


def identity_get(url: str, *, params: dict | None = None, headers: dict | None = None) -> httpx.Response:
    """GET a provider's identity endpoint with the connectors' HTTP client; network trouble raises
    :class:`IdentityError` saying which host could not be reached and why."""
    host = urlsplit(url).netloc or url
    try:
        with http_client() as http:
            return http.get(url, params=params, headers=headers)
    except httpx.TimeoutException as exc:
        waited = settings.CONNECTOR_HTTP_TIMEOUT_SECONDS
        if isinstance(exc, httpx.ConnectTimeout):
            waited = min(5.0, waited)  # http_client's connect timeout
        seconds = formats.number_format(waited, decimal_pos=0 if float(waited).is_integer() else 1)
        raise IdentityError(
            _("Could not reach %(host)s: timed out after %(seconds)s s.") % {"host": host, "seconds": seconds}
        ) from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise IdentityError(_("Could not reach %(host)s: %(reason)s") % {"host": host, "reason": reason}) from None


def identity_refused(status: int, reason: str) -> IdentityResult:
    """The provider answered but would not say who the credentials belong to (a 5xx is its own trouble)."""
    if status >= 500:
        return IdentityResult(
            ok=False,
            detail=_("The provider could not answer: %(status)s %(reason)s") % {"status": status, "reason": reason},
        )
    return IdentityResult(
        ok=False,
        detail=_("The provider refused the token: %(status)s %(reason)s") % {"status": status, "reason": reason},
    )


def identity_missing(what: str) -> IdentityResult:
    """Nothing to test: the credential the call needs is not stored (``what`` names it)."""
    return IdentityResult(ok=False, detail=_("Enter the %(what)s and save the connector first.") % {"what": what})


def response_json(response: httpx.Response) -> dict:
    """The provider's JSON answer, or an empty dict when it answered something else (an HTML error page)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- Defensive readers: webhook bodies are untrusted, so every field may have any type. ---


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """Strings as given, integers (ids) as decimal text; anything else is empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
