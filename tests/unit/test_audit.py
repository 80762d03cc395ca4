"""The audit trail: one msg_id's story, the common fields, content, secrets, robustness."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.audit_chain import COMMON_FIELDS, REDACTED
from asgi_app.key_audit import ensure_key_audited
from asgi_app.keys import KeyManager, fingerprint
from asgi_app.models import Item
from tests.unit.conftest import CHAT, Harness, ListSink

BODY = {"msg_id": "m-story", "type": "text", "query": "秘密的问题", "sender_id": "alice"}


def story(sink: ListSink, msg_id: str) -> list[dict[str, Any]]:
    return [line for line in sink.lines if line.get("msg_id") == msg_id]


async def test_one_msg_id_can_be_followed_from_request_to_done(harness: Harness) -> None:
    """We expect accepted → published → done → request, all with one request id."""
    resp = await harness.chat(BODY)
    assert resp.status_code == 200
    lines = story(harness.sink, "m-story")
    assert [line["event"] for line in lines] == [
        "message_accepted",
        "reply_published",
        "request_done",
        "request",
    ]
    assert {line["request_id"] for line in lines} == {resp.headers["X-Request-Id"]}
    assert {line["sender_id"] for line in lines} == {"alice"}
    assert {line["platform_id"] for line in lines} == {"hep_test"}
    assert {line["key_fp"] for line in lines} == {fingerprint(harness.key)}
    done = lines[2]
    assert done["done"] is True and done["items"] == 1 and done["reason"] == "pipeline"
    assert done["duration_ms"] >= 0
    assert lines[1]["item_id"] == resp.json()["data"][0]["item_id"]


async def test_every_line_has_the_common_fields_first_and_a_utc_timestamp(
    harness: Harness,
) -> None:
    """We expect ts, level, event, then the common fields (null when unknown) on every line."""
    await harness.chat(BODY)
    await harness.client.post(CHAT, json=BODY, headers={"Authorization": "Bearer nope"})
    for raw in harness.sink.raw:
        line = json.loads(raw)
        assert list(line)[:8] == ["ts", "level", "event", *COMMON_FIELDS]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["ts"])
        assert datetime.fromisoformat(line["ts"]).utcoffset() is not None


async def test_message_content_is_not_logged_by_default(harness: Harness) -> None:
    """We expect neither the question nor the answer in the file."""
    await harness.chat(BODY)
    text = "\n".join(harness.sink.raw)
    assert "秘密的问题" not in text
    accepted = harness.sink.events("message_accepted")[0]
    assert accepted["parts"] == ["text"] and accepted["text_chars"] == 5
    assert "content" not in accepted


@pytest.mark.parametrize("settings_overrides", [{"hep_log_content": "true"}])
async def test_content_switch_logs_text_truncated(harness: Harness) -> None:
    """We expect content on accepted and published lines, cut to 200 characters."""
    long = "x" * 500
    await harness.chat({**BODY, "query": long})
    accepted = harness.sink.events("message_accepted")[0]
    assert accepted["content"] == "x" * 200 + "…"
    assert harness.sink.events("reply_published")[0]["content"].startswith("echo: xxx")


async def test_auth_failure_names_reason_fingerprint_and_client_ip(harness: Harness) -> None:
    """We expect a warning with what was presented as a fingerprint, never the string."""
    presented = harness.key[:-4] + "AAAA"
    await harness.chat(BODY, key=presented)
    (line,) = harness.sink.events("auth_failed")
    assert line["level"] == "warning"
    assert line["reason"] == "bad_signature"
    assert line["key_fp"] == fingerprint(presented)
    assert line["client_ip"] == "203.0.113.7"
    assert presented not in "\n".join(harness.sink.raw)


async def test_refresh_logs_old_and_new_fingerprints_only(harness: Harness) -> None:
    """We expect key_refreshed with both fingerprints and neither key."""
    resp = await harness.client.post("/api/plug/hep/refresh_token", headers=harness.auth())
    new_key = resp.json()["data"][0]["api_key"]
    (line,) = harness.sink.events("key_refreshed")
    assert line["key_fp"] == fingerprint(harness.key)
    assert line["new_key_fp"] == fingerprint(new_key)
    assert new_key not in "\n".join(harness.sink.raw)


async def test_lines_from_astrbots_side_ignore_ambient_request_context(harness: Harness) -> None:
    """We expect a reply published inside another request's context to keep its own ids."""
    await harness.chat(BODY)
    record = harness.bot.seen[0].record
    with structlog.contextvars.bound_contextvars(request_id="other", msg_id="x", key_fp="fp"):
        harness.gateway.publish(record, [Item("text", "late")])
        harness.gateway.publish_to_session("alice", [Item("text", "push")])
    late, push = harness.sink.events("reply_published")[-2:]
    assert late["msg_id"] == "m-story" and late["late"] is True
    assert late["request_id"] == record.origin["request_id"] != "other"
    assert push["msg_id"] is None and push["request_id"] is None and push["key_fp"] is None
    assert push["session_id"] == "alice"


