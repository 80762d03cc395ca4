"""AstrBot loads a plugin from ``main.py``: this shim registers the adapter and the Star.

Importing ``plugin.adapter`` runs ``@register_platform_adapter``; the Star keeps the
adapter instances in step with plugin reloads (see ``plugin/star.py``).
"""

from __future__ import annotations

from astrbot.api.star import Context, Star

from .plugin import adapter as _adapter  # noqa: F401  (registers the http_endpoint adapter)
from .plugin.star import PluginLifecycle


class HttpEndpointPlugin(Star):
    """The plugin object AstrBot instantiates; all work is delegated."""

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._lifecycle = PluginLifecycle(context)

    async def initialize(self) -> None:
        await self._lifecycle.start()

    async def terminate(self) -> None:
        await self._lifecycle.stop()
