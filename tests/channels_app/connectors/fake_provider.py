"""A real local HTTP server playing Telegram's Bot API, Meta's Graph API and Zalo's OA API.

Tests point ``TELEGRAM_API_BASE`` at ``provider.url``, ``META_GRAPH_API_BASE``
at ``provider.url + "/graph"`` and ``ZALO_API_BASE`` at ``provider.url +
"/zalo"``. Every request is recorded; :meth:`FakeProvider.fail` queues error
answers for paths containing a fragment, consumed in order before the
documented success answers resume.
"""

from __future__ import annotations

import itertools
import json
import threading
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


@dataclass
class FakeProvider:
    requests: list[Recorded] = field(default_factory=list)
    _failures: list[tuple[str, int, object]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(100))
    # Inbound files to download: see "files to download" below.
    _files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    _telegram_paths: dict[str, str] = field(default_factory=dict)
    _media: dict[str, str] = field(default_factory=dict)

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

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def use_in(self, settings) -> FakeProvider:
        settings.TELEGRAM_API_BASE = self.url
        settings.META_GRAPH_API_BASE = self.url + "/graph"
        settings.ZALO_API_BASE = self.url + "/zalo"
        return self

    # --- scripting ---

    def fail(self, path_fragment: str, status: int, body: object, *, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([(path_fragment, status, body)] * times)

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
            if rest.startswith("media-"):
                return 200, {"url": f"{self.url}/graph/media-bytes/{rest}", "mime_type": "image/jpeg", "id": rest}
            return 200, {"first_name": "Mai", "last_name": "Tran", "id": rest}
        if path == "/zalo/v3.0/oa/message/cs":
            user = request.json.get("recipient", {}).get("user_id")
            return 200, {"data": {"message_id": f"zmsg{next_id}", "user_id": user}, "error": 0, "message": "Success"}
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
