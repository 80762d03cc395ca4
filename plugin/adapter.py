"""The ``http_endpoint`` platform adapter: AstrBot instantiates it from the config.

``run()`` builds the HTTP side (keys, gateway, Starlette app), mounts it in front
of the dashboard, then turns queued client messages into AstrBot events until it
is cancelled. Replies flow back through :class:`HttpEndpointEvent`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from astrbot.api import logger
from astrbot.api.event import MessageChain
from astrbot.api.platform import (
    MessageType,
    Platform,
    PlatformMetadata,
    register_platform_adapter,
)
from astrbot.core.platform.message_session import MessageSession
from astrbot.core.utils.astrbot_path import get_astrbot_plugin_data_path
from cachetools import TTLCache

from ..asgi_app.app import create_app
from ..asgi_app.audit import AuditTrail
from ..asgi_app.files import FileStore
from ..asgi_app.gateway import Gateway, Submission
from ..asgi_app.key_audit import ensure_key_audited
from ..asgi_app.keys import KeyManager
from ..asgi_app.metrics import Metrics
from ..asgi_app.models import session_key
from ..asgi_app.ops import HEALTH_PATH
from ..asgi_app.routes import Handlers
from ..asgi_app.settings import (
    ADAPTER_TYPE,
    DEFAULTS,
    HEP_PREFIX,
    Settings,
    SettingsError,
    parse_settings,
)
from .config_schema import CONFIG_METADATA, DEFAULT_CONFIG_TEMPLATE, I18N_RESOURCES
from .config_store import save_platform_config
from .convert import to_astrbot_message
from .event import HttpEndpointEvent
from .mount import Mount, wait_for_dashboard
from .outbound import ItemMaker

PLUGIN_NAME = "astrbot_plugin_http_endpoint"
DISPLAY_NAME = "HTTP Endpoint"
DEFAULT_LOG_MAX_BYTES = int(DEFAULTS["hep_log_max_bytes"])
DEFAULT_LOG_BACKUPS = int(DEFAULTS["hep_log_backups"])
DESCRIPTION = "通过 HTTP 接口与 AstrBot 对话（轮询 / 回调）。Talk to AstrBot over plain HTTP."


def plugin_data_dir() -> Path:
    return Path(get_astrbot_plugin_data_path()) / PLUGIN_NAME


@register_platform_adapter(
    ADAPTER_TYPE,
    DESCRIPTION,
    default_config_tmpl=DEFAULT_CONFIG_TEMPLATE,
    adapter_display_name=DISPLAY_NAME,
    support_streaming_message=True,
    config_metadata=CONFIG_METADATA,
    i18n_resources=I18N_RESOURCES,
)
class HttpEndpointAdapter(Platform):
    """Serves ``/api/plug/<hep_api_endpoint>`` and ``/api/plug/hep/...`` for one config entry."""

    def __init__(
        self,
        platform_config: dict[str, Any],
        platform_settings: dict[str, Any],
        event_queue: asyncio.Queue[Any],
    ) -> None:
        super().__init__(platform_config, event_queue)
        self._settings: Settings | None = None
        self._settings_error: SettingsError | None = None
        try:
            self._settings = parse_settings(platform_config)
        except SettingsError as exc:
            # Raised from run() so AstrBot records it as this platform's error and keeps running.
            self._settings_error = exc
        self._gateway: Gateway | None = None
        self._metrics: Metrics | None = None
        self._mount: Mount | None = None
        self._files: FileStore | None = None
        self._base_urls: TTLCache[str, str] = TTLCache(maxsize=4096, ttl=86400)
        """Session → the origin its last message came from, for bot-initiated file links."""

    def meta(self) -> PlatformMetadata:
        return PlatformMetadata(
            name=ADAPTER_TYPE,
            description=DESCRIPTION,
            id=str(self.config.get("id") or ADAPTER_TYPE),
            adapter_display_name=DISPLAY_NAME,
            support_streaming_message=True,
            support_proactive_message=True,
        )

    async def run(self) -> None:
        if self._settings is None:
            assert self._settings_error is not None
            logger.error(f"[http_endpoint] invalid configuration: {self._settings_error}")
            self._log_config_error(self._settings_error)
            raise self._settings_error
        settings = self._settings
        data_dir = plugin_data_dir()
        audit = AuditTrail.to_file(
            data_dir / audit_file_name(settings.platform_id),
            platform_id=settings.platform_id,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
            log_content=settings.log_content,
            echo=_echo,
            quiet_paths={HEALTH_PATH},
        )
        keys = KeyManager(
            platform_id=settings.platform_id,
            state_file=data_dir / "keys" / f"{_file_safe(settings.platform_id)}.json",
            ttl=settings.api_key_ttl,
        )
        new_key = ensure_key_audited(keys, str(settings.api_key), audit)
        if new_key is not None:
            self._write_key(new_key)
        self._gateway = gateway = Gateway(
            queue_size=settings.queue_size,
            cache_size=settings.cache_size,
            cache_ttl=settings.cache_ttl,
            reply_deadline=settings.reply_deadline,
            observer=audit,
        )
        # Wiring point for callbacks (issue 4): metrics.watch_outbox(...), and the
        # delivery worker calls metrics.callback_attempt / audit.callback_attempt.
        self._metrics = Metrics(gateway)
        self._files = FileStore(
            data_dir / "files" / _file_safe(settings.platform_id),
            ttl=settings.cache_ttl,
            max_bytes=settings.files_max_bytes,
        )
        handlers = Handlers(
            settings=settings,
            gateway=gateway,
            keys=keys,
            audit=audit,
            on_key_issued=self._write_key,
            metrics=self._metrics,
            files=self._files,
        )
        try:
            dashboard = await wait_for_dashboard()
            self._mount = Mount(
                dashboard,
                prefixes=[settings.chat_path, HEP_PREFIX],
                target=create_app(handlers),
                owner=settings.platform_id,
            )
            self._mount.install()
            audit.adapter_started(chat_path=settings.chat_path)
            logger.info(f"[http_endpoint] {settings.platform_id} serving POST {settings.chat_path}")
            while True:
                await self._commit(await gateway.next_submission())
        finally:
            self._shutdown()
            audit.adapter_stopped()
            audit.close()

    async def terminate(self) -> None:
        """Stop serving at once; AstrBot cancels ``run()`` right after this returns."""
        self._shutdown()

    async def send_by_session(self, session: MessageSession, message_chain: MessageChain) -> None:
        """Bot-initiated messages (cron, reminders, other plugins) for this platform."""
        if self._gateway is None:
            logger.warning("[http_endpoint] proactive message dropped: the adapter is not running")
        else:
            key = session_key(session.message_type == MessageType.GROUP_MESSAGE, session.session_id)
            base_url = self._base_urls.get(key, "")
            if self._settings is not None and self._settings.public_base_url:
                base_url = self._settings.public_base_url
            maker = ItemMaker(self._files, base_url)
            self._gateway.publish_to_session(key, await maker.items(message_chain.chain))
        await super().send_by_session(session, message_chain)

    async def _commit(self, submission: Submission) -> None:
        assert self._gateway is not None and self._settings is not None
        inbound = submission.inbound
        try:
            message, temp_files = await asyncio.to_thread(
                to_astrbot_message, inbound, self_id=self.meta().id
            )
        except OSError as exc:  # e.g. the disk is full while writing a data: file
            logger.error(f"[http_endpoint] message {inbound.msg_id!r} dropped: {exc}")
            self._gateway.finish(submission.record)
            return
        self._base_urls[inbound.session_id] = inbound.base_url
        event = HttpEndpointEvent(
            message.message_str,
            message,
            self.meta(),
            message.session_id,
            gateway=self._gateway,
            record=submission.record,
            maker=ItemMaker(self._files, inbound.base_url),
            show_tool_calls=self._settings.show_tool_calls,
            show_reasoning=self._settings.show_reasoning,
        )
        for path in temp_files:
            event.track_temporary_local_file(path)
        self.commit_event(event)

    def _write_key(self, key: str) -> None:
        """The only write to the operator's config: the key they need to copy."""
        self.config["hep_api_key"] = key
        save_platform_config()
        logger.info(f"[http_endpoint] a new API key was written to platform {self.meta().id!r}")

    def _shutdown(self) -> None:
        if self._mount is not None:
            self._mount.uninstall()
            self._mount = None
            logger.info(f"[http_endpoint] {self.meta().id} stopped serving")
        if self._gateway is not None:
            self._gateway.close()
        if self._files is not None:
            self._files.close()

    def _log_config_error(self, error: SettingsError) -> None:
        """The audit file gets the error too (default sizes: the config is what failed)."""
        platform_id = str(self.config.get("id") or ADAPTER_TYPE)
        audit = AuditTrail.to_file(
            plugin_data_dir() / audit_file_name(platform_id),
            platform_id=platform_id,
            max_bytes=DEFAULT_LOG_MAX_BYTES,
            backups=DEFAULT_LOG_BACKUPS,
        )
        audit.config_error(error=str(error))
        audit.close()


def audit_file_name(platform_id: str) -> str:
    """``audit.log`` for the default instance; one file per other instance (own rotation)."""
    if platform_id == ADAPTER_TYPE:
        return "audit.log"
    return f"audit.{_file_safe(platform_id)}.log"


def _echo(level: int, line: str) -> None:
    """The audit line's short human form in AstrBot's log (this plugin's logger)."""
    logger.log(level, line)


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or ADAPTER_TYPE
