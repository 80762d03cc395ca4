"""A nonsense config value and a streaming model, each on a real AstrBot."""

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

GOOD = {"id": "hep_stream", "type": "http_endpoint", "enable": True}
BAD = {"id": "hep_bad", "type": "http_endpoint", "enable": True, "hep_cache_ttl": "five minutes"}


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMProcess
) -> Iterator[AstrBotProcess]:
    """Streaming replies on, plus a second platform entry with a value that makes no sense."""
    with running_astrbot(
        tmp_path_factory.mktemp("stream-root"),
        llm_base_url=fake_llm.base_url,
        platform=[dict(GOOD), dict(BAD)],
        extra_config={"provider_settings": {"streaming_response": True}},
    ) as proc:
        yield proc


def bot_stats(bot: AstrBotProcess, client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/v1/bots/stats", headers={"Authorization": f"Bearer {bot.login()}"})
    assert response.status_code == 200, response.text
    platforms = response.json()["data"]["platforms"]
    return {p["id"]: p for p in platforms}


def test_a_nonsense_value_is_a_clear_platform_error_and_astrbot_keeps_running(
    bot: AstrBotProcess,
) -> None:
    with httpx.Client(base_url=bot.base_url, trust_env=False, timeout=30) as client:

        def failed() -> dict[str, Any] | None:
            stats = bot_stats(bot, client)
            return stats if stats.get("hep_bad", {}).get("status") == "error" else None

        stats = wait_until(failed, timeout=30, message="the bad platform never reported an error")
    assert "hep_cache_ttl" in stats["hep_bad"]["last_error"]["message"]
    assert stats["hep_stream"]["status"] == "running"
    assert not platform_config(bot.root, "hep_bad").get("hep_api_key")  # nothing written for it


def test_a_streamed_reply_arrives_as_one_complete_item(
    bot: AstrBotProcess, fake_llm: FakeLLMProcess
) -> None:
    key = wait_for_key(bot.root, "hep_stream")
    body = {"msg_id": "stream-1", "type": "text", "query": "stream this please", "sender_id": "s1"}
    with httpx.Client(base_url=bot.base_url, trust_env=False, timeout=30) as client:

        def served() -> httpx.Response | None:
            # Connection: close, because the dashboard's 401 leaves the body unread.
            headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
            response = client.post("/api/plug/v1/chat", json=body, headers=headers)
            return response if response.status_code != 401 else None  # 401 until the mount is in

        response = wait_until(served, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["done"] is True
    assert [i["content"] for i in response.json()["data"]] == [
        "[fake-model] 你好！你说的是：stream this please"
    ]
    streamed = [r for r in fake_llm.calls() if "stream this please" in str(r.get("messages"))]
    assert len(streamed) == 1 and streamed[0].get("stream") is True
