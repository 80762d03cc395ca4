"""Polling mode on a real AstrBot: the seed's contract, end to end through the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.astrbot_root import (
    AstrBotProcess,
    FakeLLMProcess,
    platform_config,
    running_astrbot,
    wait_for_key,
    wait_until,
)

PLATFORM_ID = "hep_e2e"
CHAT = "/api/plug/v1/chat"
WAIT_TIMEOUT = 1.5
PLUGIN = "astrbot_plugin_http_endpoint"


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMProcess
) -> Iterator[AstrBotProcess]:
    """An AstrBot of our own: these tests toggle the platform and reload the plugin."""
    platform = {
        "id": PLATFORM_ID,
        "type": "http_endpoint",
        "enable": True,
        "hep_wait_timeout": str(WAIT_TIMEOUT),
    }
    with running_astrbot(
        tmp_path_factory.mktemp("skeleton-root"), llm_base_url=fake_llm.base_url, platform=platform
    ) as proc:
        yield proc


@pytest.fixture
def client(bot: AstrBotProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bot.base_url, trust_env=False, timeout=30) as c:
        yield c


def chat(
    client: httpx.Client, key: str, msg_id: str, query: str, sender: str = "user123"
) -> httpx.Response:
    body: dict[str, Any] = {"msg_id": msg_id, "type": "text", "query": query, "sender_id": sender}
    return client.post(CHAT, json=body, headers={"Authorization": f"Bearer {key}"})


PROBE = {"Connection": "close"}
"""For probes the dashboard may answer: its 401 leaves the body unread, and hypercorn then
drops the kept-alive connection under the next request (seen as "Server disconnected")."""


def wait_served(client: httpx.Client, key: str) -> None:
    """The endpoint answers (it is mounted) — a 400 for an empty body proves our app is there."""
    headers = {"Authorization": f"Bearer {key}", **PROBE}
    wait_until(
        lambda: client.post(CHAT, json={}, headers=headers).status_code == 400,
        timeout=30,
        message="the endpoint was not served",
    )


def calls_for(fake_llm: FakeLLMProcess, marker: str) -> int:
    return sum(marker in str(request.get("messages")) for request in fake_llm.calls())


def test_text_round_trip_returns_the_model_reply_with_done(
    bot: AstrBotProcess, client: httpx.Client, fake_llm: FakeLLMProcess
) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID)
    wait_served(client, key)
    response = chat(client, key, "rt-1", "你好 round-trip")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["msg_id"] == "rt-1" and body["code"] == 0 and body["done"] is True
    assert 0 < body["api_key_ttl"] <= 604800
    [item] = body["data"]
    assert item["type"] == "text"
    assert item["content"] == "[fake-model] 你好！你说的是：你好 round-trip"
    assert calls_for(fake_llm, "round-trip") == 1


def test_repeat_post_is_served_from_the_cache_and_the_model_runs_once(
    bot: AstrBotProcess, client: httpx.Client, fake_llm: FakeLLMProcess
) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID)
    first = chat(client, key, "cache-1", "cache me")
    second = chat(client, key, "cache-1", "cache me")
    assert first.status_code == second.status_code == 200
    assert second.json()["data"] == first.json()["data"]
    assert calls_for(fake_llm, "cache me") == 1


def test_slow_model_gives_202_then_200_without_a_second_run(
    bot: AstrBotProcess, client: httpx.Client, fake_llm: FakeLLMProcess
) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID)
    query = "slow one [[delay=4]]"
    pending = chat(client, key, "slow-1", query)
    assert pending.status_code == 202, pending.text
    assert pending.json()["done"] is False and pending.json()["data"] == []

    def finished() -> httpx.Response | None:
        response = chat(client, key, "slow-1", query)
        return response if response.status_code == 200 else None

    final = wait_until(
        finished,
        timeout=30,
        message="the slow reply never completed",
    )
    assert "slow one" in final.json()["data"][0]["content"]
    assert calls_for(fake_llm, "slow one") == 1


def test_a_builtin_command_answers_through_the_pipeline(
    bot: AstrBotProcess, client: httpx.Client
) -> None:
    """/sid runs without the model: the session is ours, keyed by the sender."""
    response = chat(client, wait_for_key(bot.root, PLATFORM_ID), "sid-1", "/sid", sender="alice")
    assert response.status_code == 200
    assert f"{PLATFORM_ID}:FriendMessage:alice" in response.json()["data"][0]["content"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc"])
def test_requests_without_a_valid_key_get_401(client: httpx.Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post(CHAT, json={"msg_id": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == 401


def test_keys_and_dashboard_logins_do_not_cross(bot: AstrBotProcess, client: httpx.Client) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID)
    dashboard_token = bot.login()
    ours = client.post(CHAT, json={}, headers={"Authorization": f"Bearer {dashboard_token}"})
    assert ours.status_code == 401
    theirs = client.get("/api/config/get", headers={"Authorization": f"Bearer {key}"})
    assert theirs.status_code == 401


@pytest.mark.parametrize(
    "path", ["/api/config/get", "/api/plug/other", "/api/plug/v1/chatty", "/api/stat/version"]
)
def test_other_dashboard_routes_still_require_the_login(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 401


def test_the_key_survives_a_restart(bot: AstrBotProcess, client: httpx.Client) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID)
    bot.restart()
    assert wait_for_key(bot.root, PLATFORM_ID) == key
    wait_served(client, key)
    assert chat(client, key, "after-restart", "still here").status_code == 200


def test_disabling_and_reenabling_the_platform_leaves_one_working_endpoint(
    bot: AstrBotProcess, client: httpx.Client
) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID)
    auth = {"Authorization": f"Bearer {bot.login()}"}
    for _ in range(2):
        off = client.patch(
            f"/api/v1/bots/{PLATFORM_ID}/enabled", json={"enabled": False}, headers=auth
        )
        assert off.status_code == 200, off.text
        # Our dispatcher is gone: the dashboard (and its login) answers again.
        probe = client.post(CHAT, json={}, headers={"Authorization": f"Bearer {key}", **PROBE})
        assert probe.status_code == 401
        on = client.patch(
            f"/api/v1/bots/{PLATFORM_ID}/enabled", json={"enabled": True}, headers=auth
        )
        assert on.status_code == 200, on.text
        wait_served(client, key)
    assert platform_config(bot.root, PLATFORM_ID)["enable"] is True
    assert chat(client, key, "toggle-1", "after toggling").status_code == 200


def test_reloading_the_plugin_keeps_the_endpoint_working(
    bot: AstrBotProcess, client: httpx.Client
) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID)
    auth = {"Authorization": f"Bearer {bot.login()}"}
    before = bot.log_text()
    reload = client.post(f"/api/v1/plugins/{PLUGIN}/reload", headers=auth)
    assert reload.status_code == 200, reload.text
    assert reload.json().get("status") == "ok", reload.text
    wait_served(client, key)
    assert chat(client, key, "reload-1", "after reload").status_code == 200
    assert platform_config(bot.root, PLATFORM_ID)["enable"] is True
    # The old instance was stopped and exactly one new one started (no stacking).
    after = bot.log_text()[len(before) :]
    assert after.count(f"{PLATFORM_ID} stopped serving") == 1
    assert after.count(f"{PLATFORM_ID} serving POST") == 1
