"""The callback dispatcher against httpx.MockTransport: shape, signature, retries, order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.callbacks import CallbackDispatcher, loggable_url
from asgi_app.errors import Unavailable
from asgi_app.models import Item, Record
from asgi_app.outbox import Outbox
from asgi_app.retry import RetryPolicy, parse_retry_after
from asgi_app.signing import new_secret, secret_bytes
from tests.harness import wait_until_async

from .conftest import ListSink

URL = "http://receiver.test/hook"
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


async def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200)


@dataclass
class Rig:
    """A dispatcher wired to a scripted MockTransport receiver."""

    tmp_path: Path
    secret: str = field(default_factory=new_secret)
    script: list[Handler] = field(default_factory=list)
    default: Handler = ok
    requests: list[httpx.Request] = field(default_factory=list)
    delivered: list[httpx.Request] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    sink: ListSink = field(default_factory=ListSink)
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(timeout=1, retries=2))
    capacity: int = 100

    def open(self) -> CallbackDispatcher:
        self.outbox = Outbox(self.tmp_path / "outbox.sqlite3")
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._handle))
        self.dispatcher = CallbackDispatcher(
            url=URL,
            key=secret_bytes(self.secret),
            outbox=self.outbox,
            client=self.client,
            policy=self.policy,
            capacity=self.capacity,
            log=AuditTrail(create_audit_logger(self.sink)),
            alert=self.alerts.append,
            rng=lambda: 0.5,
            sleep=self._sleep,
        )
        return self.dispatcher

    async def close(self) -> None:
        await self.dispatcher.aclose()
        await self.client.aclose()
        self.outbox.close()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.delivered]

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.script.pop(0) if self.script else self.default
        response = await handler(request)
        if response.status_code == 200:
            self.delivered.append(request)
        return response

    async def _sleep(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path)
    rig.open()
    yield rig
    await rig.close()


def status(code: int, headers: dict[str, str] | None = None) -> Handler:
    async def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, headers=headers)

    return respond


async def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("receiver too slow", request=request)


async def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def record(msg_id: str = "m1", sender: str = "u1") -> Record:
    return Record((sender, msg_id), sender)


async def settled(rig: Rig) -> None:
    """Every queued delivery delivered or dead-lettered (bounded, never a fixed sleep)."""
    async with asyncio.timeout(5):
        await rig.dispatcher.wait_idle()
    assert rig.dispatcher.in_flight == 0


async def test_replies_and_done_arrive_in_the_seed_shape_signed(rig: Rig) -> None:
    """We expect one delivery per publish then a done delivery, verifiable by standardwebhooks."""
    rec = record()
    rig.dispatcher.accepted(rec, key_expires_at=2**40)
    rig.dispatcher.record_published(rec, [Item("text", "你好", item_id="abc")])
    rig.dispatcher.record_finished(rec)
    await settled(rig)
    first, last = rig.bodies()
    assert first["msg_id"] == "m1" and first["code"] == 0 and first["done"] is False
    assert first["data"] == [{"item_id": "abc", "type": "text", "content": "你好"}]
    assert first["sender_id"] == "u1" and first["api_key_ttl"] > 0
    assert last["data"] == [] and last["done"] is True and last["detail"] == "success"
    webhook = Webhook(rig.secret)
    for request in rig.delivered:
        assert webhook.verify(request.content, dict(request.headers)) == json.loads(request.content)
    assert rig.outbox.pending_count == 0


async def test_tampered_body_fails_verification(rig: Rig) -> None:
    rig.dispatcher.session_published("u1", [Item("text", "hi")])
    await settled(rig)
    [request] = rig.delivered
    with pytest.raises(Exception, match="signature"):
        Webhook(rig.secret).verify(request.content + b" ", dict(request.headers))


async def test_500_then_timeout_then_success_keeps_the_webhook_id(rig: Rig) -> None:
    """Two failures, the third attempt lands; every attempt carries the same webhook-id."""
    rig.script = [status(500), timeout]
    rig.dispatcher.session_published("u1", [Item("text", "hi")])
    await settled(rig)
    assert len(rig.requests) == 3 and len(rig.delivered) == 1
    assert len({r.headers["webhook-id"] for r in rig.requests}) == 1
    assert rig.delays == [0.75, 1.5]  # equal jitter with rng=0.5: 1 s → 0.75, 2 s → 1.5
    assert rig.outbox.pending_count == 0 and rig.outbox.dead_count() == 0
    assert [line["status"] for line in rig.sink.events("callback_attempt")] == [500, None, 200]


async def test_retry_after_is_honoured(rig: Rig) -> None:
    rig.script = [status(503, {"Retry-After": "7"})]
    rig.dispatcher.session_published("u1", [Item("text", "hi")])
    await settled(rig)
    assert rig.delays == [7.0]


async def test_exhausted_retries_make_a_dead_letter_that_replay_delivers(rig: Rig) -> None:
    """Never silently dropped: dead letter + alert; replay sends it again with its webhook-id."""
    rig.default = status(500)
    rig.dispatcher.session_published("u1", [Item("text", "hi")])
    await settled(rig)
    assert len(rig.requests) == 3
    [letter] = rig.dispatcher.dead_letters(10)
    assert letter.delivery.attempts == 3 and letter.last_error == "HTTP 500"
    assert rig.alerts and letter.delivery.webhook_id in rig.alerts[0]
    rig.default = ok
    [revived] = rig.dispatcher.replay([letter.delivery.webhook_id])
    await settled(rig)
    assert rig.delivered[-1].headers["webhook-id"] == letter.delivery.webhook_id
    assert rig.outbox.dead_count() == 0 and rig.outbox.pending_count == 0


async def test_410_stops_retrying_at_once(rig: Rig) -> None:
    rig.script = [status(410)]
    rig.dispatcher.session_published("u1", [Item("text", "hi")])
    await settled(rig)
    assert len(rig.requests) == 1 and rig.outbox.dead_count() == 1


async def test_one_message_is_in_order_and_others_do_not_wait(rig: Rig) -> None:
    """A stuck delivery of m1 holds back m1's next one but not m2's."""
    release = asyncio.Event()

    async def stuck(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    rig.script = [stuck]
    slow, fast = record("m1"), record("m2")
    rig.dispatcher.record_published(slow, [Item("text", "m1-a")])
    rig.dispatcher.record_published(slow, [Item("text", "m1-b")])
    rig.dispatcher.record_published(fast, [Item("text", "m2-a")])
    await wait_until_async(lambda: len(rig.delivered) == 1, 5, 0.001, "m2 delivered")
    assert rig.bodies()[0]["data"][0]["content"] == "m2-a"
    release.set()
    await settled(rig)
    assert [b["data"][0]["content"] for b in rig.bodies()] == ["m2-a", "m1-a", "m1-b"]


async def test_pending_deliveries_resume_in_order_after_a_restart(rig: Rig) -> None:
    """What a stopped dispatcher left in the outbox is delivered by the next one, in order."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    rig.default = hang
    rec = record()
    for text in ("one", "two", "three"):
        rig.dispatcher.record_published(rec, [Item("text", text)])
    await wait_until_async(lambda: len(rig.requests) == 1, 5, 0.001, "a first attempt")
    ids = [r.headers["webhook-id"] for r in rig.requests]
    await rig.close()  # like a crash: the lane stops mid-attempt, the rows stay
    rig.default = ok
    rig.open()
    assert rig.outbox.pending_count == 3
    assert rig.dispatcher.start() == 3
    await settled(rig)
    assert [b["data"][0]["content"] for b in rig.bodies()] == ["one", "two", "three"]
    assert rig.delivered[0].headers["webhook-id"] == ids[0]
    assert rig.outbox.pending_count == 0


