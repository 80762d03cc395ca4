"""Token buckets per key (middleware) and per sender (handler): 429 + Retry-After."""

from __future__ import annotations

from typing import Any

import pytest

from asgi_app.errors import TooManyRequests
from asgi_app.ratelimit import TokenBucketLimiter

from .conftest import CHAT, Harness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def message(msg_id: str, sender: str = "u1") -> dict[str, Any]:
    return {"msg_id": msg_id, "query": "hi", "sender_id": sender}


def test_a_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(6, what="sender", clock=clock)  # 6/min: one per 10 s
    for _ in range(6):
        limiter.take("a")
    with pytest.raises(TooManyRequests) as info:
        limiter.take("a")
    assert info.value.headers["Retry-After"] == "10"
    limiter.take("b")  # another name has its own bucket
    clock.now += 10
    limiter.take("a")
    with pytest.raises(TooManyRequests):
        limiter.take("a")


def test_a_rate_of_zero_turns_the_limiter_off() -> None:
    limiter = TokenBucketLimiter(0, what="sender")
    for _ in range(1000):
        limiter.take("a")


def test_memory_is_bounded_however_many_names_appear() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(1, what="sender", max_buckets=100, clock=clock)
    for n in range(10_000):
        limiter.take(f"sender-{n}")
    assert len(limiter._buckets) <= 100


def test_an_idle_bucket_expires_once_it_would_be_full_again() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(2, what="sender", clock=clock)
    limiter.take("a")
    limiter.take("a")
    clock.now += 61
    assert "a" not in limiter._buckets
    limiter.take("a")
    limiter.take("a")


@pytest.mark.parametrize("settings_overrides", [{"hep_rate_limit_per_sender": "2"}])
async def test_a_sender_over_its_limit_gets_429_with_retry_after(harness: Harness) -> None:
    """We expect 429 in the envelope; other senders and repeat polls are not affected."""
    assert (await harness.chat(message("1"))).status_code == 200
    assert (await harness.chat(message("2"))).status_code == 200
    limited = await harness.chat(message("3"))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    body = limited.json()
    assert body["error"] == "rate_limited" and body["code"] == 429
    assert "sender" in body["detail"] and body["msg_id"] == "3"
    assert (await harness.chat(message("1"))).status_code == 200  # a poll of a known msg_id
    assert (await harness.chat(message("3", sender="u2"))).status_code == 200
    assert [s.inbound.msg_id for s in harness.bot.seen] == ["1", "2", "3"]


@pytest.mark.parametrize(
    "settings_overrides", [{"hep_rate_limit_per_key": "3", "hep_rate_limit_per_sender": "0"}]
)
async def test_a_key_over_its_limit_gets_429_before_the_body_is_read(harness: Harness) -> None:
    """A refresh neither escapes nor resets the bucket: it belongs to the key's lineage."""
    for n in range(2):
        assert (await harness.chat(message(str(n), sender=f"s{n}"))).status_code == 200
    refreshed = await harness.client.post("/api/plug/hep/refresh_token", headers=harness.auth())
    new_key = refreshed.json()["data"][0]["api_key"]
    limited = await harness.client.post(
        CHAT, content=b"not even json", headers=harness.auth(new_key)
    )
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited" and "API key" in limited.json()["detail"]
    assert limited.json()["api_key_ttl"] > 0
    assert limited.headers["retry-after"] == "20"
    again = await harness.client.post("/api/plug/hep/refresh_token", headers=harness.auth())
    assert again.status_code == 429  # the refresh endpoint is limited too
    assert harness.issued == [new_key]
    public = await harness.client.get("/api/plug/hep/openapi.json")
    assert public.status_code == 200  # no key, no bucket
