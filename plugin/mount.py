"""Install our app in front of AstrBot's dashboard application, and take it out again.

Routes registered the ordinary plugin way sit behind the dashboard login, which
is why the original plugin handed out admin tokens. Instead a
:class:`PathDispatcher` wraps the callable the dashboard's server invokes on every
request (research §3.4): FastAPI era (AstrBot ≥ 4.26) ``asgi_app.middleware_stack``.
The dashboard is built after plugins load, so :func:`wait_for_dashboard` polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp

from ..asgi_app.dispatch import PathDispatcher

DASHBOARD_POLL_INTERVAL = 0.1
DASHBOARD_WAIT_TIMEOUT = 120.0


class MountError(RuntimeError):
    """The dashboard web server is not there to mount into."""


def find_dashboard_app() -> Any | None:
    """The FastAPI app hypercorn serves, or ``None`` while the dashboard is not built yet."""
    from astrbot.dashboard import server

    adapter = getattr(server, "APP", None)
    dashboard = getattr(adapter, "_dashboard_server", None)
    return getattr(dashboard, "asgi_app", None)


async def wait_for_dashboard(within: float = DASHBOARD_WAIT_TIMEOUT) -> Any:
    """Poll until the dashboard app exists (it is built after plugins and platforms load)."""
    try:
        async with asyncio.timeout(within):
            # AstrBot offers no "dashboard built" signal to wait on, so poll (bounded).
            while (app := find_dashboard_app()) is None:  # noqa: ASYNC110
                await asyncio.sleep(DASHBOARD_POLL_INTERVAL)
    except TimeoutError:
        raise MountError(
            f"AstrBot's dashboard web server did not appear within {within:.0f} s; "
            "the HTTP endpoint is served on the dashboard port, so enable the dashboard"
        ) from None
    return app


class Mount:
    """One installed dispatcher: ``install()`` once, ``uninstall()`` once.

    Args:
        dashboard_app: the dashboard's Starlette/FastAPI application.
        prefixes: full paths that belong to us.
        target: our ASGI application.
        owner: the platform id, so a stale layer of the same instance can be retired.
    """

    def __init__(
        self, dashboard_app: Any, *, prefixes: Sequence[str], target: ASGIApp, owner: str
    ) -> None:
        self._host = dashboard_app
        self._prefixes = prefixes
        self._target = target
        self._owner = owner
        self._dispatcher: PathDispatcher | None = None

    def install(self) -> None:
        host = self._host
        stack = host.middleware_stack or host.build_middleware_stack()
        for layer in _dispatcher_chain(stack):
            if layer.target is None:
                continue
            if layer.owner == self._owner:
                layer.target = None  # a stale layer of ours (e.g. from before a plugin reload)
            elif set(layer.prefixes) & {p.rstrip("/") for p in self._prefixes}:
                raise MountError(
                    f"paths {', '.join(self._prefixes)} are already served by the "
                    f"http_endpoint platform {layer.owner!r}; give each instance its own "
                    "hep_api_endpoint (only one instance can serve /api/plug/hep)"
                )
        self._dispatcher = PathDispatcher(
            stack, prefixes=self._prefixes, target=self._target, owner=self._owner
        )
        host.middleware_stack = self._dispatcher

    def uninstall(self) -> None:
        """Unwrap if we are still on top; otherwise become a pass-through layer."""
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is None:
            return
        if self._host.middleware_stack is dispatcher:
            self._host.middleware_stack = dispatcher.app
        dispatcher.target = None


def _dispatcher_chain(app: Any) -> list[PathDispatcher]:
    """Our dispatcher layers at the top of the ``.app`` chain (any plugin-reload generation)."""
    layers = []
    while getattr(app, "hep_dispatcher", False):
        layers.append(app)
        app = app.app
    return layers