async def test_full_outbox_refuses_new_messages(tmp_path: Path) -> None:
    rig = Rig(tmp_path, capacity=1, default=refused, policy=RetryPolicy(timeout=1, retries=50))
    rig.open()
    rig.dispatcher.ensure_room()
    rig.dispatcher.session_published("u1", [Item("text", "hi")])
    with pytest.raises(Unavailable) as caught:
        rig.dispatcher.ensure_room()
    assert caught.value.headers["Retry-After"] == "30"
    await rig.close()


async def test_bot_initiated_messages_use_the_session_msg_id(rig: Rig) -> None:
    rig.dispatcher.session_published("u9", [Item("text", "reminder")])
    await settled(rig)
    [body] = rig.bodies()
    assert body["msg_id"] == "session:u9" and body["done"] is True


async def test_timed_out_record_says_so_in_the_done_delivery(rig: Rig) -> None:
    rec = record()
    rec.finish(timed_out=True)
    rig.dispatcher.record_finished(rec)
    await settled(rig)
    assert "did not finish" in rig.bodies()[0]["detail"]


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(backoff=1, backoff_max=5)
    assert [policy.delay(n, None, lambda: 0.0) for n in range(4)] == [0.5, 1.0, 2.0, 2.5]
    assert [policy.delay(n, None, lambda: 1.0) for n in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.delay(0, 100.0, lambda: 0.0) == 5


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12", now=0) == 12
    assert parse_retry_after("\u00b2", now=0) is None  # a Unicode "digit" is not a number
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=30) == 30
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after(None, now=0) is None


def test_logged_callback_url_hides_credentials_and_query() -> None:
    url = "https://user:pw@hooks.example.com:8443/in?token=s3cret#x"
    assert loggable_url(url) == "https://hooks.example.com:8443/in"


async def test_a_reply_after_the_adapter_stopped_is_reported_not_raised(rig: Rig) -> None:
    """A pipeline may still send after shutdown: no exception into AstrBot, an alert instead."""
    dispatcher = rig.dispatcher
    await rig.close()
    dispatcher.session_published("FriendMessage:u9", [Item("text", "too late")])
    assert any("after the adapter stopped" in alert for alert in rig.alerts)