@pytest.mark.parametrize("settings_overrides", [{"hep_wait_timeout": "0"}])
async def test_deadline_and_shutdown_are_logged_as_request_done(harness: Harness) -> None:
    """We expect a done line with its reason when the pipeline never finishes."""
    harness.bot.behaviour = _never_finish
    await harness.chat({**BODY, "msg_id": "slow"})  # answers 202 after the wait
    harness.gateway.close()
    (line,) = [e for e in harness.sink.events("request_done") if e["msg_id"] == "slow"]
    assert line["reason"] == "shutdown" and line["timed_out"] is True


async def _never_finish(submission: Any, gateway: Any) -> None:
    return None


@pytest.mark.parametrize("settings_overrides", [{"hep_wait_timeout": "0"}])
async def test_a_stopping_gateway_refuses_new_messages_with_503(harness: Harness) -> None:
    """We expect a closed gateway to refuse new messages with 503 (it is stopping)."""
    harness.gateway.close()
    resp = await harness.chat(BODY)
    assert resp.status_code == 503
    assert resp.json()["code"] != 0


class Exploding:
    """A sink whose every write fails, like a full disk."""

    def _fail(self, message: str) -> None:
        raise OSError(28, "No space left on device")

    debug = info = warning = error = critical = exception = msg = _fail


