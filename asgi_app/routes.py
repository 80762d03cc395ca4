"""Request handlers: validate, hand over to the gateway, answer with the envelope."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse

from .audit import AuditTrail
from .callbacks import CallbackDispatcher
from .envelope import envelope
from .files import FileStore
from .gateway import Gateway
from .keys import KeyClaims, KeyManager, fingerprint
from .metrics import Metrics
from .middleware.auth import key_claims
from .middleware.context import request_context
from .models import Inbound, Record
from .settings import Settings
from .validation import parse_inbound, read_json_body

DEFAULT_BODY_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Handlers:
    """The route handlers, closed over their explicit dependencies.

    Args:
        settings: validated platform settings.
        gateway: inbound queue and reply records.
        keys: the instance's key manager.
        audit: structlog audit logger.
        on_key_issued: persists a newly issued key (writes it to the platform config).
        clock: wall clock for ``api_key_ttl``.
        metrics: the instance's Prometheus metrics (``create_app`` makes one when None).
        files: the store behind signed file links (``None``: no file route).
        callbacks: the callback dispatcher when callback mode is on, else ``None``.
    """

    settings: Settings
    gateway: Gateway
    keys: KeyManager
    audit: AuditTrail
    on_key_issued: Callable[[str], None]
    body_limit: int = DEFAULT_BODY_LIMIT
    clock: Callable[[], float] = time.time
    metrics: Metrics | None = None
    files: FileStore | None = None
    callbacks: CallbackDispatcher | None = None

    async def post_message(self, request: Request) -> JSONResponse:
        """Submit a message (first time only) and answer with its record.

        200 with ``done: true`` once the pipeline has finished; 202 with what has
        arrived so far after ``wait_timeout``. Repeats of the same msg_id from the
        same sender never run the pipeline again.
        """
        inbound = parse_inbound(await read_json_body(request, limit=self.body_limit))
        base_url = self.settings.public_base_url or str(request.base_url).rstrip("/")
        inbound = dataclasses.replace(inbound, base_url=base_url)
        request_context(request.scope).bind(msg_id=inbound.msg_id, sender_id=inbound.sender_id)
        if self.callbacks is not None:
            return self._acknowledge(inbound, self._claims(request), self.callbacks)
        record, created = self.gateway.submit(inbound)
        if created:
            self.audit.message_accepted(record, inbound)
        await record.wait_done(self.settings.wait_timeout)
        return self._record_response(record, self._claims(request))

    async def refresh_token(self, request: Request) -> JSONResponse:
        """Issue a new key; the presented one keeps working for the grace period."""
        new_key = self.keys.issue(grace=True)
        self.on_key_issued(new_key)
        claims = self.keys.verify(new_key)
        ttl = claims.ttl(self.clock())
        self.audit.key_refreshed(new_key_fp=fingerprint(new_key), generation=claims.generation)
        data = [{"api_key": new_key, "api_key_ttl": ttl}]
        return JSONResponse(envelope(api_key_ttl=ttl, data=data))

    def _acknowledge(
        self, inbound: Inbound, claims: KeyClaims, callbacks: CallbackDispatcher
    ) -> JSONResponse:
        """Callback mode: acknowledge at once; replies go to the callback URL.

        A repeat of the same msg_id finds its record and is acknowledged again
        without reaching the pipeline (the record is the de-duplication memory).
        """
        callbacks.ensure_room()
        record, created = self.gateway.submit(inbound)
        if created:
            callbacks.accepted(record, claims.expires_at)
            self.audit.info("message_accepted", parts=[p.type for p in inbound.parts])
        body = envelope(
            msg_id=inbound.msg_id,
            detail="accepted: the replies will be POSTed to the callback URL",
            api_key_ttl=claims.ttl(self.clock()),
            data=[],
            done=record.done,
        )
        return JSONResponse(body)

    def _record_response(self, record: Record, claims: KeyClaims) -> JSONResponse:
        items = self.gateway.view(record)
        detail = "success"
        if record.timed_out:
            detail = "the bot did not finish in time; these are the replies that arrived"
        elif not record.done:
            detail = "processing: the bot has not finished yet; POST the same msg_id again to poll"
        body = envelope(
            msg_id=record.msg_id,
            detail=detail,
            api_key_ttl=claims.ttl(self.clock()),
            data=[item.to_json() for item in items],
            done=record.done,
        )
        return JSONResponse(body, status_code=200 if record.done else 202)

    def _claims(self, request: Request) -> KeyClaims:
        claims = key_claims(request.scope)
        assert claims is not None, "authenticated route reached without a verified key"
        return claims
