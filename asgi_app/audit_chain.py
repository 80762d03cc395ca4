"""The audit logger's plumbing: a private structlog processor chain and its sinks.

Never ``structlog.configure()`` and never the root logger: AstrBot and other
plugins share the process. The file sink is a stdlib logger that is *not* part
of the logging tree (built directly, no parent), so nothing propagates anywhere
we did not choose; a handler that cannot write reports once through
``on_error`` and never raises into the request.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

AUDIT_LOGGER_NAME = "astrbot_plugin_http_endpoint.audit"
COMMON_FIELDS = ("request_id", "msg_id", "sender_id", "platform_id", "key_fp")
"""Present on every line (``null`` when unknown), right after ``ts``, ``level``, ``event``."""

REDACTED = "[redacted]"
SECRET_FIELDS = frozenset(
    {"api_key", "key", "new_key", "token", "secret", "signature", "authorization", "password"}
)
"""Field names whose values never reach the file, whoever passes them."""

ECHO_FIELDS = (
    "msg_id",
    "sender_id",
    "session_id",
    "method",
    "path",
    "status",
    "reason",
    "item_type",
    "items",
    "attempt",
    "outcome",
    "next_retry_s",
    "duration_ms",
    "key_fp",
    "error",
)
"""What the short human line in AstrBot's log shows, in this order, when present."""

Echo = Callable[[int, str], Any]
"""Receives (stdlib level, short human line): the plugin passes AstrBot's logger."""


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Belt and braces: a field named like a credential is replaced, whatever its value."""
    for name in SECRET_FIELDS.intersection(event_dict):
        event_dict[name] = REDACTED
    return event_dict


def order_common_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Put ts, level, event and the common fields first (``null`` when unknown)."""
    head = ("ts", "level", "event", *COMMON_FIELDS)
    ordered: dict[str, Any] = {name: event_dict.pop(name, None) for name in head}
    ordered.update(event_dict)
    return ordered


class EchoToHost:
    """Hand a one-line human summary to the host's logger; a failure there is ignored.

    Args:
        echo: called with (level, line); AstrBot's plugin logger in production.
        prefix: start of every line, e.g. ``[http_endpoint]``.
        quiet_paths: successful ``request`` lines for these paths stay in the file only
            (a monitor polling the health check would otherwise flood AstrBot's log).
    """

    def __init__(
        self, echo: Echo, *, prefix: str = "[http_endpoint]", quiet_paths: Collection[str] = ()
    ) -> None:
        self.echo = echo
        self.prefix = prefix
        self.quiet_paths = quiet_paths

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        if event_dict.get("event") == "request" and event_dict.get("path") in self.quiet_paths:
            if isinstance(event_dict.get("status"), int) and event_dict["status"] < 400:
                return event_dict
        level = logging.getLevelNamesMapping().get(str(event_dict.get("level", "")).upper())
        shown = [f"{k}={event_dict[k]}" for k in ECHO_FIELDS if event_dict.get(k) is not None]
        line = " ".join([self.prefix, str(event_dict.get("event")), *shown])
        try:
            self.echo(max(level or logging.INFO, logging.INFO), line)
        except Exception:  # the host's log is a courtesy copy; the file is the record
            pass
        return event_dict


def audit_processors(
    *, echo: Echo | None = None, quiet_paths: Collection[str] = ()
) -> list[Processor]:
    """The chain: context, level, UTC ISO time, tracebacks without locals, redaction, JSON."""
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        # Always six fraction digits, so the strings sort in time order (jq sort_by(.ts)).
        structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%S.%fZ", utc=True, key="ts"),
        # Locals are off: a frame's locals may hold the presented key.
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        ),
        redact_secrets,
        order_common_fields,
    ]
    if echo is not None:
        chain.append(EchoToHost(echo, quiet_paths=quiet_paths))
    chain.append(structlog.processors.JSONRenderer(ensure_ascii=False))
    return chain


def _stderr_once(exc: BaseException | None) -> None:
    print(f"[http_endpoint] the audit log could not be written: {exc!r}", file=sys.stderr)


class AuditFileHandler(logging.handlers.RotatingFileHandler):
    """Rotating UTF-8 file; write errors are counted and reported once, never raised."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        backups: int,
        on_error: Callable[[BaseException | None], Any] = _stderr_once,
    ) -> None:
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        self.on_error = on_error
        self.failures = 0

    def handleError(self, record: logging.LogRecord) -> None:
        self.failures += 1
        if self.failures == 1:
            self.on_error(sys.exc_info()[1])


def file_sink(
    path: Path,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    on_error: Callable[[BaseException | None], Any] = _stderr_once,
) -> logging.Logger:
    """A private stdlib logger writing one JSON object per line to a rotating file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = logging.Logger(AUDIT_LOGGER_NAME, logging.INFO)
    handler = AuditFileHandler(path, max_bytes=max_bytes, backups=backups, on_error=on_error)
    handler.setFormatter(logging.Formatter("%(message)s"))
    sink.addHandler(handler)
    sink.propagate = False
    return sink


def close_sink(sink: logging.Logger) -> None:
    """Close the file; later lines go to a NullHandler (without any handler, stdlib
    logging would print them to stderr through ``logging.lastResort``)."""
    for handler in list(sink.handlers):
        sink.removeHandler(handler)
        handler.close()
    sink.addHandler(logging.NullHandler())


def create_audit_logger(
    sink: Any, *, echo: Echo | None = None, quiet_paths: Collection[str] = (), **initial: Any
) -> Any:
    """Wrap ``sink`` (a stdlib logger or anything with ``.info(str)``) in our chain."""
    return structlog.wrap_logger(
        sink,
        processors=audit_processors(echo=echo, quiet_paths=quiet_paths),
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
        **initial,
    )
