"""Keys and hardening on a real AstrBot: cross-rejection, refresh with grace, revocation
from the dashboard, restarts, and the error contract on the dashboard's own port.

One AstrBot for the module, configured with a 30 s key grace, 3 messages per minute
per sender and a 4 KiB body limit, so every limit is reachable quickly.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.astrbot_root import (
    PLUGIN_FOLDER,
    AstrBotProcess,
    FakeLLMProcess,
    platform_config,
    running_astrbot,
    wait_for_key,
    wait_until,
)

PLATFORM_ID = "hep_keys"
CHAT = "/api/plug/v1/chat"
REFRESH = "/api/plug/hep/refresh_token"
GRACE = 30
KEY_TIMEOUT = 60  # the adapter writes its key after a (re)start
DASHBOARD_COOKIE = "astrbot_dashboard_jwt"  # astrbot/dashboard/services/auth_service.py
ADMIN_ROUTES = ["/api/config/get", "/api/plugin/get", "/api/v1/api-keys", "/api/v1/system-config"]


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMProcess
) -> Iterator[AstrBotProcess]:
    with running_astrbot(
        tmp_path_factory.mktemp("astrbot-keys"),
        llm_base_url=fake_llm.base_url,
        platform={
            "id": PLATFORM_ID,
            "type": "http_endpoint",
            "enable": True,
            "hep_key_grace": str(GRACE),
            "hep_rate_limit_per_sender": "3",
            "hep_max_body_bytes": "4096",
        },
    ) as proc:
        wait_for_key(proc.root, PLATFORM_ID, KEY_TIMEOUT)  # the adapter has written its key
        yield proc


def client(bot: AstrBotProcess) -> httpx.Client:
    return httpx.Client(base_url=bot.base_url, trust_env=False, timeout=60)


def chat(bot: AstrBotProcess, key: str, msg_id: str, sender: str = "e2e") -> httpx.Response:
    body = {"msg_id": msg_id, "type": "text", "query": "hello", "sender_id": sender}
    with client(bot) as http:
        return http.post(CHAT, json=body, headers={"Authorization": f"Bearer {key}"})


def status_with(bot: AstrBotProcess, key: str, msg_id: str) -> int:
    return chat(bot, key, msg_id, sender=f"s-{msg_id}").status_code


def key_state_file(bot: AstrBotProcess) -> Path:
    return bot.root / "data" / "plugin_data" / PLUGIN_FOLDER / "keys" / f"{PLATFORM_ID}.json"


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_our_key_is_refused_by_dashboard_admin_routes(bot: AstrBotProcess, route: str) -> None:
    """Our key must never be an AstrBot login: refused as a bearer header and as a cookie,
    while a real dashboard login reaches the same route (so the refusal is about the key).

    AstrBot itself picks the status: 401 on the legacy routes; on ``/api/v1`` a bearer
    that is not a dashboard JWT is tried as an AstrBot API key, and admin-only scopes
    answer 403 "Insufficient API key scope" before any lookup.
    """
    refused = {401} if not route.startswith("/api/v1/") else {401, 403}
    key = wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT)
    login = bot.login()
    with client(bot) as http:
        as_bearer = http.get(route, headers={"Authorization": f"Bearer {key}"})
        assert as_bearer.status_code in refused, as_bearer.text
        as_cookie = http.get(route, headers={"Cookie": f"{DASHBOARD_COOKIE}={key}"})
        assert as_cookie.status_code == 401, as_cookie.text
        admin = http.get(route, headers={"Authorization": f"Bearer {login}"})
        assert admin.status_code == 200, admin.text
        admin_cookie = http.get(route, headers={"Cookie": f"{DASHBOARD_COOKIE}={login}"})
        assert admin_cookie.status_code == 200, admin_cookie.text


def test_a_dashboard_login_token_is_refused_by_our_endpoints(bot: AstrBotProcess) -> None:
    token = bot.login()
    key = wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT)
    with client(bot) as http:
        auth = {"Authorization": f"Bearer {token}"}
        responses = [
            http.post(CHAT, json={"msg_id": "d", "query": "x", "sender_id": "u"}, headers=auth),
            http.get(REFRESH, headers=auth),
            http.post(REFRESH, headers=auth),
        ]
    for response in responses:
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT) == key  # nothing was refreshed


def test_the_error_contract_holds_on_the_dashboard_port(bot: AstrBotProcess) -> None:
    """Bad input gets the envelope with the right 4xx from the real server, never a 5xx."""
    key = wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT)
    auth = {"Authorization": f"Bearer {key}"}
    json_auth = {**auth, "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 64 KiB, no Content-Length: chunked transfer encoding
            yield b" " * 1024

    with client(bot) as http:
        cases: list[tuple[httpx.Response, int, str]] = [
            (http.post(CHAT, content=b"{nope", headers=json_auth), 400, "invalid_request"),
            (http.post(CHAT, json={"msg_id": "m"}, headers=auth), 400, "invalid_request"),
            (
                http.post(CHAT, content=b"{}", headers={**auth, "Content-Type": "text/plain"}),
                415,
                "unsupported_media_type",
            ),  # fmt: skip
            (http.post(CHAT, content=b" " * 5000, headers=json_auth), 413, "payload_too_large"),
            (http.post(CHAT, content=chunks(), headers=json_auth), 413, "payload_too_large"),
            (http.get(CHAT, headers=auth), 405, "method_not_allowed"),
            (http.get("/api/plug/hep/nothing", headers=auth), 404, "not_found"),
        ]
        for response, status, slug in cases:
            assert response.status_code == status, (status, response.text)
            assert response.json()["error"] == slug and response.json()["code"] == status
        document = http.get("/api/plug/hep/openapi.json")
    assert document.status_code == 200
    assert CHAT in document.json()["paths"]


def test_a_sender_over_its_rate_limit_gets_429_with_retry_after(bot: AstrBotProcess) -> None:
    key = wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT)
    for n in range(3):
        assert chat(bot, key, f"rl-{n}", sender="flood").status_code == 200
    limited = chat(bot, key, "rl-3", sender="flood")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate_limited"
    assert chat(bot, key, "rl-0", sender="flood").status_code == 200  # polling stays free


def test_refresh_grace_revocation_and_restarts(bot: AstrBotProcess) -> None:
    """The whole key life cycle, across two AstrBot restarts.

    refresh → old and new work; restart → the old one still works (grace persisted),
    then stops at the end of the grace; clearing the key in the dashboard → a new key,
    every earlier one refused; restart → still refused. No key ever reaches a log.
    """
    k1 = wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT)
    assert status_with(bot, k1, "k1-a") == 200
    with client(bot) as http:
        refreshed = http.get(REFRESH, headers={"Authorization": f"Bearer {k1}"})
    assert refreshed.status_code == 200, refreshed.text
    [grant] = refreshed.json()["data"]
    k2 = grant["api_key"]
    assert k2 != k1 and grant["api_key_ttl"] > 0
    # written to the config for the operator
    assert wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT) == k2
    assert status_with(bot, k1, "k1-b") == 200  # grace
    assert status_with(bot, k2, "k2-a") == 200

    bot.restart(timeout=120)
    assert wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT) == k2  # a valid key is kept
    wait_until(lambda: status_with(bot, k2, "k2-b") == 200, 60, message="the adapter after restart")
    assert status_with(bot, k1, "k1-c") == 200  # the grace survived the restart
    wait_until(
        lambda: status_with(bot, k1, "k1-d") == 401, GRACE + 30, message="the end of k1's grace"
    )
    assert status_with(bot, k2, "k2-c") == 200

    clear_key_in_dashboard(bot)
    k3 = wait_until(
        lambda: (key := wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT)) != k2 and key,
        60,
        message="a new key after clearing",
    )
    wait_until(lambda: status_with(bot, k3, "k3-a") == 200, 60, message="the reloaded adapter")
    assert status_with(bot, k2, "k2-d") == 401
    assert status_with(bot, k1, "k1-e") == 401

    bot.restart(timeout=120)
    assert wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT) == k3
    wait_until(lambda: status_with(bot, k3, "k3-b") == 200, 60, message="the adapter after restart")
    assert status_with(bot, k2, "k2-e") == 401
    with client(bot) as http:
        stale = http.post(REFRESH, headers={"Authorization": f"Bearer {k2}"})
    assert stale.status_code == 401
    assert wait_for_key(bot.root, PLATFORM_ID, KEY_TIMEOUT) == k3  # changes nothing

    state = key_state_file(bot)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    audit_files = sorted((state.parent.parent).glob("audit*.log"))
    assert audit_files, "no audit log was written"
    logs = bot.log_text() + "".join(path.read_text("utf-8") for path in audit_files)
    for key in (k1, k2, k3):
        assert key not in logs


def clear_key_in_dashboard(bot: AstrBotProcess) -> None:
    """What an operator does: empty ``hep_api_key`` in the platform form and save."""
    config: dict[str, Any] = dict(platform_config(bot.root, PLATFORM_ID))
    config["hep_api_key"] = ""
    with client(bot) as http:
        response = http.post(
            "/api/config/platform/update",
            json={"id": PLATFORM_ID, "config": config},
            headers={"Authorization": f"Bearer {bot.login()}"},
        )
    assert response.status_code == 200 and response.json()["status"] == "ok", response.text
