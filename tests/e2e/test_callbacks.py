"""Callback mode end to end: real AstrBot, fake model, a local receiver on 127.0.0.1.

One AstrBot for the module, configured for callbacks with short timeouts and
backoff (1 s per attempt, 10 retries, 0.05 s doubling up to 0.5 s) so failures
play out in seconds. The last test SIGKILLs it and starts it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.webhook_receiver import Received, WebhookReceiver
from tests.harness import (
    PLUGIN_FOLDER,
    AstrBotProcess,
    FakeLLMProcess,
    platform_config,
    running_astrbot,
    wait_until,
)
from tests.harness.astrbot_root import REPO_ROOT, port_is_free

PLATFORM_ID = "hep_cb"
BROKEN_ID = "hep_cb_broken"
CHAT = "/api/plug/v1/chat"
DEAD = "/api/plug/hep/callbacks/dead_letters"
REPLY = "[fake-model] 你好！你说的是："
DEADLINE = 60.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def astrbot(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMProcess, receiver: WebhookReceiver
) -> Iterator[AstrBotProcess]:
    """AstrBot in callback mode; ``hep_callback_secret`` left empty so it is generated."""
    root = tmp_path_factory.mktemp("astrbot-callbacks")
    platform = {
        "id": PLATFORM_ID,
        "type": "http_endpoint",
        "enable": True,
        "hep_callback_switch": True,
        "hep_callback_url": receiver.url,
        "hep_callback_timeout": "1",
        "hep_callback_retries": "10",
        "hep_callback_backoff": "0.05",
        "hep_callback_backoff_max": "0.5",
    }
    broken = {  # callback mode without a URL: must fail alone, loudly, AstrBot running on
        "id": BROKEN_ID,
        "type": "http_endpoint",
        "enable": True,
        "hep_api_endpoint": "/v1/broken",
        "hep_callback_switch": True,
        "hep_callback_url": "",
    }
    with running_astrbot(
        root,
        llm_base_url=fake_llm.base_url,
        platform=[platform, broken],
        extra_plugins=[(REPO_ROOT / "tests" / "fakes" / "proactive_plugin", "hep_proactive")],
    ) as proc:
        yield proc


@pytest.fixture(scope="module")
def config(astrbot: AstrBotProcess, receiver: WebhookReceiver) -> dict[str, Any]:
    """The platform entry after start: the generated key and signing secret are in it."""
    entry = wait_until(
        lambda: _entry_with_secrets(astrbot.root), 30, message="generated key and secret"
    )
    receiver.secret = entry["hep_callback_secret"]
    return entry


def _entry_with_secrets(root: Path) -> dict[str, Any] | None:
    entry = platform_config(root, PLATFORM_ID)
    return entry if entry.get("hep_api_key") and entry.get("hep_callback_secret") else None


def post(astrbot: AstrBotProcess, config: dict[str, Any], msg_id: str, query: str = "hi") -> Any:
    body = {"msg_id": msg_id, "type": "text", "query": query, "sender_id": "cb-user"}
    headers = {"Authorization": f"Bearer {config['hep_api_key']}"}
    with httpx.Client(base_url=astrbot.base_url, trust_env=False, timeout=10) as client:
        return client.post(CHAT, json=body, headers=headers)


def delivered(receiver: WebhookReceiver, msg_id: str, count: int = 2) -> list[Received]:
    """Wait for ``count`` distinct deliveries (by webhook-id) of ``msg_id``; return them."""

    def enough() -> list[Received] | None:
        unique = {r.webhook_id: r for r in receiver.delivered(msg_id)}
        return list(unique.values()) if len(unique) >= count else None

    return wait_until(enough, DEADLINE, message=f"{count} deliveries of {msg_id}")


def outbox_rows(astrbot: AstrBotProcess) -> list[tuple[str, int]]:
    """(msg_id, failed attempts) of every pending delivery, read from the live outbox."""
    path = astrbot.root / "data" / "plugin_data" / PLUGIN_FOLDER / "callbacks"
    with sqlite3.connect(path / f"{PLATFORM_ID}.sqlite3", timeout=5) as db:
        return list(db.execute("SELECT msg_id, attempts FROM outbox ORDER BY seq"))


def test_reply_arrives_signed_in_the_seed_shape_then_done(
    astrbot: AstrBotProcess,
    config: dict[str, Any],
    receiver: WebhookReceiver,
    fake_llm: FakeLLMProcess,
) -> None:
    """We expect an instant ack, then the reply and a done delivery, both verifiable."""
    assert config["hep_callback_secret"].startswith("whsec_")
    response = post(astrbot, config, "cb-shape", "你好")
    assert response.status_code == 200
    ack = response.json()
    assert ack["msg_id"] == "cb-shape" and ack["data"] == [] and ack["done"] is False
    reply, done = delivered(receiver, "cb-shape")
    assert reply.verified and done.verified
    assert reply.payload["code"] == 0 and reply.payload["done"] is False
    [item] = reply.payload["data"]
    assert item["type"] == "text" and item["content"] == REPLY + "你好"
    assert len(item["item_id"]) == 10
    assert done.payload["data"] == [] and done.payload["done"] is True
    calls = len(fake_llm.calls())
    again = post(astrbot, config, "cb-shape", "你好")
    assert again.status_code == 200 and again.json()["data"] == []
    assert len(fake_llm.calls()) == calls  # the repeat never reached the pipeline
    assert len({r.webhook_id for r in receiver.delivered("cb-shape")}) == 2


def test_callback_mode_without_url_is_a_platform_error_and_astrbot_runs_on(
    astrbot: AstrBotProcess, config: dict[str, Any]
) -> None:
    """The broken entry reports its error on the platform and in the log; the other serves."""
    token = astrbot.login()
    with httpx.Client(base_url=astrbot.base_url, trust_env=False, timeout=10) as client:

        def broken_stats() -> dict[str, Any] | None:
            stats = client.get("/api/platform/stats", headers={"Authorization": f"Bearer {token}"})
            platforms = stats.json()["data"]["platforms"]
            found = [p for p in platforms if p["id"] == BROKEN_ID and p["last_error"]]
            return found[0] if found else None

        broken = wait_until(broken_stats, DEADLINE, message="the broken platform's error")
    assert broken["status"] == "error"
    assert "hep_callback_url" in broken["last_error"]["message"]
    assert "hep_callback_url: callback mode is on" in astrbot.log_text()
    assert astrbot.is_running()


def test_bot_initiated_message_is_delivered_under_the_session_msg_id(
    astrbot: AstrBotProcess, config: dict[str, Any], receiver: WebhookReceiver
) -> None:
    """A plugin's context.send_message reaches the receiver as msg_id session:<sender_id>."""
    post(astrbot, config, "cb-proactive", "/hep_proactive")
    [proactive] = delivered(receiver, "session:cb-user", count=1)
    assert proactive.verified and proactive.payload["done"] is True
    assert proactive.payload["data"][0]["content"] == "proactive hello"
    reply, done = delivered(receiver, "cb-proactive")
    assert reply.payload["data"][0]["content"] == "scheduled" and done.payload["done"] is True


