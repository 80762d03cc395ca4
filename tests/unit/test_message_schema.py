"""The generated JSON Schemas agree with the parser on every documented shape."""

from __future__ import annotations

import base64
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # (AstrBot ships it; no stubs needed for a test)
import pytest

from asgi_app.errors import BadRequest
from asgi_app.message_schema import reply_item_schema, request_schema
from asgi_app.models import Item
from asgi_app.validation import parse_inbound

DATA = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
IDS = {"msg_id": "m1", "sender_id": "u1"}

ACCEPTED: list[dict[str, Any]] = [
    {"query": "hi"},
    {"type": "text", "query": "你好", "sender_nickname": "昵称"},
    {"type": "image", "url": "https://e.x/a.jpg"},
    {"type": "image", "url": DATA, "query": "看"},
    {"type": "audio", "url": "http://e.x/a.mp3"},
    {"type": "video", "url": "https://e.x/v.mp4", "group_id": "g1", "group_name": "群"},
    {"type": "file", "url": "https://e.x/r.pdf", "name": "r.pdf"},
    {
        "type": "mixed",
        "message": [
            {"type": "text", "content": "a"},
            {"type": "image", "url": DATA},
            {"type": "file", "url": "https://e.x/f", "name": "f"},
        ],
    },
]
REJECTED: list[dict[str, Any]] = [
    {},
    {"type": "text"},
    {"type": "text", "query": "  "},
    {"type": "image"},
    {"type": "image", "url": "ftp://e.x/a"},
    {"type": "sticker", "url": "https://e.x/a"},
    {"type": "mixed", "message": []},
    {"type": "mixed", "message": [{"type": "text"}]},
    {"type": "mixed", "message": [{"type": "image", "url": "file:///etc/passwd"}]},
    {"type": "text", "query": "x", "group_id": 1},
]


@pytest.mark.parametrize("fields", ACCEPTED)
def test_what_the_parser_accepts_the_schema_accepts(fields: dict[str, Any]) -> None:
    body = {**IDS, **fields}
    parse_inbound(body)
    jsonschema.validate(body, request_schema())


@pytest.mark.parametrize("fields", REJECTED)
def test_what_the_schema_refuses_the_parser_refuses(fields: dict[str, Any]) -> None:
    body = {**IDS, **fields}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, request_schema())
    with pytest.raises(BadRequest):
        parse_inbound(body)


def test_the_schemas_are_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(request_schema())
    jsonschema.Draft202012Validator.check_schema(reply_item_schema())


@pytest.mark.parametrize(
    "item",
    [
        Item("text", "hi"),
        Item("image", "https://e.x/a.png"),
        Item("audio", "/api/plug/hep/files/x/a.wav?exp=1&sig=2", extra={"text": "spoken"}),
        Item("file", "https://e.x/r.pdf", extra={"name": "r.pdf"}),
        Item("at", "u1", extra={"name": "Alice"}),
        Item("reply", "m0"),
        Item("unknown", {"component": "Face"}),
    ],
)
def test_reply_items_match_the_item_schema(item: Item) -> None:
    jsonschema.validate(item.to_json(), reply_item_schema())
