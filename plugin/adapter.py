"""The ``http_endpoint`` platform adapter: AstrBot instantiates it from the config.

``run()`` builds the HTTP side (:func:`open_runtime`: keys, audit trail, gateway,
files, callbacks, the Starlette app), mounts it in front of the dashboard, then
turns queued client messages into AstrBot events until it is cancelled. Replies
flow back through :class:`HttpEndpointEvent` and :meth:`send_by_session`.
"""

from __future__ import annotations

import asyncio
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

from ..asgi_app.audit import AuditTrail
from ..asgi_app.gateway import Submission
from ..asgi_app.models import session_key
from ..asgi_app.runtime import Runtime, audit_file_name, open_runtime
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
DESCRIPTION = "通过 HTTP 接口与 AstrBot 对话（轮询 / 回调）。Talk to AstrBot over plain HTTP."
GENERATED_VALUES = {"hep_api_key": "API key", "hep_callback_secret": "callback signing secret"}


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
        self._runtime: Runtime | None = None
        self._mount: Mount | None = None
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
        self._runtime = runtime = open_runtime(
            settings,
            plugin_data_dir(),
            write_config=self._write_config_value,
            echo=logger.log,
            alert=lambda message: logger.error(f"[http_endpoint] {message}"),
        )
        try:
            self._mount = Mount(
                await wait_for_dashboard(),
                prefixes=[settings.chat_path, HEP_PREFIX],
                target=runtime.app,
                owner=settings.platform_id,
            )
            self._mount.install()
            runtime.audit.adapter_started(chat_path=settings.chat_path)
            logger.info(f"[http_endpoint] {settings.platform_id} serving POST {settings.chat_path}")
            while True:
                await self._commit(await runtime.gateway.next_submission())
        finally:
            await self._stop()

    async def terminate(self) -> None:
        """Stop serving at once; AstrBot cancels ``run()`` right after this returns."""
        await self._stop()

    async def send_by_session(self, session: MessageSession, message_chain: MessageChain) -> None:
        """Bot-initiated messages (cron, reminders, other plugins) for this platform."""
        runtime = self._runtime
        if runtime is None or runtime.closed:
            logger.warning("[http_endpoint] proactive message dropped: the adapter is not running")
        else:
            key = session_key(session.message_type == MessageType.GROUP_MESSAGE, session.session_id)
            base_url = runtime.settings.public_base_url or self._base_urls.get(key, "")
            maker = ItemMaker(runtime.files, base_url)
            runtime.gateway.publish_to_session(key, await maker.items(message_chain.chain))
        await super().send_by_session(session, message_chain)

    async def _commit(self, submission: Submission) -> None:
        runtime = self._runtime
        assert runtime is not None
        inbound = submission.inbound
        try:
            message, temp_files = await asyncio.to_thread(
                to_astrbot_message, inbound, self_id=self.meta().id
            )
        except Exception as exc:  # e.g. the disk is full while writing a data: file
            # One message must never end the loop that serves all the others.
            logger.error(f"[http_endpoint] message {inbound.msg_id!r} dropped: {exc!r}")
            runtime.gateway.finish(submission.record)
            return
        self._base_urls[inbound.session_id] = inbound.base_url
        event = HttpEndpointEvent(
            message.message_str,
            message,
            self.meta(),
            message.session_id,
            gateway=runtime.gateway,
            record=submission.record,
            maker=ItemMaker(runtime.files, inbound.base_url),
            show_tool_calls=runtime.settings.show_tool_calls,
            show_reasoning=runtime.settings.show_reasoning,
        )
        for path in temp_files:
            event.track_temporary_local_file(path)
        self.commit_event(event)

    def _write_config_value(self, name: str, value: str) -> None:
        """The only writes to the operator's config: generated values they need to copy."""
        self.config[name] = value
        save_platform_config()
        what = GENERATED_VALUES.get(name, name)
        logger.info(f"[http_endpoint] a new {what} was written to platform {self.meta().id!r}")

    async def _stop(self) -> None:
        """Unmount first (no new requests), then close what the runtime owns; idempotent."""
        if self._mount is not None:
            self._mount.uninstall()
            self._mount = None
            logger.info(f"[http_endpoint] {self.meta().id} stopped serving")
        if self._runtime is not None:
            await self._runtime.aclose()

    def _log_config_error(self, error: SettingsError) -> None:
        """The audit file gets the error too (default sizes: the config is what failed)."""
        platform_id = str(self.config.get("id") or ADAPTER_TYPE)
        audit = AuditTrail.to_file(
            plugin_data_dir() / audit_file_name(platform_id),
            platform_id=platform_id,
            max_bytes=int(DEFAULTS["hep_log_max_bytes"]),
            backups=int(DEFAULTS["hep_log_backups"]),
        )
        audit.config_error(error=str(error))
        audit.close()
