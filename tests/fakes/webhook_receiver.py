"""A callback receiver on 127.0.0.1 for end-to-end tests and the bench.

It runs in a background thread of the test process (stdlib ``ThreadingHTTPServer``),
so a test can script its answers, take it down and bring it back on the same port,
and read what arrived. Every request is verified with the official
``standardwebhooks`` package, exactly as a real receiver would.

Actions a rule may return for a request: ``"ok"`` (200), ``"500"``/``"503"``/
``"410"`` (that status), ``"timeout"`` (hold the request until :meth:`stop` or
``HOLD_LIMIT`` seconds, so the sender's per-attempt timeout fires), ``"hold"``
(the same, used to keep deliveries in flight).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

HOLD_LIMIT = 30.0
Rule = Callable[[dict[str, Any]], "str | None"]


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver saw it."""

    webhook_id: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    verified: bool
    action: str

    @property
    def delivered(self) -> bool:
        return self.action == "ok"


class WebhookReceiver:
    """Start with :meth:`start`; ``url`` stays the same across stop/start.

    Args:
        secret: the ``whsec_...`` secret to verify with (settable later).
        port: fixed port, or 0 for a free one (kept for restarts).
    """

    def __init__(self, secret: str | None = None, port: int = 0) -> None:
        self.secret = secret
        self.port = port
        self.script: deque[str] = deque()
        self.rule: Rule | None = None
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        self._release.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: held requests are released, the port refuses connections."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:  # keep-alive connections would otherwise still be served
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def delivered(self, msg_id: str | None = None) -> list[Received]:
        with self._lock:
            found = [r for r in self.requests if r.delivered]
        return [r for r in found if msg_id is None or r.payload.get("msg_id") == msg_id]

    def attempts(self, msg_id: str | None = None) -> list[Received]:
        with self._lock:
            found = list(self.requests)
        return [r for r in found if msg_id is None or r.payload.get("msg_id") == msg_id]

    def choose(self, payload: dict[str, Any]) -> str:
        with self._lock:
            if self.script:
                return self.script.popleft()
        action = self.rule(payload) if self.rule is not None else None
        return action or "ok"

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def track(self, connection: socket.socket, *, open: bool) -> None:
        with self._lock:
            if open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def hold(self) -> None:
        self._release.wait(HOLD_LIMIT)

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        if not self.secret:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except Exception:
            return False
        return True

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            receiver.track(self.connection, open=True)

        def finish(self) -> None:
            receiver.track(self.connection, open=False)
            super().finish()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            action = receiver.choose(payload)
            receiver.record(
                Received(
                    webhook_id=headers.get("webhook-id", ""),
                    headers=headers,
                    body=body,
                    payload=payload,
                    verified=receiver.verify(body, headers),
                    action=action,
                )
            )
            if action in ("timeout", "hold"):
                receiver.hold()
                self.close_connection = True
                return
            status = 200 if action == "ok" else int(action)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read .requests instead

    return Handler
