"""A real local HTTP server playing Telegram's Bot API, Meta's Graph API and Zalo's OA API.

Tests point ``TELEGRAM_API_BASE`` at ``provider.url``, ``META_GRAPH_API_BASE``
at ``provider.url + "/graph"``, ``ZALO_API_BASE`` at ``provider.url +
"/zalo"`` and ``ZALO_OAUTH_BASE`` at ``provider.url + "/zalo-oauth"``. Every
request is recorded; :meth:`FakeProvider.fail` queues error answers for paths
containing a fragment, consumed in order before the documented success
answers resume. Uploads of operators' files are read back
with :func:`multipart`; :meth:`FakeProvider.refuse_file` makes a provider
refuse the next file.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body) if self.body else {}


# --- Outbound files: operators' files uploaded to the providers (sendPhoto…, /media, upload/image…) -------


@dataclass(frozen=True)
class UploadedFile:
    """One file of a multipart/form-data body, as the provider received it."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Multipart:
    fields: dict[str, str]
    files: dict[str, UploadedFile]


def multipart(request: Recorded) -> Multipart:
    """The fields and files of a recorded multipart/form-data body, split exactly (binary content intact)."""
    content_type = request.headers.get("content-type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert content_type.startswith("multipart/form-data") and match, f"not a multipart body: {content_type!r}"
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for chunk in request.body.split(b"--" + match.group(1).encode())[1:-1]:
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = head.decode()
        name = _header_param(headers, "name")
        if "filename=" in headers:
            part_type = re.search(r"(?im)^content-type:\s*(\S+)", headers)
            files[name] = UploadedFile(
                filename=_header_param(headers, "filename"),
                content_type=part_type.group(1) if part_type else "",
                content=content,
            )
        else:
            fields[name] = content.decode()
    return Multipart(fields=fields, files=files)


def _header_param(headers: str, param: str) -> str:
    match = re.search(rf'[; ]{param}="((?:[^"\\]|\\.)*)"', headers)
    return match.group(1).replace("%22", '"') if match else ""


# A provider's answer when it will not take a file: what each documents for a bad upload.
FILE_REFUSALS: dict[str, tuple[int, object]] = {
    "telegram": (400, {"ok": False, "error_code": 400, "description": "Bad Request: IMAGE_PROCESS_FAILED"}),
    "graph": (
        400,
        {"error": {"message": "(#100) Upload attachment failure.", "type": "OAuthException", "code": 100}},
    ),
    "zalo": (200, {"error": -210, "message": "File size exceeds the limit"}),
}


class OutboundFileEndpoints:
    """The upload and send endpoints of operators' files, mixed into :class:`FakeProvider`."""

    _ids: itertools.count

    def refuse_file(self, provider: str, path_fragment: str, *, times: int = 1) -> None:
        """The next call(s) to a path containing ``path_fragment`` refuse the file as ``provider`` does."""
        status, body = FILE_REFUSALS[provider]
        self.fail(path_fragment, status, body, times=times)  # type: ignore[attr-defined]

    def _file_endpoint_answer(self, request: Recorded) -> tuple[int, object] | None:
        """The documented success answer of a file endpoint, or None for any other path."""
        path = request.path
        is_multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        if path.startswith("/bot") and path.rsplit("/", 1)[-1] in TELEGRAM_FILE_METHODS:
            form = multipart(request)
            field_name = TELEGRAM_FILE_METHODS[path.rsplit("/", 1)[-1]]
            sent = {"file_id": f"sent-{next(self._ids)}", "file_name": form.files[field_name].filename}
            chat = form.fields.get("chat_id")
            message = {"message_id": next(self._ids), "chat": {"id": chat}, field_name: sent}
            return 200, {"ok": True, "result": message}
        if path.startswith("/graph/") and path.endswith("/media") and request.method == "POST":
            return 200, {"id": f"wa-media-{next(self._ids)}"}
        if path.startswith("/graph/") and path.endswith("/messages") and is_multipart:
            recipient = json.loads(multipart(request).fields["recipient"])["id"]
            n = next(self._ids)
            return 200, {"recipient_id": recipient, "message_id": f"m_OUT{n}", "attachment_id": f"att{n}"}
        if path == "/zalo/v2.0/oa/upload/image":
            return 200, {"data": {"attachment_id": f"zimg{next(self._ids)}"}, "error": 0, "message": "Success"}
        if path == "/zalo/v2.0/oa/upload/file":
            return 200, {"data": {"token": f"zfile{next(self._ids)}"}, "error": 0, "message": "Success"}
        return None


# Bot API methods that upload a file, and the form field that carries it.
TELEGRAM_FILE_METHODS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVoice": "voice",
    "sendAudio": "audio",
    "sendVideo": "video",
}

