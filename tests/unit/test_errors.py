"""Bad input gets the envelope with the right 4xx, never a 500."""

from __future__ import annotations

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
