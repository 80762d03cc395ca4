"""The harness itself: AstrBot starts headless and its dashboard auth behaves as expected."""

from __future__ import annotations

import httpx
import pytest

from tests.harness.astrbot_root import (
    DEFAULT_DASHBOARD_PASSWORD,
    DEFAULT_DASHBOARD_USERNAME,
    AstrBotProcess,
    dashboard_login,
    read_config,
)

PROTECTED_ROUTES = ["/api/config/get", "/api/stat/version"]


@pytest.fixture(scope="module")
def token(astrbot: AstrBotProcess) -> str:
    return dashboard_login(astrbot.base_url, DEFAULT_DASHBOARD_USERNAME, DEFAULT_DASHBOARD_PASSWORD)


def test_process_is_running_with_our_config(astrbot: AstrBotProcess, jwt_secret: str) -> None:
    assert astrbot.is_running()
    config = read_config(astrbot.root)
    # AstrBot filled in the rest of our partial config and kept our values.
    assert config["dashboard"]["jwt_secret"] == jwt_secret
    assert config["dashboard"]["host"] == "127.0.0.1"
    assert config["provider_settings"]["streaming_response"] is False
    assert any(p.get("type") == "http_endpoint" and p.get("enable") for p in config["platform"])
    assert "wake_prefix" in config  # a default AstrBot added
    assert "AstrBot started" in astrbot.log_text()


@pytest.mark.parametrize("route", PROTECTED_ROUTES)
def test_dashboard_route_requires_token(astrbot: AstrBotProcess, route: str) -> None:
    with httpx.Client(base_url=astrbot.base_url, trust_env=False, timeout=10) as client:
        assert client.get(route).status_code == 401
        assert client.get(route, headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize("route", PROTECTED_ROUTES)
def test_dashboard_route_accepts_login_token(
    astrbot: AstrBotProcess, token: str, route: str
) -> None:
    with httpx.Client(base_url=astrbot.base_url, trust_env=False, timeout=10) as client:
        resp = client.get(route, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "ok"


def test_wrong_password_is_rejected(astrbot: AstrBotProcess) -> None:
    with pytest.raises(RuntimeError, match="login failed"):
        dashboard_login(astrbot.base_url, DEFAULT_DASHBOARD_USERNAME, "Wrong-Passw0rd")
