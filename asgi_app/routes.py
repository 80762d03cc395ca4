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
from .errors import MethodNotAllowed
from .files import FileStore
from .gateway import Gateway
from .keys import KeyClaims, KeyManager, fingerprint
from .metrics import Metrics
from .middleware.auth import key_claims
from .middleware.context import request_context
from .models import Inbound, Record
from .openapi import build_openapi
from .ratelimit import RateLimits
from .settings import Settings
from .validation import parse_inbound, read_json_body


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
        limits: per-key and per-sender rate limiters (default: from ``settings``).
    """

    settings: Settings
    gateway: Gateway
    keys: KeyManager
    audit: AuditTrail
    on_key_issued: Callable[[str], None]
    clock: Callable[[], float] = time.time
    metrics: Metrics | None = None
    files: FileStore | None = None
    callbacks: CallbackDispatcher | None = None
    limits: RateLimits | None = None

    def __post_init__(self) -> None:
        if self.limits is None:
            limits = RateLimits.from_rates(
                self.settings.rate_limit_per_key, self.settings.rate_limit_per_sender
            )
            object.__setattr__(self, "limits", limits)

    @property
    def rate_limits(self) -> RateLimits:
        assert self.limits is not None  # set in __post_init__
        return self.limits

    async def post_message(self, request: Request) -> JSONResponse:
        """Submit a message (first time only) and answer with its record.

        200 with ``done: true`` once the pipeline has finished; 202 with what has
        arrived so far after ``wait_timeout``. Repeats of the same msg_id from the
        same sender never run the pipeline again.
        """
        body = await read_json_body(request, limit=self.settings.max_body_bytes)
        inbound = parse_inbound(body)
        base_url = self.settings.public_base_url or str(request.base_url).rstrip("/")
        inbound = dataclasses.replace(inbound, base_url=base_url)
        request_context(request.scope).bind(msg_id=inbound.msg_id, sender_id=inbound.sender_id)
        if not self.gateway.known(inbound):
            self.rate_limits.per_sender.take(inbound.sender_id)  # polls of a known msg_id are free
        if self.callbacks is not None:
            return self._acknowledge(inbound, self._claims(request), self.callbacks)
        record, created = self.gateway.submit(inbound)
        if created:
            self.audit.message_accepted(record, inbound)
        await record.wait_done(self.settings.wait_timeout)
        return self._record_response(record, self._claims(request))

    async def refresh_token(self, request: Request) -> JSONResponse:
        """Issue a new key; the presented one keeps working for the grace period.

        ``data`` is ``[{"api_key": <new key>, "api_key_ttl": <its lifetime, s>}]``.
        """
        if request.method == "HEAD":  # Starlette adds HEAD to GET routes; no silent rotation
            raise MethodNotAllowed(
                "HEAD is not allowed on the refresh endpoint", headers={"Allow": "GET, POST"}
            )
        new_key = self.keys.issue(grace=True)
        self.on_key_issued(new_key)
        claims = self.keys.verify(new_key)
        ttl = claims.ttl(self.clock())
        self.audit.key_refreshed(new_key_fp=fingerprint(new_key), generation=claims.generation)
        data = [{"api_key": new_key, "api_key_ttl": ttl}]
        # A credential: no cache (browser, proxy) may keep it.
        return JSONResponse(
            envelope(api_key_ttl=ttl, data=data), headers={"Cache-Control": "no-store"}
        )

    async def openapi(self, request: Request) -> JSONResponse:
        """The OpenAPI 3.1 document of these endpoints (public: no key needed)."""
        return JSONResponse(build_openapi(self.settings))

    def _acknowledge(
        self, inbound: Inbound, claims: KeyClaims, callbacks: CallbackDispatcher
    ) -> JSONResponse:
        """Callback mode: acknowledge at once; replies go to the callback URL.

        A repeat of the same msg_id finds its record and is acknowledged again
        without reaching the pipeline (the record is the de-duplication memory).
        """
        if not self.gateway.known(inbound):
            callbacks.ensure_room()  # a repeat of an accepted msg_id is never refused
        record, created = self.gateway.submit(inbound)
        if created:
            callbacks.accepted(record, claims.expires_at)
            self.audit.message_accepted(record, inbound)
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
