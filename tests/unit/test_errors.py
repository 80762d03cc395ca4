"""Bad input gets the envelope with the right 4xx, never a 500."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from .conftest import CHAT, Harness


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1, 2], "JSON object"),
        ({"type": "text", "query": "x", "sender_id": "u"}, "msg_id"),
        ({"msg_id": "", "query": "x", "sender_id": "u"}, "msg_id"),
        ({"msg_id": 5, "query": "x", "sender_id": "u"}, "msg_id"),
        ({"msg_id": "m", "query": "x"}, "sender_id"),
        ({"msg_id": "m", "type": "text", "sender_id": "u"}, "query"),
        ({"msg_id": "m", "type": "sticker", "sender_id": "u"}, "type"),
        ({"msg_id": "m", "type": "image", "sender_id": "u"}, "url"),
        ({"msg_id": "m", "type": "image", "url": "file:///etc/passwd", "sender_id": "u"}, "url"),
        ({"msg_id": "m", "type": "image", "url": "http://[", "sender_id": "u"}, "url"),
        ({"msg_id": "m" * 129, "query": "x", "sender_id": "u"}, "msg_id"),
    ],
)
async def test_invalid_bodies_get_400_naming_the_field(
    harness: Harness, body: Any, field: str
) -> None:
    response = await harness.client.post(CHAT, json=body, headers=harness.auth())
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert response.json()["error"] == "invalid_request"
    assert not harness.bot.seen


async def test_image_without_query_is_accepted(harness: Harness) -> None:
    """The seed's README example crashed with a 500; ours is a normal message."""
    body = {"msg_id": "i", "type": "image", "url": "https://example.com/a.jpg", "sender_id": "u"}
    response = await harness.chat(body)
    assert response.status_code == 200
    [submission] = harness.bot.seen
    assert [p.type for p in submission.inbound.parts] == ["image"]


