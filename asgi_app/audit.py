"""The audit logger: structlog JSON lines through a private processor chain.

Never ``structlog.configure()`` and never the root logger: AstrBot and other
plugins share the process. The sink is a stdlib logger that is *not* part of
the logging tree (built directly, no parent), so nothing propagates anywhere
we did not choose; a failing handler reports to stderr and never raises.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import Processor

AUDIT_LOGGER_NAME = "astrbot_plugin_http_endpoint.audit"


def audit_processors() -> list[Processor]:
    """The processor chain: context first, then level, UTC ISO time, JSON last."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.dict_tracebacks,
        structlog.processors.JSONRenderer(ensure_ascii=False),
    ]


def file_sink(path: Path, *, max_bytes: int = 10 * 1024 * 1024, backups: int = 5) -> logging.Logger:
    """A private stdlib logger writing one JSON object per line to a rotating file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = logging.Logger(AUDIT_LOGGER_NAME, logging.INFO)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    sink.addHandler(handler)
    sink.propagate = False
    return sink


def close_sink(sink: logging.Logger) -> None:
    for handler in list(sink.handlers):
        sink.removeHandler(handler)
        handler.close()


def create_audit_logger(sink: Any, **initial: Any) -> Any:
    """Wrap ``sink`` (a stdlib logger or anything with ``.info(str)``) in our chain."""
    return structlog.wrap_logger(
        sink,
        processors=audit_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
        **initial,
    )
