"""Bearer auth and the adapter-scoped keys."""

from __future__ import annotations

import json
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


def test_the_grace_period_is_configurable(tmp_path: Path) -> None:
    clock = Clock()
    keys = KeyManager(
        platform_id="hep_test", state_file=tmp_path / "k.json", ttl=3600, grace=5, clock=clock
    )
    old = keys.issue(grace=False)
    keys.issue(grace=True)
    clock.now += 4
    keys.verify(old)
    clock.now += 2
    with pytest.raises(Unauthorized) as info:
        keys.verify(old)
    assert info.value.reason == "revoked"


def test_a_grace_of_zero_refuses_the_old_key_at_once(tmp_path: Path) -> None:
    keys = KeyManager(
        platform_id="hep_test", state_file=tmp_path / "k.json", ttl=3600, grace=0, clock=Clock()
    )
    old = keys.issue(grace=False)
    keys.issue(grace=True)
    with pytest.raises(Unauthorized):
        keys.verify(old)


def test_clearing_the_key_revokes_the_current_and_the_grace_key(tmp_path: Path) -> None:
    clock = Clock()
    keys = manager(tmp_path, clock)
    old = keys.issue(grace=False)
    current = keys.issue(grace=True)
    replacement = keys.ensure("")
    assert replacement is not None
    for revoked in (old, current):
        with pytest.raises(Unauthorized):
            manager(tmp_path, clock).verify(revoked)  # and after a restart
    manager(tmp_path, clock).verify(replacement)


def test_a_stale_configured_key_is_replaced_by_the_current_one_without_revoking(
    tmp_path: Path,
) -> None:
    """A dashboard form saved after a refresh holds the previous key: restore the current one."""
    clock = Clock()
    keys = manager(tmp_path, clock)
    old = keys.issue(grace=False)
    current = keys.issue(grace=True)
    restarted = manager(tmp_path, clock)
    assert restarted.ensure(old) == current
    restarted.verify(current)
    clock.now += 61
    assert manager(tmp_path, clock).ensure(old) == current  # also once its grace is over
    with pytest.raises(Unauthorized):
        manager(tmp_path, clock).verify(old)


def test_a_corrupt_state_file_fails_closed(tmp_path: Path) -> None:
    clock = Clock()
    key = manager(tmp_path, clock).issue(grace=False)
    (tmp_path / "hep_test.json").write_text("{not json")
    keys = manager(tmp_path, clock)
    with pytest.raises(Unauthorized):
        keys.verify(key)
    new = keys.ensure(key)
    assert new is not None
    keys.verify(new)


def test_the_secret_is_random_and_owner_only_even_after_loosening(tmp_path: Path) -> None:
    state_file = tmp_path / "keys" / "hep_test.json"
    KeyManager(platform_id="hep_test", state_file=state_file, ttl=60)
    secret = json.loads(state_file.read_text())["secret"]
    assert len(bytes.fromhex(secret)) == 32
    assert state_file.parent.stat().st_mode & 0o777 == 0o700
    other = tmp_path / "other" / "hep_test.json"
    KeyManager(platform_id="hep_test", state_file=other, ttl=60)
    assert json.loads(other.read_text())["secret"] != secret
    state_file.chmod(0o644)
    state_file.with_suffix(".tmp").write_text("left over")
    state_file.with_suffix(".tmp").chmod(0o666)
    keys = KeyManager(platform_id="hep_test", state_file=state_file, ttl=60)
    assert state_file.stat().st_mode & 0o777 == 0o600
    keys.issue(grace=False)
    assert state_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("kind", ["expired", "malformed", "foreign", "revoked", "missing"])
async def test_refresh_with_a_bad_key_gets_401_and_changes_nothing(
    harness: Harness, tmp_path: Path, method: str, kind: str
) -> None:
    if kind == "expired":
        short = KeyManager(
            platform_id="hep_test", state_file=tmp_path / "keys.json", ttl=60, clock=Clock(1e9)
        )
        bad = short.issue(grace=False)  # same secret, expired long ago
        harness.keys._state = short._state  # the harness shares the state file
        harness.key = harness.keys.issue(grace=False)
    elif kind == "malformed":
        bad = "hep_garbage"
    elif kind == "foreign":
        bad = KeyManager(platform_id="other", state_file=tmp_path / "o.json", ttl=60).issue(
            grace=False
        )
    elif kind == "revoked":
        bad = harness.key
        harness.key = harness.keys.ensure("") or ""
    else:
        bad = ""
    state_before = (tmp_path / "keys.json").read_bytes()
    headers = {"Authorization": f"Bearer {bad}"} if bad else {}
    response = await harness.client.request(method, "/api/plug/hep/refresh_token", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized" and response.json()["data"] == []
    assert (tmp_path / "keys.json").read_bytes() == state_before
    assert harness.issued == []
    assert (await harness.chat({"msg_id": "m", "query": "x", "sender_id": "u"})).status_code == 200


async def test_refresh_logs_fingerprints_never_keys(harness: Harness) -> None:
    response = await harness.client.get("/api/plug/hep/refresh_token", headers=harness.auth())
    [grant] = response.json()["data"]
    assert set(grant) == {"api_key", "api_key_ttl"} and 3590 < grant["api_key_ttl"] <= 3600
    assert response.json()["api_key_ttl"] == grant["api_key_ttl"]
    [line] = harness.sink.events("key_refreshed")
    assert line["new_key_fp"] == fingerprint(grant["api_key"])
    log = "\n".join(harness.sink.raw)
    assert grant["api_key"] not in log and harness.key not in log


async def test_a_refreshed_key_reports_the_life_left_in_its_grace_period(harness: Harness) -> None:
    """api_key_ttl is "how long this key still works": for the old key, the grace left."""
    response = await harness.client.post("/api/plug/hep/refresh_token", headers=harness.auth())
    assert response.headers["cache-control"] == "no-store"
    old = await harness.chat({"msg_id": "g", "query": "x", "sender_id": "u"})
    assert 0 < old.json()["api_key_ttl"] <= 60
    new_key = response.json()["data"][0]["api_key"]
    new = await harness.chat({"msg_id": "g2", "query": "x", "sender_id": "u"}, key=new_key)
    assert new.json()["api_key_ttl"] > 3000
