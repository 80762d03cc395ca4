"""The audit trail: one typed method per event, so every line has the same shape.

An operator reads these lines to answer "who sent what, when, and what came
back" (docs/audit.*.md lists every event and field). Two rules hold for every
method: it never raises into the caller (a log that cannot be written must not
fail a request), and it never logs a key, secret or signature (keys appear only
as :func:`keys.fingerprint`). Message text is logged only with ``log_content``,
truncated. Lines logged outside a request (replies from AstrBot's side) take
``msg_id``/``sender_id`` from the record and the request id/key fingerprint
from what the record remembered at acceptance, never from ambient context.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import structlog

from .audit_chain import (
    COMMON_FIELDS,
    Echo,
    close_sink,
    create_audit_logger,
    file_sink,
)
from .models import Inbound, Item, Record

__all__ = ["AuditTrail", "Echo", "close_sink", "create_audit_logger", "file_sink"]

CONTENT_LIMIT = 200
"""Characters of message text kept when ``log_content`` is on."""

ORIGIN_FIELDS = ("request_id", "key_fp")


def truncate(text: str, limit: int = CONTENT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class AuditTrail:
    """The typed audit API over a structlog logger built by :func:`create_audit_logger`.

    Also a :class:`~.gateway.GatewayObserver` (``published``/``finished``), and it
    keeps ``info``/``warning``/``error`` so code that logs a free-form event still works.

    Args:
        logger: the structlog bound logger (already bound to ``platform_id``).
        log_content: include message text (truncated to :data:`CONTENT_LIMIT`).
        clock: monotonic clock for durations, injectable for tests.
        on_failure: told about an exception raised while logging (default: ignored).
        sink: the stdlib file logger under ``logger``, closed by :meth:`close`.
    """

    def __init__(
        self,
        logger: Any,
        *,
        log_content: bool = False,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[Exception], Any] | None = None,
        sink: logging.Logger | None = None,
    ) -> None:
        self._logger = logger
        self._log_content = log_content
        self._clock = clock
        self._on_failure = on_failure
        self._sink = sink
        self.failures = 0

    @classmethod
    def to_file(
        cls,
        path: Path,
        *,
        platform_id: str,
        max_bytes: int,
        backups: int,
        log_content: bool = False,
        echo: Echo | None = None,
        quiet_paths: Collection[str] = (),
    ) -> AuditTrail:
        """The production trail: JSON lines into a rotating ``path``, echoed to ``echo``
        (except successful requests to ``quiet_paths``)."""
        sink = file_sink(path, max_bytes=max_bytes, backups=backups)
        logger = create_audit_logger(
            sink, echo=echo, quiet_paths=quiet_paths, platform_id=platform_id
        )
        return cls(logger, log_content=log_content, sink=sink)

    def close(self) -> None:
        """Close the file (idempotent); later events are dropped by the closed handler."""
        if self._sink is not None:
            close_sink(self._sink)

    # -- free-form, never raising ------------------------------------------------

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", event, fields)

    # -- HTTP side -----------------------------------------------------------------

    def auth_failed(self, *, reason: str, key_fp: str | None) -> None:
        """A request was refused 401; ``key_fp`` names what was presented (None: nothing)."""
        self.warning("auth_failed", reason=reason, key_fp=key_fp)

    def key_issued(self, *, key_fp: str, generation: int, reason: str) -> None:
        """A new key was generated and written to the config (``reason``: why)."""
        self.info("key_issued", key_fp=key_fp, generation=generation, reason=reason)

    def key_revoked(self, *, below_generation: int, reason: str) -> None:
        """Every key of a generation lower than ``below_generation`` stopped working."""
        self.warning("key_revoked", below_generation=below_generation, reason=reason)

    def key_refreshed(self, *, new_key_fp: str, generation: int) -> None:
        """The presented key (``key_fp``) was exchanged; it lingers for the grace period."""
        self.info("key_refreshed", new_key_fp=new_key_fp, generation=generation)

    def message_accepted(self, record: Record, inbound: Inbound) -> None:
        """The message was queued for AstrBot; remember this request on the record."""
        context = structlog.contextvars.get_contextvars()
        record.origin = {name: context.get(name) for name in ORIGIN_FIELDS}
        fields: dict[str, Any] = {
            "parts": [part.type for part in inbound.parts],
            "text_chars": len(inbound.text),
        }
        if self._log_content:
            fields["content"] = truncate(inbound.text)
        self.info("message_accepted", **fields)

    # -- AstrBot side (GatewayObserver) -------------------------------------------

    def published(self, record: Record | None, session_id: str, items: list[Item]) -> None:
        """One ``reply_published`` line per item."""
        base = self._record_fields(record, session_id)
        if record is not None:
            base["late"] = record.done
        for item in items:
            fields = {**base, "item_id": item.item_id, "item_type": item.type}
            if self._log_content and item.type == "text" and isinstance(item.content, str):
                fields["content"] = truncate(item.content)
            self.info("reply_published", **fields)

    def finished(self, record: Record, reason: str) -> None:
        """``request_done``: the record is complete (pipeline end, deadline or shutdown)."""
        self.info(
            "request_done",
            **self._record_fields(record, record.session_id),
            done=record.done,
            timed_out=record.timed_out,
            reason=reason,
            items=len(record.items),
            duration_ms=round((self._clock() - record.created_at) * 1000, 3),
        )

    # -- callbacks (issue 4 calls these) ------------------------------------------

    def callback_attempt(
        self,
        *,
        msg_id: str,
        webhook_id: str,
        attempt: int,
        status: int | None,
        outcome: str,
        duration_ms: float,
        next_retry_s: float | None = None,
        error: str | None = None,
        sender_id: str | None = None,
    ) -> None:
        """One POST to the callback URL (outside any request: fields are explicit).

        Args:
            webhook_id: the delivery's ``webhook-id`` (the same on every retry).
            attempt: 1 for the first try.
            status: the receiver's HTTP status, None when no response came.
            outcome: ``delivered``, ``retry`` (another attempt is scheduled) or ``failed``.
            next_retry_s: seconds until the next attempt (``retry`` only).
            error: what went wrong (``HTTP 502``, ``timeout after 10 s``; never a secret).
        """
        self._emit(
            "info" if outcome == "delivered" else "warning",
            "callback_attempt",
            {
                **self._explicit(msg_id=msg_id, sender_id=sender_id),
                "webhook_id": webhook_id,
                "attempt": attempt,
                "status": status,
                "outcome": outcome,
                "duration_ms": round(duration_ms, 3),
                "next_retry_s": next_retry_s,
                "error": error,
            },
        )

    def dead_letter(
        self,
        *,
        msg_id: str,
        webhook_id: str,
        attempts: int,
        error: str,
        status: int | None = None,
        sender_id: str | None = None,
    ) -> None:
        """A delivery was given up after ``attempts`` tries; it is kept for inspection."""
        self.error(
            "callback_dead_letter",
            **self._explicit(msg_id=msg_id, sender_id=sender_id),
            webhook_id=webhook_id,
            attempts=attempts,
            status=status,
            error=error,
        )

    # -- lifecycle ---------------------------------------------------------------

    def adapter_started(self, *, chat_path: str) -> None:
        """The endpoint is mounted and serving (explains the gap before the first request)."""
        self.info("adapter_started", **self._explicit(), chat_path=chat_path)

    def adapter_stopped(self) -> None:
        """The endpoint stopped serving; open records were finished with reason ``shutdown``."""
        self.info("adapter_stopped", **self._explicit())

    def config_error(self, *, error: str) -> None:
        """The platform config cannot be used; AstrBot shows the same text as the error."""
        self.error("config_error", error=error)

    def internal_error(self, exc: BaseException) -> None:
        self.error("internal_error", exc_info=exc)

    # -- helpers -------------------------------------------------------------------

    def _record_fields(self, record: Record | None, session_id: str) -> dict[str, Any]:
        """Common fields taken from the record, never from ambient context."""
        if record is None:
            return {**self._explicit(), "session_id": session_id}
        sender_id, msg_id = record.key
        origin = {name: record.origin.get(name) for name in ORIGIN_FIELDS}
        return {**self._explicit(msg_id=msg_id, sender_id=sender_id), **origin}

    @staticmethod
    def _explicit(**known: str | None) -> dict[str, Any]:
        """Every common field set (None unless known) so no request's context leaks in."""
        fields: dict[str, Any] = {name: None for name in COMMON_FIELDS if name != "platform_id"}
        fields.update(known)
        return fields

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        try:
            getattr(self._logger, level)(event, **fields)
        except Exception as exc:  # the audit trail must never fail the request it records
            self.failures += 1
            if self._on_failure is not None:
                try:
                    self._on_failure(exc)
                except Exception:
                    pass