def test_500_then_timeout_then_the_third_attempt_is_delivered(
    astrbot: AstrBotProcess, config: dict[str, Any], receiver: WebhookReceiver
) -> None:
    receiver.script.extend(["500", "timeout"])
    post(astrbot, config, "cb-retry")
    reply, _done = delivered(receiver, "cb-retry")
    attempts = [r for r in receiver.attempts("cb-retry") if r.webhook_id == reply.webhook_id]
    assert [r.action for r in attempts] == ["500", "timeout", "ok"]
    assert all(r.verified for r in attempts)  # re-signed per attempt, same webhook-id


def test_past_the_retries_a_dead_letter_that_replay_delivers(
    astrbot: AstrBotProcess, config: dict[str, Any], receiver: WebhookReceiver
) -> None:
    """The reply fails 11 times → dead letter (done still arrives); replay delivers it."""
    receiver.rule = lambda p: "500" if p.get("msg_id") == "cb-dead" and not p["done"] else None
    post(astrbot, config, "cb-dead")
    auth = {"Authorization": f"Bearer {config['hep_api_key']}"}
    with httpx.Client(base_url=astrbot.base_url, trust_env=False, timeout=10) as client:

        def dead_letters() -> list[dict[str, Any]] | None:
            letters = client.get(DEAD, headers=auth).json()["data"]
            return [d for d in letters if d["msg_id"] == "cb-dead"] or None

        [letter] = wait_until(dead_letters, DEADLINE, message="a dead letter for cb-dead")
        assert letter["attempts"] == 11 and letter["last_error"] == "HTTP 500"
        receiver.rule = None
        replayed = client.post(
            DEAD + "/replay", json={"webhook_ids": [letter["webhook_id"]]}, headers=auth
        )
        assert replayed.status_code == 200 and len(replayed.json()["data"]) == 1
    replies = [r for r in delivered(receiver, "cb-dead") if not r.payload["done"]]
    assert [r.webhook_id for r in replies] == [letter["webhook_id"]]
    assert replies[0].payload["data"][0]["content"] == REPLY + "hi"


def test_receiver_down_for_a_while_then_everything_arrives_in_order(
    astrbot: AstrBotProcess, config: dict[str, Any], receiver: WebhookReceiver
) -> None:
    receiver.stop()
    msg_ids = [f"cb-down-{n}" for n in range(3)]
    for msg_id in msg_ids:
        assert post(astrbot, config, msg_id).status_code == 200

    def failing_twice() -> bool:
        failed = {m for m, attempts in outbox_rows(astrbot) if attempts >= 2}
        return set(msg_ids) <= failed

    wait_until(failing_twice, DEADLINE, message="every message failing while the receiver is down")
    receiver.start()
    for msg_id in msg_ids:
        arrivals = delivered(receiver, msg_id)
        assert [r.payload["done"] for r in arrivals] == [False, True]  # reply first, then done
        assert all(r.verified for r in arrivals)


def test_sigkill_with_pending_deliveries_loses_nothing(
    astrbot: AstrBotProcess, config: dict[str, Any], receiver: WebhookReceiver
) -> None:
    """Deliveries in flight at SIGKILL arrive after the restart; duplicates share webhook-id."""
    receiver.rule = lambda p: "hold" if str(p.get("msg_id", "")).startswith("cb-kill") else None
    msg_ids = ["cb-kill-0", "cb-kill-1"]
    for msg_id in msg_ids:
        post(astrbot, config, msg_id)
    wait_until(
        lambda: sorted(m for m, _ in outbox_rows(astrbot)) == sorted(msg_ids * 2),
        DEADLINE,
        message="reply and done of both messages in the outbox",
    )
    astrbot.kill()
    receiver.rule = None
    wait_until(lambda: port_is_free(astrbot.port), 10, message="the port to be released")
    astrbot.start().wait_ready(timeout=120)
    for msg_id in msg_ids:
        arrivals = delivered(receiver, msg_id)
        assert [r.payload["done"] for r in arrivals] == [False, True]
        assert arrivals[0].payload["data"][0]["content"] == REPLY + "hi"
    by_id: dict[str, set[bytes]] = {}
    for received in receiver.delivered():
        by_id.setdefault(received.webhook_id, set()).add(received.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())  # a repeat is the same delivery
    assert outbox_rows(astrbot) == []