@pytest.mark.parametrize("audit_sink", [Exploding()])
async def test_a_log_that_cannot_be_written_never_fails_a_request(harness: Harness) -> None:
    """We expect 200 with the reply, and the failures counted, when every write raises."""
    resp = await harness.chat(BODY)
    assert resp.status_code == 200
    assert resp.json()["data"][0]["content"] == "echo: 秘密的问题"
    bad = await harness.client.post(CHAT, json=BODY, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    # accepted, published, done, request; then auth_failed and request of the 401
    assert harness.audit.failures == 6


async def test_unwritable_file_and_failing_echo_never_raise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """We expect a directory in place of the file and a raising echo to be swallowed."""
    (tmp_path / "audit.log").mkdir()

    def echo(level: int, line: str) -> None:
        raise RuntimeError("host logger down")

    trail = AuditTrail.to_file(
        tmp_path / "audit.log", platform_id="p", max_bytes=1024, backups=1, echo=echo
    )
    try:
        trail.info("request", status=200)
        trail.auth_failed(reason="missing", key_fp=None)
    finally:
        trail.close()
    assert trail.failures == 0  # nothing raised out of the chain
    err = capsys.readouterr().err
    assert err.count("the audit log could not be written: IsADirectoryError") == 1  # once


def test_rotation_keeps_the_configured_number_of_files(tmp_path: Path) -> None:
    """We expect audit.log plus N backups, each line of each a whole JSON object."""
    path = tmp_path / "audit.log"
    trail = AuditTrail.to_file(path, platform_id="p", max_bytes=2048, backups=2)
    try:
        for n in range(200):
            trail.info("request", n=n, path="/api/plug/v1/chat")
    finally:
        trail.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.log", "audit.log.1", "audit.log.2"]
    numbers = []
    for name in names:
        raw = (tmp_path / name).read_text("utf-8")
        assert len(raw.encode()) <= 2048
        numbers += [json.loads(line)["n"] for line in raw.splitlines()]
    assert max(numbers) == 199  # the newest line is kept; the oldest rotated away
    assert len(set(numbers)) == len(numbers)


def test_utf8_file_one_object_per_line(tmp_path: Path) -> None:
    """We expect non-ASCII text as UTF-8, not escapes, and a newline after each object."""
    path = tmp_path / "audit.log"
    trail = AuditTrail.to_file(path, platform_id="平台", max_bytes=10**6, backups=1)
    trail.config_error(error="hep_cache_size: expected a whole number, got '很多'")
    trail.close()
    raw = path.read_bytes().decode("utf-8")
    assert raw.endswith("\n") and raw.count("\n") == 1
    line = json.loads(raw)
    assert line["platform_id"] == "平台" and "很多" in raw and line["level"] == "error"


def test_secret_named_fields_are_redacted_and_tracebacks_have_no_locals() -> None:
    """We expect a field called api_key masked and a frame's local key not rendered."""
    sink = ListSink()
    trail = AuditTrail(create_audit_logger(sink))
    trail.info("oops", api_key="hep_secret.value", signature="v1,abc")
    try:
        token = "hep_local.secret"  # noqa: F841 - a local a traceback with locals would show
        raise ValueError("boom")
    except ValueError as exc:
        trail.internal_error(exc)
    text = "\n".join(sink.raw)
    assert "hep_secret.value" not in text and "v1,abc" not in text
    assert "hep_local.secret" not in text
    assert sink.lines[0]["api_key"] == REDACTED
    assert sink.lines[1]["exception"][0]["exc_type"] == "ValueError"


def test_echo_writes_a_short_human_line_at_info_or_above() -> None:
    """We expect one host line per event (warnings as warnings), minus healthy health checks."""
    echoed: list[tuple[int, str]] = []
    logger = create_audit_logger(
        ListSink(), echo=lambda lv, s: echoed.append((lv, s)), quiet_paths={"/health"}
    )
    trail = AuditTrail(logger)
    trail.info("request", method="POST", path="/p", status=200, msg_id="m1", extra="hidden")
    trail.info("request", method="GET", path="/health", status=200)
    trail.auth_failed(reason="expired", key_fp="abc123")
    trail.info("request", method="GET", path="/health", status=503)
    assert len(echoed) == 3  # the healthy health check stays out of the host's log
    assert "status=503" in echoed[2][1]
    assert echoed[0] == (
        logging.INFO,
        "[http_endpoint] request msg_id=m1 method=POST path=/p status=200",
    )
    assert echoed[1] == (
        logging.WARNING,
        "[http_endpoint] auth_failed reason=expired key_fp=abc123",
    )


def test_building_the_trail_touches_neither_structlog_config_nor_the_root_logger(
    tmp_path: Path,
) -> None:
    """We expect the process-wide logging setup to be exactly as it was."""
    root_handlers = list(logging.getLogger().handlers)
    was_configured = structlog.is_configured()
    trail = AuditTrail.to_file(tmp_path / "a.log", platform_id="p", max_bytes=4096, backups=1)
    trail.info("request")
    trail.close()
    assert logging.getLogger().handlers == root_handlers
    assert structlog.is_configured() == was_configured
    assert "astrbot_plugin_http_endpoint.audit" not in logging.root.manager.loggerDict


def test_callback_events_have_the_documented_shape() -> None:
    """We expect the API the callback worker calls to write the documented fields."""
    sink = ListSink()
    trail = AuditTrail(create_audit_logger(sink, platform_id="p"))
    with structlog.contextvars.bound_contextvars(request_id="unrelated", key_fp="fp"):
        trail.callback_attempt(
            msg_id="m",
            sender_id="s",
            webhook_id="msg_1",
            attempt=2,
            status=502,
            outcome="retry",
            duration_ms=12.3456,
            next_retry_s=4.0,
            error="HTTP 502",
        )
        trail.dead_letter(msg_id="m", webhook_id="msg_1", attempts=4, error="timeout after 10 s")
    attempt, dead = sink.lines
    assert attempt["level"] == "warning" and attempt["duration_ms"] == 12.346
    assert {k: attempt[k] for k in ("attempt", "status", "outcome", "next_retry_s")} == {
        "attempt": 2,
        "status": 502,
        "outcome": "retry",
        "next_retry_s": 4.0,
    }
    assert dead["event"] == "callback_dead_letter" and dead["level"] == "error"
    assert dead["msg_id"] == "m" and dead["platform_id"] == "p" and dead["attempts"] == 4
    assert attempt["request_id"] is None and dead["key_fp"] is None  # no ambient context


def test_startup_key_events_say_why_and_what_was_revoked(tmp_path: Path) -> None:
    """We expect issued(+revoked) with a reason, and nothing when the key is still good."""
    sink = ListSink()
    trail = AuditTrail(create_audit_logger(sink))
    keys = KeyManager(platform_id="p", state_file=tmp_path / "k.json", ttl=3600)
    first = ensure_key_audited(keys, "", trail)
    assert first is not None
    assert ensure_key_audited(keys, first, trail) is None
    second = ensure_key_audited(keys, "garbage", trail)
    assert second is not None
    events = [(e["event"], e.get("reason"), e.get("generation")) for e in sink.lines]
    assert events == [
        ("key_issued", "empty", 1),
        ("key_issued", "malformed", 2),
        ("key_revoked", "malformed", None),
    ]
    assert sink.lines[2]["below_generation"] == 2
    assert sink.lines[1]["key_fp"] == fingerprint(second)
    text = "\n".join(sink.raw)
    assert first not in text and second not in text


def test_lifecycle_lines_carry_no_request_context() -> None:
    """We expect adapter_started/stopped with null request fields even inside a request."""
    sink = ListSink()
    trail = AuditTrail(create_audit_logger(sink, platform_id="p"))
    with structlog.contextvars.bound_contextvars(request_id="r", key_fp="fp", msg_id="m"):
        trail.adapter_started(chat_path="/api/plug/v1/chat")
        trail.adapter_stopped()
    started, stopped = sink.lines
    assert started["chat_path"] == "/api/plug/v1/chat" and stopped["event"] == "adapter_stopped"
    for line in (started, stopped):
        assert (line["request_id"], line["key_fp"], line["msg_id"]) == (None, None, None)
        assert line["platform_id"] == "p"


def test_lines_after_close_are_dropped_not_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a handler stdlib logging prints to stderr (lastResort); a closed trail is silent."""
    trail = AuditTrail.to_file(tmp_path / "audit.log", platform_id="p", max_bytes=4096, backups=1)
    trail.close()
    trail.auth_failed(reason="missing", key_fp=None)
    trail.error("late", detail="after close")
    assert capsys.readouterr().err == ""