# --- end of outbound files ----------------------------------------------------------------------------------


@dataclass
class FakeProvider(OutboundFileEndpoints):
    requests: list[Recorded] = field(default_factory=list)
    _failures: list[tuple[str, int, object]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(100))
    # Inbound files to download: see "files to download" below.
    _files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    _telegram_paths: dict[str, str] = field(default_factory=dict)
    _media: dict[str, str] = field(default_factory=dict)
    _delays: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider._handle(self)

            def do_POST(self) -> None:
                provider._handle(self)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self._handler = Handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._address = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle ---

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}"

    # --- an outage: nothing listens on the provider's address, so every connection is refused ---

    def refuse_connections(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accept_connections(self) -> None:
        """Listen again on the same address (the provider's URL does not change)."""
        self._server = ThreadingHTTPServer(self._address, self._handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def use_in(self, settings) -> FakeProvider:
        settings.TELEGRAM_API_BASE = self.url
        settings.META_GRAPH_API_BASE = self.url + "/graph"
        settings.ZALO_API_BASE = self.url + "/zalo"
        settings.ZALO_OAUTH_BASE = self.url + "/zalo-oauth"
        return self

    # --- scripting ---

    def fail(self, path_fragment: str, status: int, body: object, *, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([(path_fragment, status, body)] * times)

    def slow(self, path_fragment: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests to a path containing ``path_fragment`` are answered ``seconds`` late."""
        with self._lock:
            self._delays.extend([(path_fragment, seconds)] * times)

    def calls(self, path_fragment: str) -> list[Recorded]:
        return [r for r in self.requests if path_fragment in r.path]

    # --- serving ---

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        parts = urlsplit(handler.path)
        recorded = Recorded(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(recorded)
            failure = next((f for f in self._failures if f[0] in recorded.path), None)
            if failure is not None:
                self._failures.remove(failure)
            delay = next((d for d in self._delays if d[0] in recorded.path), None)
            if delay is not None:
                self._delays.remove(delay)
        if delay is not None:
            time.sleep(delay[1])
        served = None if failure else self._downloadable(recorded)
        if served is not None:
            self._answer(handler, *served)
            return
        status, body = (failure[1], failure[2]) if failure else self._success(recorded)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header(
            "Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json"
        )
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _success(self, request: Recorded) -> tuple[int, object]:
        """The documented success answer of each endpoint."""
        file_answer = self._file_endpoint_answer(request)
        if file_answer is not None:
            return file_answer
        path = request.path
        next_id = next(self._ids)
        if path.startswith("/file/bot"):
            return 200, PNG_BYTES
        if path.startswith("/bot"):
            method = path.rsplit("/", 1)[-1]
            if method == "sendMessage":
                chat = request.json.get("chat_id")
                return 200, {"ok": True, "result": {"message_id": next_id, "chat": {"id": chat}, "text": "…"}}
            if method == "answerCallbackQuery":
                return 200, {"ok": True, "result": True}
            if method == "setWebhook":
                return 200, {"ok": True, "result": True, "description": "Webhook was set"}
            if method == "getMe":
                token = path.removeprefix("/bot").split("/", 1)[0]
                bot = {"id": int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1, "is_bot": True}
                return 200, {"ok": True, "result": {**bot, "first_name": "Demo bot", "username": "demo_bot"}}
            if method == "getFile":
                file_id = request.json.get("file_id")
                return 200, {"ok": True, "result": {"file_id": file_id, "file_path": f"photos/file_{next_id}.jpg"}}
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        if path.startswith("/graph/"):
            rest = path.removeprefix("/graph/")
            if rest.endswith("/messages"):
                if request.json.get("messaging_product") == "whatsapp":
                    to = request.json.get("to")
                    return 200, {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": f"wamid.OUT{next_id}"}],
                    }
                return 200, {"recipient_id": request.json["recipient"]["id"], "message_id": f"m_OUT{next_id}"}
            if rest.endswith("/subscribed_apps"):
                return 200, {"success": True}
            if rest.startswith("media-bytes/"):
                return 200, PNG_BYTES
            if rest == "me":
                return 200, {"id": "104857600", "name": "Demo page"}
            if request.query.get("fields") == ["display_phone_number,verified_name"]:
                return 200, {"id": rest, "display_phone_number": "+48 22 100 20 30", "verified_name": "Demo shop"}
            if rest.startswith("media-"):
                return 200, {"url": f"{self.url}/graph/media-bytes/{rest}", "mime_type": "image/jpeg", "id": rest}
            return 200, {"first_name": "Mai", "last_name": "Tran", "id": rest}
        if path == "/zalo/v3.0/oa/message/cs":
            user = request.json.get("recipient", {}).get("user_id")
            return 200, {"data": {"message_id": f"zmsg{next_id}", "user_id": user}, "error": 0, "message": "Success"}
        if path == "/zalo-oauth/v4/oa/access_token":
            return 200, {
                "access_token": f"zalo-access-{next_id}",
                "refresh_token": f"zalo-refresh-{next_id}",
                "expires_in": "90000",
            }
        if path == "/zalo/v2.0/oa/getoa":
            return 200, {"data": {"oa_id": "oa-579", "name": "Demo OA"}, "error": 0, "message": "Success"}
        if path == "/zalo/v3.0/oa/user/detail":
            return 200, {"data": {"display_name": "Lan Nguyen", "user_id": "x"}, "error": 0, "message": "Success"}
        return 404, {"error": "unknown path"}

    # --- files to download (inbound files: Telegram getFile and its file endpoint, CDN links) ---

    def serve_file(self, path: str, content: bytes, content_type: str = "application/octet-stream") -> str:
        """Serve ``content`` at ``path`` (GET) with ``content_type``; returns its full URL, for a CDN link."""
        with self._lock:
            self._files[path] = (content, content_type)
        return self.url + path

    def telegram_file(self, file_id: str, file_path: str, content: bytes) -> None:
        """``getFile`` of ``file_id`` answers ``file_path``; the file endpoint serves ``content`` there."""
        with self._lock:
            self._telegram_paths[file_id] = file_path
        self.serve_file(f"/file/bot{{token}}/{file_path}", content)

    def whatsapp_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        """Graph ``GET /{media_id}`` answers a link to ``content`` with its type and size."""
        with self._lock:
            self._media[media_id] = mime_type
        self.serve_file(f"/graph/media-bytes/{media_id}", content)

    def _downloadable(self, request: Recorded) -> tuple[int, bytes, str] | None:
        """The answer for a registered file, Telegram file path or WhatsApp media, else ``None``."""
        path = request.path
        media_id = path.removeprefix("/graph/")
        if media_id in self._media:
            content, _ = self._files[f"/graph/media-bytes/{media_id}"]
            info = {"url": f"{self.url}/graph/media-bytes/{media_id}", "mime_type": self._media[media_id],
                    "file_size": len(content), "id": media_id, "messaging_product": "whatsapp"}  # fmt: skip
            return 200, json.dumps(info).encode(), "application/json"
        if path.startswith("/bot") and path.endswith("/getFile"):
            file_id = request.json.get("file_id")
            if file_id in self._telegram_paths:
                result = {"file_id": file_id, "file_path": self._telegram_paths[file_id]}
                return 200, json.dumps({"ok": True, "result": result}).encode(), "application/json"
            return None
        if path.startswith("/file/bot"):
            # /file/bot<token>/<file path>: registered without the token.
            token, _, file_path = path.removeprefix("/file/bot").partition("/")
            path = f"/file/bot{{token}}/{file_path}" if token else path
        found = self._files.get(path)
        return (200, *found) if found is not None else None

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
