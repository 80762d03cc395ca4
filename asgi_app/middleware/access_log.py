"""One canonical JSON line per request, written in ``finally`` so 401s and crashes count too."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import request_context


class AccessLogMiddleware:
    """Log method, path, status, duration, client ip and what inner layers learned.

    Args:
        app: the wrapped ASGI app.
        logger: a structlog bound logger (the audit logger).
        clock: monotonic clock for the duration, injectable for tests.
    """

    def __init__(self, app: ASGIApp, *, logger: Any, clock: Any = time.perf_counter) -> None:
        self.app = app
        self.logger = logger
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500  # what the server answers if the app raises before responding

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            context = request_context(scope)
            client = scope.get("client")
            self.logger.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((self.clock() - started) * 1000, 3),
                client_ip=client[0] if client else None,
                request_id=context.request_id,
                msg_id=context.msg_id,
                sender_id=context.sender_id,
                key_fp=context.key_fp,
            )
