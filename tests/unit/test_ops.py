"""Health (public) and Prometheus metrics (key): content types, status codes and counts."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from asgi_app.metrics import Metrics
from tests.unit.conftest import CHAT, Harness

HEALTH = "/api/plug/hep/health"
METRICS = "/api/plug/hep/metrics"
BODY = {"msg_id": "m1", "type": "text", "query": "hi", "sender_id": "alice"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def scrape(harness: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await harness.client.get(METRICS, headers=harness.auth())
    assert resp.status_code == 200
    return samples(resp.text)


async def test_health_is_public_and_says_only_ok(harness: Harness) -> None:
    """We expect 200 {"status": "ok"} as JSON without any key."""
    resp = await harness.client.get(HEALTH)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"status": "ok"}
    assert (await harness.client.head(HEALTH)).status_code == 200


async def test_health_is_503_while_stopping(harness: Harness) -> None:
    """We expect 503 with Retry-After once the gateway is closed."""
    harness.gateway.close()
    resp = await harness.client.get(HEALTH)
    assert resp.status_code == 503
    assert resp.json() == {"status": "unavailable", "reason": "stopping"}
    assert resp.headers["retry-after"] == "5"


@pytest.mark.parametrize("settings_overrides", [{"hep_queue_size": "1", "hep_wait_timeout": "0"}])
async def test_health_is_503_when_the_inbound_queue_is_full(harness: Harness) -> None:
    """We expect busy once AstrBot stops taking messages and the queue fills up."""
    harness.bot_task.cancel()
    await asyncio.gather(harness.bot_task, return_exceptions=True)
    assert (await harness.chat(BODY)).status_code == 202
    resp = await harness.client.get(HEALTH)
    assert resp.status_code == 503 and resp.json()["reason"] == "busy"
    assert (await scrape(harness))[("hep_inbound_queue_depth", ())] == 1


async def test_metrics_need_a_key(harness: Harness) -> None:
    """We expect the usual 401 envelope without a key."""
    resp = await harness.client.get(METRICS)
    assert resp.status_code == 401
    assert resp.json()["code"] != 0


async def test_metrics_are_prometheus_text_with_request_counts(harness: Harness) -> None:
    """We expect text format 0.0.4 and counters by route template, method and status."""
    for n in range(3):
        assert (await harness.chat({**BODY, "msg_id": f"m{n}"})).status_code == 200
    await harness.client.post(CHAT, json=BODY)  # no key: 401
    await harness.client.get("/api/plug/hep/nothing-here", headers=harness.auth())
    resp = await harness.client.get(METRICS, headers=harness.auth())
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    got = samples(resp.text)
    chat = "/api/plug/v1/chat"
    ok = (("method", "POST"), ("route", chat), ("status", "200"))
    assert got[("hep_http_requests_total", ok)] == 3
    assert (
        got[("hep_http_requests_total", (("method", "POST"), ("route", chat), ("status", "401")))]
        == 1
    )
    assert (
        got[("hep_http_requests_total", (("method", "GET"), ("route", "other"), ("status", "404")))]
        == 1
    )
    assert got[("hep_http_request_duration_seconds_count", (("route", chat),))] == 4
    assert got[("hep_reply_records", ())] == 3
    assert got[("hep_inbound_queue_depth", ())] == 0
    assert got[("hep_callback_deliveries_total", (("outcome", "delivered"),))] == 0
    assert got[("hep_callback_dead_letters_total", ())] == 0
    assert got[("hep_callback_outbox_size", ())] == 0


async def test_callback_hooks_show_in_the_metrics(harness: Harness) -> None:
    """We expect the hooks issue 4 calls to move the right series."""
    harness.metrics.callback_attempt("retry")
    harness.metrics.callback_attempt("delivered")
    harness.metrics.dead_letter()
    harness.metrics.watch_outbox(lambda: 7)
    got = await scrape(harness)
    assert got[("hep_callback_deliveries_total", (("outcome", "retry"),))] == 1
    assert got[("hep_callback_deliveries_total", (("outcome", "delivered"),))] == 1
    assert got[("hep_callback_dead_letters_total", ())] == 1
    assert got[("hep_callback_outbox_size", ())] == 7


async def test_openmetrics_when_asked_for(harness: Harness) -> None:
    """We expect content negotiation through the Accept header."""
    headers = {**harness.auth(), "Accept": "application/openmetrics-text; version=1.0.0"}
    resp = await harness.client.get(METRICS, headers=headers)
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    assert resp.text.endswith("# EOF\n")


def test_each_instance_has_its_own_registry(harness: Harness) -> None:
    """We expect two instances side by side (e.g. across a plugin reload) not to collide."""
    first, second = Metrics(harness.gateway), Metrics(harness.gateway)
    first.observe_request("/x", "GET", 200, 0.1)
    assert first.registry is not second.registry
    assert b'route="/x"' in first.render()[0]
    assert b'route="/x"' not in second.render()[0]
