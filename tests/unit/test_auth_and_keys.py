"""Bearer auth and the adapter-scoped keys."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from asgi_app.errors import Unauthorized
from asgi_app.keys import KeyManager, fingerprint

from .conftest import CHAT, Harness


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def manager(
    tmp_path: Path, clock: Clock, platform_id: str = "hep_test", ttl: int = 3600
) -> KeyManager:
    return KeyManager(
        platform_id=platform_id, state_file=tmp_path / f"{platform_id}.json", ttl=ttl, clock=clock
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"Authorization": "Basic abc"}, "missing"),
        ({"Authorization": "Bearer "}, "missing"),
        ({"Authorization": "Bearer not-a-key"}, "malformed"),
        ({"Authorization": "Bearer hep_e30.AAAA"}, "bad_signature"),
    ],
)
async def test_requests_without_a_valid_key_get_401_envelope(
    harness: Harness, headers: dict[str, str], reason: str
) -> None:
    response = await harness.client.post(CHAT, json={}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == 401 and body["error"] == "unauthorized" and body["data"] == []
    assert harness.sink.events("auth_failed")[-1]["reason"] == reason
    assert not harness.bot.seen


async def test_a_dashboard_jwt_is_refused(harness: Harness) -> None:
    token = jwt.encode(
        {"username": "astrbot"}, "a-dashboard-secret-that-is-32-bytes-long", algorithm="HS256"
    )
    response = await harness.client.post(
        CHAT, json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_a_key_of_another_instance_is_refused(harness: Harness, tmp_path: Path) -> None:
    other = KeyManager(platform_id="other", state_file=tmp_path / "other.json", ttl=3600)
    response = await harness.chat({"msg_id": "m"}, key=other.issue(grace=False))
    assert response.status_code == 401


async def test_access_log_has_one_line_per_request_with_fingerprint_not_key(
    harness: Harness,
) -> None:
    await harness.chat({"msg_id": "m1", "query": "hi", "sender_id": "u1"})
    await harness.client.post(CHAT, json={}, headers={"Authorization": "Bearer wrong"})
    requests = harness.sink.events("request")
    assert [r["status"] for r in requests] == [200, 401]
    ok = requests[0]
    assert ok["msg_id"] == "m1" and ok["sender_id"] == "u1"
    assert ok["key_fp"] == fingerprint(harness.key)
    assert ok["client_ip"] == "203.0.113.7"
    assert ok["duration_ms"] >= 0 and ok["ts"].endswith("Z")
    assert requests[1]["key_fp"] == fingerprint("wrong")
    assert harness.key not in "\n".join(harness.sink.raw)


async def test_request_id_is_generated_or_echoed(harness: Harness) -> None:
    generated = await harness.chat({"msg_id": "m1", "query": "x", "sender_id": "u"})
    assert len(generated.headers["x-request-id"]) == 32
    given = await harness.client.post(
        CHAT,
        json={"msg_id": "m2", "query": "x", "sender_id": "u"},
        headers={**harness.auth(), "X-Request-Id": "trace-123"},
    )
    assert given.headers["x-request-id"] == "trace-123"
    forged = await harness.client.post(
        CHAT, json={}, headers={**harness.auth(), "X-Request-Id": "bad id\twith spaces"}
    )
    assert forged.headers["x-request-id"] != "bad id\twith spaces"


async def test_non_ascii_msg_id_is_percent_encoded_in_the_header(harness: Harness) -> None:
    response = await harness.chat({"msg_id": "消息1", "query": "x", "sender_id": "u"})
    assert response.status_code == 200
    assert response.headers["x-msg-id"] == "%E6%B6%88%E6%81%AF1"
    assert response.json()["msg_id"] == "消息1"


def test_a_valid_configured_key_is_kept_across_restarts(tmp_path: Path) -> None:
    clock = Clock()
    key = manager(tmp_path, clock).ensure("")
    assert key is not None
    restarted = manager(tmp_path, clock)
    assert restarted.ensure(key) is None
    assert restarted.verify(key).platform_id == "hep_test"


@pytest.mark.parametrize("configured", ["", "garbage", "hep_e30.AAAA"])
def test_an_empty_or_invalid_key_is_replaced_and_older_keys_are_revoked(
    tmp_path: Path, configured: str
) -> None:
    clock = Clock()
    keys = manager(tmp_path, clock)
    old = keys.issue(grace=False)
    new = keys.ensure(configured)
    assert new is not None and new != old
    keys.verify(new)
    with pytest.raises(Unauthorized) as info:
        keys.verify(old)
    assert info.value.reason == "revoked"


def test_an_expired_key_is_refused_and_replaced(tmp_path: Path) -> None:
    clock = Clock()
    keys = manager(tmp_path, clock, ttl=60)
    key = keys.issue(grace=False)
    clock.now += 61
    with pytest.raises(Unauthorized) as info:
        keys.verify(key)
    assert info.value.reason == "expired"
    assert keys.ensure(key) is not None


def test_refresh_keeps_the_previous_key_for_the_grace_period(tmp_path: Path) -> None:
    clock = Clock()
    keys = manager(tmp_path, clock)
    old = keys.issue(grace=False)
    new = keys.issue(grace=True)
    keys.verify(old)
    keys.verify(new)
    clock.now += 61
    keys.verify(new)
    with pytest.raises(Unauthorized):
        manager(tmp_path, clock).verify(old)  # also after a restart


def test_the_state_file_is_owner_only(tmp_path: Path) -> None:
    manager(tmp_path, Clock()).issue(grace=False)
    assert (tmp_path / "hep_test.json").stat().st_mode & 0o777 == 0o600


def test_a_tampered_payload_fails_the_signature(tmp_path: Path) -> None:
    keys = manager(tmp_path, Clock())
    key = keys.issue(grace=False)
    payload, signature = key.removeprefix("hep_").split(".")
    tampered = "hep_" + payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    with pytest.raises(Unauthorized):
        keys.verify(tampered)


async def test_refresh_token_returns_a_new_key_and_persists_it(harness: Harness) -> None:
    response = await harness.client.post("/api/plug/hep/refresh_token", headers=harness.auth())
    assert response.status_code == 200
    [data] = response.json()["data"]
    assert data["api_key"].startswith("hep_") and data["api_key"] != harness.key
    assert harness.issued == [data["api_key"]]
    assert (
        await harness.chat({"msg_id": "a", "query": "x", "sender_id": "u"}, key=data["api_key"])
    ).status_code == 200
    assert (
        await harness.chat({"msg_id": "b", "query": "x", "sender_id": "u"})
    ).status_code == 200  # grace
