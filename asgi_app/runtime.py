"""Everything one running adapter instance owns, built from its settings and closed in one place.

The AstrBot side calls :func:`open_runtime` in ``run()`` and :meth:`Runtime.aclose`
when the platform stops; nothing here imports astrbot, so the whole HTTP side can
be assembled (and tested) without it. What must reach AstrBot (writing a generated
value into the operator's config, lines for AstrBot's log) comes in as callables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.applications import Starlette

from .app import create_app
from .audit import AuditTrail, Echo
from .callbacks import CallbackDispatcher, loggable_url, new_client
from .files import FileStore
from .gateway import Gateway
from .key_audit import ensure_key_audited
from .keys import KeyManager
from .metrics import Metrics
from .ops import HEALTH_PATH
from .outbox import Outbox
from .retry import RetryPolicy
from .routes import Handlers
from .settings import ADAPTER_TYPE, Settings
from .signing import new_secret, secret_bytes

WriteConfig = Callable[[str, str], None]
"""Persist ``(config key, generated value)`` into the operator's platform config."""


@dataclass
class Runtime:
    """The live pieces of one instance; ``app`` is what gets mounted."""

    settings: Settings
    audit: AuditTrail
    gateway: Gateway
    files: FileStore
    app: Starlette
    callbacks: CallbackDispatcher | None = None
    http: httpx.AsyncClient | None = None
    outbox: Outbox | None = None
    closed: bool = False

    async def aclose(self) -> None:
        """Finish waiters, stop deliveries (pending ones stay in the outbox), close files."""
        if self.closed:
            return
        self.closed = True
        self.gateway.close()
        self.files.close()
        if self.callbacks is not None:
            await self.callbacks.aclose()
        if self.http is not None:
            await self.http.aclose()
        if self.outbox is not None:
            self.outbox.close()
        self.audit.adapter_stopped()
        self.audit.close()


def open_runtime(
    settings: Settings,
    data_dir: Path,
    *,
    write_config: WriteConfig,
    echo: Echo | None = None,
    alert: Callable[[str], None] = lambda message: None,
) -> Runtime:
    """Build keys, audit trail, gateway, metrics, file store, callbacks and the app.

    Args:
        settings: the validated platform settings.
        data_dir: the plugin's data directory (keys, audit log, files, outbox live here).
        write_config: persists a generated key or callback secret into the config.
        echo: the audit trail's short lines for AstrBot's log.
        alert: operator-visible error lines (AstrBot's log), e.g. a dead letter.
    """
    name = file_safe(settings.platform_id)
    audit = AuditTrail.to_file(
        data_dir / audit_file_name(settings.platform_id),
        platform_id=settings.platform_id,
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        log_content=settings.log_content,
        echo=echo,
        quiet_paths={HEALTH_PATH},
    )
    keys = KeyManager(
        platform_id=settings.platform_id,
        state_file=data_dir / "keys" / f"{name}.json",
        ttl=settings.api_key_ttl,
        grace=settings.key_grace,
    )
    new_key = ensure_key_audited(keys, str(settings.api_key), audit)
    if new_key is not None:
        write_config("hep_api_key", new_key)
    callbacks, http, outbox = _open_callbacks(
        settings,
        data_dir / "callbacks" / f"{name}.sqlite3",
        audit=audit,
        write_config=write_config,
        alert=alert,
    )
    gateway = Gateway(
        queue_size=settings.queue_size,
        cache_size=settings.cache_size,
        cache_ttl=settings.cache_ttl,
        reply_deadline=settings.reply_deadline,
        observer=audit,
        sink=callbacks,
    )
    metrics = Metrics(gateway)
    if callbacks is not None and outbox is not None:
        callbacks.metrics = metrics
        metrics.watch_outbox(lambda: outbox.pending_count)
    files = FileStore(
        data_dir / "files" / name, ttl=settings.cache_ttl, max_bytes=settings.files_max_bytes
    )
    handlers = Handlers(
        settings=settings,
        gateway=gateway,
        keys=keys,
        audit=audit,
        on_key_issued=lambda key: write_config("hep_api_key", key),
        metrics=metrics,
        files=files,
        callbacks=callbacks,
    )
    runtime = Runtime(
        settings, audit, gateway, files, create_app(handlers), callbacks, http, outbox
    )
    if callbacks is not None:  # last: nothing after it can fail and leave lanes unowned
        resumed = callbacks.start()
        audit.info("callbacks_started", url=loggable_url(settings.callback_url), resumed=resumed)
    return runtime


def _open_callbacks(
    settings: Settings,
    outbox_file: Path,
    *,
    audit: AuditTrail,
    write_config: WriteConfig,
    alert: Callable[[str], None],
) -> tuple[CallbackDispatcher | None, httpx.AsyncClient | None, Outbox | None]:
    """Callback mode: outbox, one long-lived HTTP client, dispatcher; resume what is pending."""
    if not settings.callback_switch:
        return None, None, None
    secret = str(settings.callback_secret)
    if not secret:
        secret = new_secret()
        write_config("hep_callback_secret", secret)
    outbox = Outbox(outbox_file)
    http = new_client()
    callbacks = CallbackDispatcher(
        url=settings.callback_url,
        key=secret_bytes(secret),
        outbox=outbox,
        client=http,
        policy=RetryPolicy(
            timeout=settings.callback_timeout,
            retries=settings.callback_retries,
            backoff=settings.callback_backoff,
            backoff_max=settings.callback_backoff_max,
        ),
        capacity=settings.outbox_size,
        log=audit,
        alert=alert,
    )
    return callbacks, http, outbox


def audit_file_name(platform_id: str) -> str:
    """``audit.log`` for the default instance; one file per other instance (own rotation)."""
    if platform_id == ADAPTER_TYPE:
        return "audit.log"
    return f"audit.{file_safe(platform_id)}.log"


def file_safe(name: str) -> str:
    """A platform id as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or ADAPTER_TYPE
