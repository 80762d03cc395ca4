"""Count every request by route template and status, and time it.

It sits outside bearer auth so refused requests count too; the route label is
found by matching the app's own routes here (auth answers before Starlette's
router would), which keeps the label set small: a path nobody routes is
``other``, never the raw path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import Metrics

UNMATCHED = "other"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route this request is for (ignoring the method), or ``other``."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            path = str(getattr(route, "path", UNMATCHED))
            return path.rstrip("/") or path
    return UNMATCHED


class MetricsMiddleware:
    """Observe route, method, status and duration of each HTTP request.

    Args:
        app: the wrapped ASGI app.
        metrics: where to record.
        routes: the app's routes, to name the route label.
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        routes: Sequence[BaseRoute],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._observe(scope, status, self.clock() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        try:
            route = route_label(self.routes, scope)
            method = scope["method"] if scope["method"] in KNOWN_METHODS else UNMATCHED
            self.metrics.observe_request(route, method, status, seconds)
        except Exception:  # metrics are best effort; never fail the request for them
            pass
