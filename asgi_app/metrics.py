"""Prometheus metrics in a registry private to one app instance.

Never the default global ``REGISTRY``: AstrBot or another plugin may use
prometheus-client too, and a plugin reload builds a new app whose metrics
must not collide with (or be added to) the old one's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds; a polling POST may legitimately wait up to ``hep_wait_timeout`` (30 s)."""

DELIVERY_OUTCOMES = ("delivered", "retry", "failed")


class GatewayStats(Protocol):
    @property
    def queue_depth(self) -> int: ...

    @property
    def record_count(self) -> int: ...

    @property
    def in_progress(self) -> int: ...


class Metrics:
    """The adapter's metrics; gauges read their sources at scrape time.

    Args:
        gateway: source of the inbound queue depth and the number of cached records.
        registry: where the metrics live; a new private one by default.
    """

    def __init__(self, gateway: GatewayStats, *, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "hep_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "hep_http_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        queue = Gauge("hep_inbound_queue_depth", "Messages waiting for AstrBot.", registry=r)
        queue.set_function(lambda: gateway.queue_depth)
        records = Gauge("hep_reply_records", "Reply records held in the cache.", registry=r)
        records.set_function(lambda: gateway.record_count)
        busy = Gauge(
            "hep_messages_in_progress",
            "Messages accepted whose pipeline has not finished (503 at hep_queue_size).",
            registry=r,
        )
        busy.set_function(lambda: gateway.in_progress)
        self.deliveries = Counter(
            "hep_callback_deliveries",
            "Callback delivery attempts, by outcome (delivered, retry, failed).",
            ["outcome"],
            registry=r,
        )
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome=outcome)  # present at 0 before the first delivery
        self.dead_letters = Counter(
            "hep_callback_dead_letters", "Callback deliveries given up on.", registry=r
        )
        self._outbox = Gauge("hep_callback_outbox_size", "Deliveries waiting.", registry=r)
        self._outbox.set_function(lambda: 0)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    # -- callback hooks (issue 4's delivery worker calls these) -------------------

    def callback_attempt(self, outcome: str) -> None:
        """Count one delivery attempt: ``delivered``, ``retry`` or ``failed``."""
        self.deliveries.labels(outcome=outcome).inc()

    def dead_letter(self) -> None:
        self.dead_letters.inc()

    def watch_outbox(self, size: Callable[[], int]) -> None:
        """Read the outbox size from ``size`` at every scrape."""
        self._outbox.set_function(size)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type, negotiated from ``Accept``."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
