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
from astrbot.api.platform import Platform, PlatformMetadata, register_platform_adapter
from astrbot.core.platform.message_session import MessageSession
from astrbot.core.utils.astrbot_path import get_astrbot_plugin_data_path

from ..asgi_app.app import create_app
from ..asgi_app.audit import close_sink, create_audit_logger, file_sink
from ..asgi_app.gateway import Gateway, Submission
from ..asgi_app.keys import KeyManager
from ..asgi_app.routes import Handlers
from ..asgi_app.settings import ADAPTER_TYPE, HEP_PREFIX, Settings, SettingsError, parse_settings
from .config_schema import CONFIG_METADATA, DEFAULT_CONFIG_TEMPLATE, I18N_RESOURCES
from .config_store import save_platform_config
from .convert import to_astrbot_message, to_items
from .event import HttpEndpointEvent
from .mount import Mount, wait_for_dashboard

PLUGIN_NAME = "astrbot_plugin_http_endpoint"
DISPLAY_NAME = "HTTP Endpoint"
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
        self._mount: Mount | None = None

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
            raise self._settings_error
        settings = self._settings
        data_dir = plugin_data_dir()
        keys = KeyManager(
            platform_id=settings.platform_id,
            state_file=data_dir / "keys" / f"{_file_safe(settings.platform_id)}.json",
            ttl=settings.api_key_ttl,
            grace=settings.key_grace,
        )
        new_key = keys.ensure(str(settings.api_key))
        if new_key is not None:
            self._write_key(new_key)
        sink = file_sink(data_dir / "audit.log")
        audit = create_audit_logger(sink).bind(platform_id=settings.platform_id)
        self._gateway = gateway = Gateway(
            queue_size=settings.queue_size,
            cache_size=settings.cache_size,
            cache_ttl=settings.cache_ttl,
            reply_deadline=settings.reply_deadline,
        )
        handlers = Handlers(
            settings=settings,
            gateway=gateway,
            keys=keys,
            audit=audit,
            on_key_issued=self._write_key,
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
            logger.info(f"[http_endpoint] {settings.platform_id} serving POST {settings.chat_path}")
            while True:
                self._commit(await gateway.next_submission())
        finally:
            self._shutdown()
            close_sink(sink)

    async def terminate(self) -> None:
        """Stop serving at once; AstrBot cancels ``run()`` right after this returns."""
        self._shutdown()

    async def send_by_session(self, session: MessageSession, message_chain: MessageChain) -> None:
        """Bot-initiated messages (cron, reminders, other plugins) for this platform."""
        if self._gateway is None:
            logger.warning("[http_endpoint] proactive message dropped: the adapter is not running")
        else:
            self._gateway.publish_to_session(session.session_id, to_items(message_chain.chain))
        await super().send_by_session(session, message_chain)

    def _commit(self, submission: Submission) -> None:
        assert self._gateway is not None
        message = to_astrbot_message(submission.inbound, self_id=self.meta().id)
        event = HttpEndpointEvent(
            message.message_str,
            message,
            self.meta(),
            message.session_id,
            gateway=self._gateway,
            record=submission.record,
        )
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
        if self._gateway is not None:
            self._gateway.close()


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or ADAPTER_TYPE
