"""Callback mode through the HTTP app: acknowledge at once, deliver replies, dead-letter API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_app.app import create_app
from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.callbacks import CallbackDispatcher
from asgi_app.gateway import Gateway
from asgi_app.keys import KeyManager
from asgi_app.outbox import Outbox
from asgi_app.retry import RetryPolicy
from asgi_app.routes import Handlers
from asgi_app.settings import SettingsError, parse_settings
from asgi_app.signing import new_secret, secret_bytes
from tests.harness import wait_until_async

from .conftest import BASE_URL, CHAT, FakeBot, ListSink

DEAD = "/api/plug/hep/callbacks/dead_letters"


@dataclass
class CallbackApp:
    client: httpx.AsyncClient
    bot: FakeBot
    dispatcher: CallbackDispatcher
    outbox: Outbox
    received: list[dict[str, Any]]
    statuses: list[int]
    key: str

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def chat(self, msg_id: str, query: str = "hi") -> httpx.Response:
        body = {"msg_id": msg_id, "type": "text", "query": query, "sender_id": "u1"}
        return await self.client.post(CHAT, json=body, headers=self.auth())


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[CallbackApp]:
    received: list[dict[str, Any]] = []
    statuses: list[int] = []

    async def receiver(request: httpx.Request) -> httpx.Response:
        code = statuses.pop(0) if statuses else 200
        if code == 0:  # a receiver that never answers (the attempt is pending)
            await asyncio.Event().wait()
        if code == 200:
            received.append(json.loads(request.content))
        return httpx.Response(code)

    settings = parse_settings(
        {"id": "hep_test", "hep_callback_switch": True, "hep_callback_url": "http://r.test/"}
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    http = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    dispatcher = CallbackDispatcher(
        url=settings.callback_url,
        key=secret_bytes(new_secret()),
        outbox=outbox,
        client=http,
        policy=RetryPolicy(timeout=1, retries=1, backoff=0, backoff_max=0),
        capacity=2,
        log=AuditTrail(create_audit_logger(ListSink())),
        alert=lambda message: None,
    )
    gateway = Gateway(
        queue_size=10, cache_size=100, cache_ttl=60, reply_deadline=60, sink=dispatcher
    )
    keys = KeyManager(platform_id="hep_test", state_file=tmp_path / "keys.json", ttl=3600)
    key = keys.ensure("")
    assert key is not None
    audit = AuditTrail(create_audit_logger(ListSink()))
    handlers = Handlers(settings, gateway, keys, audit, lambda key: None, callbacks=dispatcher)
    bot = FakeBot(gateway)
    task = asyncio.create_task(bot.run())
    transport = httpx.ASGITransport(app=create_app(handlers))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield CallbackApp(client, bot, dispatcher, outbox, received, statuses, key)
    task.cancel()
    await dispatcher.aclose()
    await http.aclose()
    outbox.close()


async def delivered(app: CallbackApp, count: int) -> list[dict[str, Any]]:
    await wait_until_async(lambda: len(app.received) >= count, 5, 0.005, f"{count} deliveries")
    return app.received


async def test_post_is_acknowledged_and_replies_are_posted_back(app: CallbackApp) -> None:
    """We expect 200 with data [] and done false, then the reply and a done delivery."""
    response = await app.chat("m1", "你好")
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == [] and body["done"] is False and body["msg_id"] == "m1"
    reply, done = await delivered(app, 2)
    assert reply["msg_id"] == "m1" and reply["data"][0]["content"] == "echo: 你好"
    assert done == {**done, "msg_id": "m1", "data": [], "done": True}


async def test_repeat_post_does_not_run_the_pipeline_again(app: CallbackApp) -> None:
    await app.chat("m1")
    await delivered(app, 2)
    again = await app.chat("m1")
    assert again.status_code == 200 and again.json()["done"] is True
    assert len(app.bot.seen) == 1 and len(app.received) == 2


async def test_full_outbox_answers_503_with_retry_after(app: CallbackApp) -> None:
    app.statuses.append(0)  # the receiver hangs: m1's reply and done stay pending
    await app.chat("m1")
    await wait_until_async(lambda: app.outbox.pending_count >= 2, 5, 0.005, "a full outbox")
    response = await app.chat("m2")
    assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
    repeat = await app.chat("m1")  # an accepted message is acknowledged again, never refused
    assert repeat.status_code == 200
    assert len(app.bot.seen) == 1


async def test_dead_letters_can_be_listed_and_replayed(app: CallbackApp) -> None:
    app.statuses.extend([500, 500, 500, 500])  # both deliveries of m1 fail twice
    await app.chat("m1")
    await wait_until_async(lambda: app.outbox.dead_count() == 2, 5, 0.005, "two dead letters")
    listed = await app.client.get(DEAD, headers=app.auth())
    assert listed.status_code == 200
    letters = listed.json()["data"]
    assert [json.loads(d["body"])["done"] for d in letters] == [False, True]
    assert all(d["last_error"] == "HTTP 500" and d["attempts"] == 2 for d in letters)
    replay = await app.client.post(DEAD + "/replay", headers=app.auth())
    assert replay.status_code == 200 and len(replay.json()["data"]) == 2
    reply, done = await delivered(app, 2)
    assert reply["data"][0]["content"] == "echo: hi" and done["done"] is True


async def test_dead_letter_api_needs_the_key_and_validates(app: CallbackApp) -> None:
    assert (await app.client.get(DEAD)).status_code == 401
    for limit in ("%C2%B2", "-1", "x"):  # "²" counts as a digit to str.isdigit, not to int()
        odd = await app.client.get(DEAD + f"?limit={limit}", headers=app.auth())
        assert odd.status_code == 400, limit
    bad = await app.client.get(DEAD + "?limit=0", headers=app.auth())
    assert bad.status_code == 400
    wrong = await app.client.post(DEAD + "/replay", json={"webhook_ids": "x"}, headers=app.auth())
    assert wrong.status_code == 400
    none = await app.client.post(DEAD + "/replay", json={"webhook_ids": []}, headers=app.auth())
    assert none.json()["data"] == []


@pytest.mark.parametrize(
    "url",
    ["", "ftp://x.test/", "http://", "x.test/hook", "http://a.test:abc/", "http://a\u00ad.test/"],
)
def test_callback_mode_needs_an_http_url(url: str) -> None:
    """Refused at start, as the HTTP client would refuse it, without echoing the URL."""
    with pytest.raises(SettingsError, match="hep_callback_url") as caught:
        parse_settings({"hep_callback_switch": "true", "hep_callback_url": url + "?token=s3cret"})
    assert "s3cret" not in str(caught.value)


def test_callback_url_is_not_checked_when_the_switch_is_off() -> None:
    assert parse_settings({"hep_callback_url": "nonsense"}).callback_switch is False


@pytest.mark.parametrize("secret", ["whsec_short", "whsec_!!!", "x" * 200])
def test_malformed_secret_is_a_settings_error(secret: str) -> None:
    with pytest.raises(SettingsError, match="hep_callback_secret"):
        parse_settings({"hep_callback_secret": secret})


def test_callback_numbers_are_parsed_from_text() -> None:
    settings = parse_settings(
        {"hep_callback_timeout": "2.5", "hep_callback_retries": 0, "hep_outbox_size": "5"}
    )
    assert (settings.callback_timeout, settings.callback_retries) == (2.5, 0)
    assert settings.outbox_size == 5
