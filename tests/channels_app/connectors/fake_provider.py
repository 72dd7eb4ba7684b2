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
