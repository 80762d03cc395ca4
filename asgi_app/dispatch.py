"""A tiny ASGI dispatcher that sends our paths to our app and the rest onwards.

It is installed in front of AstrBot's dashboard application (see
``plugin/mount.py``), so our routes are served on the dashboard's port without
its login, while every other path reaches the dashboard exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send


class PathDispatcher:
    """Forward ``prefix`` and ``prefix/...`` paths to ``target``, everything else to ``app``.

    ``app`` is the wrapped callable (named ``.app`` because FastAPI walks that chain).
    Setting ``target`` to ``None`` turns the dispatcher into a pass-through, which is
    how it retires when something else has been wrapped on top of it.

    Args:
        app: the application being wrapped.
        prefixes: full path prefixes that belong to ``target``.
        target: our application.
        owner: who installed it (the platform id), to find stale layers after a reload.
    """

    hep_dispatcher = True

    def __init__(
        self, app: ASGIApp, *, prefixes: Sequence[str], target: ASGIApp, owner: str
    ) -> None:
        self.app = app
        self.prefixes = tuple(p.rstrip("/") for p in prefixes)
        self.target: ASGIApp | None = target
        self.owner = owner

    def matches(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.target
        if (
            target is not None
            and scope["type"] in ("http", "websocket")
            and self.matches(scope["path"])
        ):
            await target(scope, receive, send)
            return
        await self.app(scope, receive, send)
