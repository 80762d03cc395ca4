"""Plugin lifecycle: keep exactly one running adapter per enabled config across reloads.

AstrBot's plugin hot-reload neither stops nor restarts platform adapters
(research §3.5): it only swaps the adapter class. So the plugin stops its own
instances when it is terminated, and starts the enabled ones when it is
initialised after start-up (the dashboard already exists then; at start-up the
platform manager loads them itself).
"""

from __future__ import annotations

from typing import Any

from astrbot.api import logger

from ..asgi_app.settings import ADAPTER_TYPE
from .mount import find_dashboard_app


class PluginLifecycle:
    """What the Star does on ``initialize()`` and ``terminate()``.

    Args:
        context: AstrBot's plugin context (platform manager and config).
    """

    def __init__(self, context: Any) -> None:
        self._context = context

    async def start(self) -> None:
        if find_dashboard_app() is None:
            return  # AstrBot is starting: its platform manager loads enabled adapters itself
        manager = self._context.platform_manager
        running = {inst.meta().id for inst in manager.platform_insts}
        for config in self._context.get_config().get("platform", []):
            if (
                config.get("type") == ADAPTER_TYPE
                and config.get("enable")
                and config.get("id") not in running
            ):
                logger.info(
                    f"[http_endpoint] starting platform {config.get('id')!r} after plugin load"
                )
                await manager.load_platform(config)

    async def stop(self) -> None:
        manager = self._context.platform_manager
        for inst in list(manager.platform_insts):
            meta = inst.meta()
            if meta.name == ADAPTER_TYPE:
                await manager.terminate_platform(meta.id)
