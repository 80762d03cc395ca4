"""Fixtures that drive ``asgi_app`` in-process, on the test's own event loop."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_app.app import create_app
from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.gateway import Gateway, Submission
from asgi_app.keys import KeyManager
from asgi_app.metrics import Metrics
from asgi_app.models import Item
from asgi_app.routes import Handlers
from asgi_app.settings import Settings, parse_settings

BASE_URL = "http://testserver"
CHAT = "/api/plug/v1/chat"


class ListSink:
    """Stands in for the audit file: keeps each JSON line, parsed."""

    def __init__(self) -> None:
        self.raw: list[str] = []

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == name]

    def _log(self, message: str) -> None:
        self.raw.append(message)

    debug = info = warning = error = critical = exception = msg = _log


Behaviour = Callable[[Submission, Gateway], Coroutine[Any, Any, None]]


async def echo(submission: Submission, gateway: Gateway) -> None:
    """What a trivial bot does: answer the text back, then finish."""
    gateway.publish(submission.record, [Item("text", f"echo: {submission.inbound.text}")])
    gateway.finish(submission.record)


@dataclass
class FakeBot:
    """Consumes the gateway's inbound queue like the adapter's run() loop does."""

    gateway: Gateway
    behaviour: Behaviour = echo
    seen: list[Submission] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            submission = await self.gateway.next_submission()
            self.seen.append(submission)
            asyncio.create_task(self.behaviour(submission, self.gateway))


@dataclass
class Harness:
    settings: Settings
    gateway: Gateway
    keys: KeyManager
    sink: ListSink
    bot: FakeBot
    client: httpx.AsyncClient
    issued: list[str]
    key: str
    bot_task: asyncio.Task[None]
    audit: AuditTrail
    metrics: Metrics

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def chat(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return await self.client.post(CHAT, json=body, headers=self.auth(key))


def make_settings(**overrides: Any) -> Settings:
    raw: dict[str, Any] = {"id": "hep_test", "hep_wait_timeout": "2"}
    raw.update(overrides)
    return parse_settings(raw)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def audit_sink() -> Any:
    """Where the harness's audit lines go; parametrize it to swap in a broken sink."""
    return ListSink()


KEY_SHAPE = re.compile(r"hep_[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
"""What one of our keys looks like; no audit line may contain one."""


def assert_no_secrets(lines: list[str], secrets: list[str]) -> None:
    """The audit lines hold no key (ours or any key-shaped string) and no signing secret."""
    text = "\n".join(lines)
    leaked = [s for s in secrets if s and s in text] + KEY_SHAPE.findall(text)
    assert not leaked, f"secrets in the audit trail: {leaked}"


@pytest.fixture
async def harness(
    tmp_path: Path, settings_overrides: dict[str, Any], audit_sink: Any
) -> AsyncIterator[Harness]:
    settings = make_settings(**settings_overrides)
    sink = audit_sink
    audit = AuditTrail(
        create_audit_logger(sink, platform_id=settings.platform_id),
        log_content=settings.log_content,
    )
    gateway = Gateway(
        queue_size=settings.queue_size,
        cache_size=settings.cache_size,
        cache_ttl=settings.cache_ttl,
        reply_deadline=settings.reply_deadline,
        observer=audit,
    )
    metrics = Metrics(gateway)
    keys = KeyManager(platform_id=settings.platform_id, state_file=tmp_path / "keys.json", ttl=3600)
    issued: list[str] = []
    handlers = Handlers(
        settings=settings,
        gateway=gateway,
        keys=keys,
        audit=audit,
        on_key_issued=issued.append,
        metrics=metrics,
    )
    app = create_app(handlers)
    bot = FakeBot(gateway)
    task = asyncio.create_task(bot.run())
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        key = keys.ensure("")
        assert key is not None
        yield Harness(settings, gateway, keys, sink, bot, client, issued, key, task, audit, metrics)
    task.cancel()
    gateway.close()
    if isinstance(sink, ListSink):
        # Every test that used the harness doubles as a secret scan of its audit lines.
        state = json.loads((tmp_path / "keys.json").read_text("utf-8"))
        assert_no_secrets(sink.raw, [key, *issued, state["secret"]])