async def test_malformed_json_gets_400(harness: Harness) -> None:
    response = await harness.client.post(
        CHAT, content=b"{not json", headers={**harness.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


async def test_form_body_gets_415(harness: Harness) -> None:
    response = await harness.client.post(CHAT, data={"msg_id": "m"}, headers=harness.auth())
    assert response.status_code == 415


async def test_large_body_gets_413(harness: Harness) -> None:
    response = await harness.client.post(
        CHAT,
        content=b" " * (1024 * 1024 + 1),
        headers={**harness.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_wrong_method_gets_405_and_unknown_path_404(harness: Harness) -> None:
    wrong = await harness.client.get(CHAT, headers=harness.auth())
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    missing = await harness.client.get("/api/plug/hep/nothing", headers=harness.auth())
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("just text", "JSON object"),
        (None, "JSON object"),
        ({"msg_id": None, "query": "x", "sender_id": "u"}, "msg_id"),
        ({"msg_id": "m", "query": "x", "sender_id": ""}, "sender_id"),
        ({"msg_id": "m", "query": "x", "sender_id": "   "}, "sender_id"),
        ({"msg_id": "m\n", "query": "x", "sender_id": "u"}, "msg_id"),
        ({"msg_id": "m", "query": "x", "sender_id": ["u"]}, "sender_id"),
        ({"msg_id": "m", "query": "x", "sender_id": "u", "sender_nickname": 7}, "sender_nickname"),
        ({"msg_id": "m", "query": "x", "sender_id": "u", "sender_nickname": "a\x00"}, "nickname"),
        ({"msg_id": "m", "query": "x", "sender_id": "u" * 129}, "sender_id"),
        ({"msg_id": "m", "query": " \n\t", "sender_id": "u"}, "query"),
        ({"msg_id": "m", "query": 42, "sender_id": "u"}, "query"),
        ({"msg_id": "m", "query": "x" * 20_001, "sender_id": "u"}, "query"),
        ({"msg_id": "m", "type": "", "query": "x", "sender_id": "u"}, "type"),
        ({"msg_id": "m", "type": 1, "query": "x", "sender_id": "u"}, "type"),
        ({"msg_id": "m", "type": "image", "url": 5, "sender_id": "u"}, "url"),
        ({"msg_id": "m", "type": "image", "url": "https://x/a b", "sender_id": "u"}, "url"),
        ({"msg_id": "m", "type": "image", "url": "https://u@x/a", "sender_id": "u"}, "url"),
        ({"msg_id": "m", "type": "image", "url": "https://x/a.png\n", "sender_id": "u"}, "url"),
        (
            {"msg_id": "m", "type": "image", "url": "https://x/a", "query": 1, "sender_id": "u"},
            "query",
        ),
    ],
)
async def test_wrong_types_blank_and_over_long_values_get_400_naming_the_field(
    harness: Harness, body: Any, field: str
) -> None:
    """We expect every malformed field to be named, and nothing to reach the bot."""
    response = await harness.client.post(CHAT, json=body, headers=harness.auth())
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"]
    assert response.json()["code"] == 400
    assert not harness.bot.seen


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   ",
        b"\xff\xfe{",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"msg_id": "\\ud800", "query": "x", "sender_id": "u"}',
        b'{"msg_id": "m", "query": "\\udfff", "sender_id": "u"}',
        b'{"msg_id": "m", "n": ' + b"9" * 5000 + b"}",
    ],
    ids=[
        "empty",
        "blank",
        "not-utf8",
        "deep-nesting",
        "lone-surrogate-id",
        "lone-surrogate-text",
        "huge-integer",
    ],
)
async def test_bodies_that_crash_naive_parsers_get_400(harness: Harness, content: bytes) -> None:
    """Empty, undecodable, deeply nested or surrogate-laden JSON is a client error, not a 500."""
    response = await harness.client.post(
        CHAT, content=content, headers={**harness.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_null_optional_fields_count_as_absent(harness: Harness) -> None:
    body = {"msg_id": "m", "type": None, "query": "hi", "sender_id": "u", "sender_nickname": None}
    response = await harness.chat(body)
    assert response.status_code == 200
    [submission] = harness.bot.seen
    assert submission.inbound.sender_nickname == "u"


async def test_image_with_caption_becomes_image_then_text(harness: Harness) -> None:
    body = {"msg_id": "i", "type": "image", "url": "https://e.com/a.jpg", "query": "look",
            "sender_id": "u"}  # fmt: skip
    assert (await harness.chat(body)).status_code == 200
    [submission] = harness.bot.seen
    assert [(p.type, p.url or p.text) for p in submission.inbound.parts] == [
        ("image", "https://e.com/a.jpg"),
        ("text", "look"),
    ]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_non_json_media_types_get_415(harness: Harness, content_type: str) -> None:
    response = await harness.client.post(
        CHAT, content=b"{}", headers={**harness.auth(), "Content-Type": content_type}
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize("settings_overrides", [{"hep_max_body_bytes": "2048"}])
async def test_the_body_limit_is_configurable(harness: Harness) -> None:
    body = {"msg_id": "m", "query": "x" * 1900, "sender_id": "u"}
    assert (await harness.chat(body)).status_code == 200
    body = {"msg_id": "m2", "query": "x" * 2100, "sender_id": "u"}
    response = await harness.chat(body)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert "2048-byte" in response.json()["detail"]
    assert response.headers["connection"] == "close"  # the unread rest forbids keep-alive


@pytest.mark.parametrize("settings_overrides", [{"hep_max_body_bytes": "4096"}])
async def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(
    harness: Harness,
) -> None:
    """No Content-Length: we stop reading as soon as the limit is passed (413)."""
    sent = 0

    async def endless() -> Any:
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b" " * 1024

    response = await harness.client.post(
        CHAT, content=endless(), headers={**harness.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert sent <= 6  # 4 KiB limit: the 5th chunk passes it; the rest is never pulled


@pytest.mark.parametrize(
    ("method", "path", "status", "slug"),
    [
        ("PUT", CHAT, 405, "method_not_allowed"),
        ("DELETE", "/api/plug/hep/refresh_token", 405, "method_not_allowed"),
        ("HEAD", "/api/plug/hep/refresh_token", 405, "method_not_allowed"),
        ("POST", "/api/plug/hep/openapi.json", 405, "method_not_allowed"),
        ("GET", "/api/plug/hep/keys", 404, "not_found"),
        ("POST", CHAT + "/deeper", 404, "not_found"),
    ],
)
async def test_wrong_methods_and_unknown_paths_get_the_envelope(
    harness: Harness, method: str, path: str, status: int, slug: str
) -> None:
    response = await harness.client.request(method, path, headers=harness.auth())
    assert response.status_code == status
    if method != "HEAD":
        assert response.json()["error"] == slug and response.json()["code"] == status
    if status == 405:
        assert response.headers["allow"]
    assert harness.issued == []  # HEAD never rotates the key


async def test_a_client_that_disconnects_mid_body_is_not_a_server_error(harness: Harness) -> None:
    """We expect a 400 in the log, not an internal error, when the body never completes."""
    from asgi_app.app import create_app
    from asgi_app.audit import AuditTrail, create_audit_logger
    from asgi_app.routes import Handlers

    handlers = Handlers(
        settings=harness.settings,
        gateway=harness.gateway,
        keys=harness.keys,
        audit=AuditTrail(create_audit_logger(harness.sink)),
        on_key_issued=harness.issued.append,
    )
    pending: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"msg_id": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    messages = iter(pending)
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": CHAT,
        "raw_path": CHAT.encode(),
        "query_string": b"",
        "headers": [
            (b"authorization", f"Bearer {harness.key}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "scheme": "http",
    }
    await create_app(handlers)(scope, receive, send)
    assert sent[0]["status"] == 400
    assert not harness.sink.events("internal_error")
