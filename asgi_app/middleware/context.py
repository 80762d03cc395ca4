"""Give every request an id and a mutable context shared by the inner layers.

The context lives in ``scope["state"]`` (one dict per request) so the access log
can read what the auth layer and the handler learned (key fingerprint, msg_id)
after they ran; the same fields are bound to structlog's contextvars so every
audit line of the request carries them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTEXT_KEY = "hep_context"
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(slots=True)
class RequestContext:
    """What one request has revealed about itself so far."""

    request_id: str
    msg_id: str | None = None
    sender_id: str | None = None
    key_fp: str | None = None

    def bind(self, **fields: str) -> None:
        """Record fields here and on the structlog context of this request."""
        for name, value in fields.items():
            setattr(self, name, value)
        structlog.contextvars.bind_contextvars(**fields)


def request_context(scope: Scope) -> RequestContext:
    """The request's context; a fresh one when a layer runs without the middleware."""
    state: dict[str, Any] = scope.setdefault("state", {})
    context = state.get(CONTEXT_KEY)
    if context is None:
        context = state[CONTEXT_KEY] = RequestContext(request_id=uuid.uuid4().hex)
    assert isinstance(context, RequestContext)
    return context


def _is_valid_request_id(value: str) -> bool:
    return bool(_REQUEST_ID_RE.match(value))


class RequestContextMiddleware:
    """Assign a request id (or accept a sane incoming one) and echo it, plus msg_id.

    Args:
        app: the wrapped ASGI app.
        header_name: header that carries the request id both ways.
        generator: makes a new id (tests pass a constant one).
        validator: decides whether an incoming id can be trusted.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = "X-Request-Id",
        generator: Callable[[], str] = lambda: uuid.uuid4().hex,
        validator: Callable[[str], bool] = _is_valid_request_id,
    ) -> None:
        self.app = app
        self.header_name = header_name
        self.generator = generator
        self.validator = validator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(self.header_name, "")
        request_id = incoming if incoming and self.validator(incoming) else self.generator()
        context = RequestContext(request_id=request_id)
        scope.setdefault("state", {})[CONTEXT_KEY] = context

        async def send_with_context(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[self.header_name] = context.request_id
                if context.msg_id is not None:
                    # Header values must be latin-1; a non-ASCII msg_id is percent-encoded.
                    headers["X-Msg-Id"] = quote(context.msg_id, safe=_HEADER_SAFE)
            await send(message)

        client = scope.get("client")
        with structlog.contextvars.bound_contextvars(
            request_id=request_id,
            msg_id=None,
            sender_id=None,
            key_fp=None,
            client_ip=client[0] if client else None,
        ):
            await self.app(scope, receive, send_with_context)
