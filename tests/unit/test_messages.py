"""Inbound message shapes: every type, data URLs, allowed schemes, groups, errors naming fields."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from asgi_app.errors import BadRequest
from asgi_app.messages import MESSAGE_SHAPES, PART_SHAPES
from asgi_app.models import Part
from asgi_app.validation import MESSAGE_TYPES, parse_inbound

from .conftest import Harness

PNG_DATA = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


def body(**fields: Any) -> dict[str, Any]:
    return {"msg_id": "m1", "sender_id": "u1", **fields}


@pytest.mark.parametrize(
    ("fields", "parts"),
    [
        ({"type": "text", "query": "你好"}, [Part("text", text="你好")]),
        ({"query": "no type means text"}, [Part("text", text="no type means text")]),
        ({"type": "image", "url": "https://e.x/a.jpg"}, [Part("image", url="https://e.x/a.jpg")]),
        (
            {"type": "image", "url": "https://e.x/a.jpg", "query": "看"},
            [Part("image", url="https://e.x/a.jpg"), Part("text", text="看")],
        ),
        ({"type": "audio", "url": "http://e.x/a.mp3"}, [Part("audio", url="http://e.x/a.mp3")]),
        ({"type": "video", "url": "http://e.x/v.mp4"}, [Part("video", url="http://e.x/v.mp4")]),
        (
            {"type": "file", "url": "https://e.x/dir/%E6%8A%A5%E5%91%8A.pdf"},
            [Part("file", url="https://e.x/dir/%E6%8A%A5%E5%91%8A.pdf", name="报告.pdf")],
        ),
        (
            {"type": "file", "url": "https://e.x/d", "name": "r.txt"},
            [Part("file", url="https://e.x/d", name="r.txt")],
        ),
        ({"type": "image", "url": PNG_DATA}, [Part("image", url=PNG_DATA)]),
        (
            {
                "type": "mixed",
                "message": [
                    {"type": "text", "content": "a"},
                    {"type": "image", "url": PNG_DATA},
                    {"type": "file", "url": "https://e.x/f", "name": "f.bin"},
                    {"type": "text", "content": "b"},
                ],
            },
            [
                Part("text", text="a"),
                Part("image", url=PNG_DATA),
                Part("file", url="https://e.x/f", name="f.bin"),
                Part("text", text="b"),
            ],
        ),
    ],
)
def test_each_shape_becomes_its_parts(fields: dict[str, Any], parts: list[Part]) -> None:
    assert list(parse_inbound(body(**fields)).parts) == parts


def test_message_str_is_the_text_parts_joined_like_astrbots_platforms() -> None:
    mixed = [{"type": "text", "content": "两张"}, {"type": "image", "url": PNG_DATA}]
    mixed.append({"type": "text", "content": "图"})
    assert parse_inbound(body(type="mixed", message=mixed)).text == "两张图"
    assert parse_inbound(body(type="image", url=PNG_DATA)).text == ""


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"type": "image", "url": "ftp://e.x/a.jpg"}, "url: only http, https and data"),
        ({"type": "image", "url": "file:///etc/passwd"}, "url: only http, https and data"),
        ({"type": "audio", "url": "/etc/passwd"}, "url: only http, https and data"),
        ({"type": "image", "url": "https://"}, "url: must be an absolute http(s) URL"),
        ({"type": "image"}, "url: this field is required"),
        ({"type": "image", "url": 3}, "url: must be a string"),
        (
            {"type": "image", "url": "data:image/png,notbase64"},
            "url: use data:<media type>;base64,",
        ),
        (
            {"type": "image", "url": "data:image/png;base64,!!!"},
            "url: use data:<media type>;base64,",
        ),
        ({"type": "audio", "url": PNG_DATA}, "url: use data:<media type>;base64,"),
        ({"type": "sticker", "url": PNG_DATA}, "type: unknown message type 'sticker'"),
        ({"type": "mixed"}, "message: must be a non-empty array"),
        ({"type": "mixed", "message": []}, "message: must be a non-empty array"),
        ({"type": "mixed", "message": ["hi"]}, "message[0]: each part must be an object"),
        (
            {"type": "mixed", "message": [{"content": "x"}]},
            "message[0].type: this field is required",
        ),
        (
            {"type": "mixed", "message": [{"type": "text", "content": "a"}, {"type": "image"}]},
            "message[1].url: this field is required",
        ),
        (
            {"type": "mixed", "message": [{"type": "video", "url": "ftp://x/y"}]},
            "message[0].url: only http, https and data",
        ),
        ({"type": "mixed", "message": [{"type": "at", "qq": 1}]}, "message[0].type: unknown part"),
        ({"type": "text", "query": "x", "group_id": 5}, "group_id: must be a string"),
        ({"type": "file", "url": "https://e.com/f", "name": "x.\u0000"}, "name: must contain no"),
    ],
)
def test_bad_shapes_are_rejected_naming_the_field(fields: dict[str, Any], detail: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_inbound(body(**fields))
    assert caught.value.detail.startswith(detail), caught.value.detail


def test_group_id_makes_a_group_message_whose_session_is_the_group() -> None:
    inbound = parse_inbound(body(query="/sid", group_id="g1", group_name="测试群"))
    assert (inbound.group_id, inbound.group_name, inbound.chat_id) == ("g1", "测试群", "g1")
    assert inbound.sender_id == "u1"
    assert inbound.session_id == "GroupMessage:g1"
    assert parse_inbound(body(query="hi")).session_id == "FriendMessage:u1"


def test_shapes_are_exposed_as_data_for_the_openapi_document() -> None:
    assert MESSAGE_TYPES == ("text", "image", "audio", "video", "file", "mixed")
    assert MESSAGE_SHAPES["text"].required == ("query",)
    assert MESSAGE_SHAPES["file"].optional == ("name", "query")
    assert MESSAGE_SHAPES["mixed"].required == ("message",)
    assert PART_SHAPES["text"] == (("content",), ())
    assert PART_SHAPES["file"] == (("url",), ("name",))


async def test_data_urls_up_to_the_body_limit_are_accepted(harness: Harness) -> None:
    """A data URL is not held to the http URL length; only the body limit applies."""
    big = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + b"\0" * 300_000).decode()
    response = await harness.chat(body(type="image", url=big))
    assert response.status_code == 200
    assert harness.bot.seen[0].inbound.parts[0].url == big


async def test_a_bad_scheme_is_a_400_envelope_naming_the_field(harness: Harness) -> None:
    response = await harness.chat(body(type="image", url="ftp://e.x/a.png"))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("url: only http, https and data URLs")
    assert harness.bot.seen == []


async def test_the_request_origin_is_remembered_for_file_links(harness: Harness) -> None:
    await harness.chat(body(query="hi"))
    assert harness.bot.seen[0].inbound.base_url == "http://testserver"


@pytest.mark.parametrize("settings_overrides", [{"hep_public_base_url": "https://bot.example.com"}])
async def test_a_configured_public_base_url_wins_over_the_request_origin(harness: Harness) -> None:
    await harness.chat(body(query="hi"))
    assert harness.bot.seen[0].inbound.base_url == "https://bot.example.com"
