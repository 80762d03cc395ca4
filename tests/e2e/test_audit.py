"""The audit trail, health and metrics on a real AstrBot (the session's shared process)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.astrbot_root import (
    PLATFORM_TYPE,
    PLUGIN_FOLDER,
    AstrBotProcess,
    read_config,
    wait_for_key,
    wait_until,
)

PLATFORM_ID = "http_endpoint"
CHAT = "/api/plug/v1/chat"
KEY_SHAPE = re.compile(r"hep_[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def audit_dir(proc: AstrBotProcess) -> Path:
    return proc.root / "data" / "plugin_data" / PLUGIN_FOLDER


def audit_lines(proc: AstrBotProcess) -> list[dict[str, Any]]:
    path = audit_dir(proc) / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def api_key(astrbot: AstrBotProcess) -> str:
    return wait_for_key(astrbot.root, PLATFORM_ID)


@pytest.fixture(scope="module")
def client(astrbot: AstrBotProcess) -> Any:
    with httpx.Client(base_url=astrbot.base_url, trust_env=False, timeout=30) as c:
        yield c


def test_one_request_can_be_followed_in_the_audit_file(
    astrbot: AstrBotProcess, client: httpx.Client, api_key: str
) -> None:
    """We expect accepted → published → done → request for the msg_id, in AstrBot's log too."""
    msg_id = f"audit-{uuid.uuid4().hex[:8]}"
    body = {"msg_id": msg_id, "type": "text", "query": "审计测试", "sender_id": "auditor"}
    resp = client.post(CHAT, json=body, headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["done"] is True

    def story() -> list[dict[str, Any]] | None:
        lines = [line for line in audit_lines(astrbot) if line.get("msg_id") == msg_id]
        return lines if any(line["event"] == "request" for line in lines) else None

    lines = wait_until(story, timeout=10, message="the request line of the msg_id")
    events = [line["event"] for line in lines]
    assert events[0] == "message_accepted" and events[-2:] == ["request_done", "request"]
    assert "reply_published" in events
    assert {line["request_id"] for line in lines} == {resp.headers["x-request-id"]}
    assert {line["platform_id"] for line in lines} == {PLATFORM_ID}
    assert {line["sender_id"] for line in lines} == {"auditor"}
    done = lines[-2]
    assert done["done"] is True and done["items"] == len(resp.json()["data"])
    assert "审计测试" not in json.dumps(lines, ensure_ascii=False)  # content is off by default
    print("\n".join(json.dumps(line, ensure_ascii=False) for line in lines))  # for the report
    human = re.compile(rf"\[INFO\].*\[http_endpoint\] request_done .*msg_id={msg_id} ")
    wait_until(
        lambda: human.search(astrbot.log_text()),
        timeout=10,
        message="the human line in AstrBot's log",
    )


def test_failed_login_is_audited_with_a_fingerprint(
    astrbot: AstrBotProcess, client: httpx.Client
) -> None:
    """We expect auth_failed with reason and client ip for a wrong key."""
    presented = "hep_not-a-real-key-" + uuid.uuid4().hex
    resp = client.post(CHAT, json={}, headers={"Authorization": f"Bearer {presented}"})
    assert resp.status_code == 401

    def failure() -> dict[str, Any] | None:
        for line in audit_lines(astrbot):
            if (
                line["event"] == "auth_failed"
                and line["request_id"] == resp.headers["x-request-id"]
            ):
                return line
        return None

    line = wait_until(failure, timeout=10, message="the auth_failed line")
    assert line["reason"] == "malformed" and line["client_ip"] == "127.0.0.1"
    assert line["key_fp"] and presented not in json.dumps(audit_lines(astrbot))


def test_health_and_metrics_answer_on_the_dashboard_port(
    client: httpx.Client, api_key: str
) -> None:
    """We expect public health JSON and authenticated Prometheus text with our counts."""
    health = client.get("/api/plug/hep/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert health.headers["content-type"] == "application/json"
    assert client.get("/api/plug/hep/metrics").status_code == 401
    resp = client.get("/api/plug/hep/metrics", headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    values = {
        (s.name, s.labels.get("route"), s.labels.get("status")): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }
    assert values[("hep_http_requests_total", "/api/plug/hep/health", "200")] >= 1
    assert values[("hep_http_requests_total", "/api/plug/hep/metrics", "401")] >= 1
    assert values[("hep_inbound_queue_depth", None, None)] == 0


def known_secrets(plugin_dir: Path) -> list[str]:
    """The signing secrets in ``plugin_dir`` and every key/secret in the root's platform config."""
    secrets = [json.loads(p.read_text("utf-8"))["secret"] for p in plugin_dir.glob("keys/*.json")]
    root = plugin_dir.parents[2]
    for entry in read_config(root).get("platform", []):
        if entry.get("type") == PLATFORM_TYPE:
            secrets += [
                str(value)
                for name, value in entry.items()
                if re.search(r"(key|secret)$", name) and isinstance(value, str) and value
            ]
    return secrets


@pytest.mark.run_last
def test_no_key_or_secret_ever_reached_an_audit_file(
    astrbot: AstrBotProcess, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """We expect, after the whole session, no key-shaped string and no known secret in any
    audit file of any AstrBot root the session made, nor in our lines of AstrBot's log."""
    pattern = f"**/data/plugin_data/{PLUGIN_FOLDER}"
    plugin_dirs = sorted(tmp_path_factory.getbasetemp().glob(pattern))
    assert audit_dir(astrbot) in plugin_dirs
    scanned = 0
    for plugin_dir in plugin_dirs:
        text = "\n".join(p.read_text("utf-8") for p in sorted(plugin_dir.glob("audit*.log*")))
        scanned += text.count("\n")
        secrets = [*known_secrets(plugin_dir), jwt_secret]
        leaked = [s for s in secrets if s in text] + KEY_SHAPE.findall(text)
        assert not leaked, f"secrets in {plugin_dir}: {leaked}"
    assert scanned > 0
    # The short human copies went to AstrBot's log: no key there either.
    ours = [line for line in astrbot.log_text().splitlines() if "[http_endpoint]" in line]
    assert ours and not KEY_SHAPE.findall("\n".join(ours))
