"""The audit settings reach the real file: content switch, rotation, and a config error.

One AstrBot for the module with two ``http_endpoint`` entries: ``http_endpoint`` logs
content and rotates at a tiny size; ``hep_bad`` has a nonsense value and must not start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import JWT_SECRET
from tests.harness.astrbot_root import (
    PLATFORM_TYPE,
    PLUGIN_FOLDER,
    AstrBotProcess,
    FakeLLMProcess,
    running_astrbot,
    wait_for_key,
    wait_until,
)

GOOD = {
    "id": "http_endpoint",
    "type": PLATFORM_TYPE,
    "enable": True,
    "hep_log_content": "true",
    "hep_log_max_bytes": "4096",
    "hep_log_backups": "1",
}
BAD = {"id": "hep_bad", "type": PLATFORM_TYPE, "enable": True, "hep_cache_size": "lots"}


@pytest.fixture(scope="module")
def astrbot(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMProcess
) -> Iterator[AstrBotProcess]:
    """This module's own AstrBot (named like the session one, so failures show its log)."""
    with running_astrbot(
        tmp_path_factory.mktemp("astrbot-audit-settings"),
        llm_base_url=fake_llm.base_url,
        platform=[GOOD, BAD],
        jwt_secret=JWT_SECRET,
    ) as proc:
        yield proc


def plugin_dir(proc: AstrBotProcess) -> Path:
    return proc.root / "data" / "plugin_data" / PLUGIN_FOLDER


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_a_config_error_is_audited_in_its_own_file(astrbot: AstrBotProcess) -> None:
    """We expect config_error naming the key in audit.hep_bad.log, and AstrBot still up."""
    path = plugin_dir(astrbot) / "audit.hep_bad.log"
    lines = wait_until(lambda: read_lines(path), timeout=30, message=f"lines in {path}")
    (line,) = lines
    assert line["event"] == "config_error" and line["level"] == "error"
    assert line["platform_id"] == "hep_bad"
    assert line["error"].startswith("hep_cache_size:")
    assert astrbot.is_running()


def test_content_switch_and_rotation_follow_the_config(astrbot: AstrBotProcess) -> None:
    """We expect message text in the file, and audit.log.1 once 4 KiB is passed."""
    key = wait_for_key(astrbot.root, "http_endpoint")
    with httpx.Client(base_url=astrbot.base_url, trust_env=False, timeout=30) as client:
        for n in range(6):
            body = {"msg_id": f"rot-{n}", "query": f"内容{n} " + "x" * 300, "sender_id": "s"}
            resp = client.post(
                "/api/plug/v1/chat", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            assert resp.status_code == 200, resp.text
    folder = plugin_dir(astrbot)
    wait_until(lambda: (folder / "audit.log.1").exists(), timeout=10, message="a rotated file")
    assert not (folder / "audit.log.2").exists()  # hep_log_backups = 1
    lines = read_lines(folder / "audit.log.1") + read_lines(folder / "audit.log")
    accepted = [line for line in lines if line["event"] == "message_accepted"]
    assert accepted, "no message_accepted line survived rotation"
    assert accepted[-1]["content"].startswith("内容5 xxx") and accepted[-1]["content"][-1] == "…"
    # The stdlib handler compares characters, not bytes: allow the last line's CJK surplus.
    assert all(path.stat().st_size <= 4096 + 64 for path in folder.glob("audit.log*"))
