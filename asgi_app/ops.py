"""Operator endpoints: ``/api/plug/hep/health`` (public) and ``/api/plug/hep/metrics`` (key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .metrics import Metrics
from .settings import HEP_PREFIX

HEALTH_PATH = f"{HEP_PREFIX}/health"
METRICS_PATH = f"{HEP_PREFIX}/metrics"
UNHEALTHY_RETRY_AFTER = 5


class Intake(Protocol):
    @property
    def accepting(self) -> bool: ...

    @property
    def closed(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class OpsHandlers:
    """Health and metrics, closed over what they report on.

    Args:
        intake: the gateway (can it take a message now? is it stopping?).
        metrics: the instance's metrics.
    """

    intake: Intake
    metrics: Metrics

    def routes(self) -> list[Route]:
        return [
            Route(HEALTH_PATH, self.health, methods=["GET"]),
            Route(METRICS_PATH, self.metrics_text, methods=["GET"]),
        ]

    async def health(self, request: Request) -> JSONResponse:
        """200 ``{"status": "ok"}`` while messages are taken; 503 when stopping or full.

        Deliberately says nothing else (no counts, versions or ids): it is public.
        """
        if self.intake.accepting:
            return JSONResponse({"status": "ok"})
        reason = "stopping" if self.intake.closed else "busy"
        return JSONResponse(
            {"status": "unavailable", "reason": reason},
            status_code=503,
            headers={"Retry-After": str(UNHEALTHY_RETRY_AFTER)},
        )

    async def metrics_text(self, request: Request) -> Response:
        """Prometheus exposition (text 0.0.4 by default, OpenMetrics when asked for)."""
        body, content_type = self.metrics.render(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})
