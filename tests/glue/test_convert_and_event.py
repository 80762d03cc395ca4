"""Client messages → AstrBot messages (groups, data files); the event's visibility rules."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from astrbot.api.event import MessageChain
from astrbot.api.message_components import File, Image, Plain, Record, Video
from astrbot.api.platform import MessageType, PlatformMetadata
from astrbot.core.utils.metrics import Metric

from .conftest import staged

Gateway = staged("asgi_app.gateway").Gateway
Inbound = staged("asgi_app.models").Inbound
Part = staged("asgi_app.models").Part
ReplyRecord = staged("asgi_app.models").Record
to_astrbot_message = staged("plugin.convert").to_astrbot_message
HttpEndpointEvent = staged("plugin.event").HttpEndpointEvent
ItemMaker = staged("plugin.outbound").ItemMaker

PNG_DATA = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


def inbound(*parts: Any, group_id: str = "") -> Any:
    return Inbound("m1", "u1", "Alice", parts, group_id=group_id, group_name=group_id)


def test_each_part_becomes_its_component_and_message_str_is_the_text() -> None:
    message, temp = to_astrbot_message(
        inbound(
            Part("text", text="看"),
            Part("image", url=PNG_DATA),
            Part("audio", url="https://e.x/a.mp3"),
            Part("video", url="https://e.x/v.mp4"),
            Part("file", url="https://e.x/r.pdf", name="r.pdf"),
            Part("text", text="图"),
        ),
        self_id="hep",
    )
    kinds = [type(c) for c in message.message]
    assert kinds == [Plain, Image, Record, Video, File, Plain]
    assert message.message_str == "看图"
    assert message.type == MessageType.FRIEND_MESSAGE
    assert (message.session_id, message.sender.user_id, message.group) == ("u1", "u1", None)
    assert temp == []


def test_a_group_message_is_in_the_group_session_from_its_sender() -> None:
    message, _ = to_astrbot_message(inbound(Part("text", text="/sid"), group_id="g1"), self_id="h")
    assert message.type == MessageType.GROUP_MESSAGE
    assert (message.session_id, message.group_id, message.sender.user_id) == ("g1", "g1", "u1")


def test_a_data_file_is_written_to_a_temp_file_for_the_event_to_clean_up() -> None:
    url = "data:text/plain;base64," + base64.b64encode(b"hello").decode()
    message, temp = to_astrbot_message(inbound(Part("file", url=url, name="a.txt")), self_id="h")
    [component] = message.message
    assert isinstance(component, File) and component.name == "a.txt"
    assert temp == [component.file_] and Path(temp[0]).read_bytes() == b"hello"
    Path(temp[0]).unlink()


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    async def no_metrics(**kwargs: Any) -> None:
        return None

    monkeypatch.setattr(Metric, "upload", staticmethod(no_metrics))
    gw = Gateway(queue_size=1, cache_size=10, cache_ttl=60, reply_deadline=60)
    yield gw
    gw.close()


def make_event(gateway: Any, **shown: bool) -> tuple[Any, Any]:
    record = ReplyRecord(("u1", "m1"), "FriendMessage:u1")
    message, _ = to_astrbot_message(inbound(Part("text", text="hi")), self_id="h")
    meta = PlatformMetadata(name="http_endpoint", description="", id="http_endpoint")
    event = HttpEndpointEvent(
        "hi", message, meta, "u1", gateway=gateway, record=record, maker=ItemMaker(None), **shown
    )
    return event, record


async def test_tool_calls_and_reasoning_are_hidden_by_default(gateway: Any) -> None:
    event, record = make_event(gateway)
    await event.send(MessageChain(type="tool_call").message("🔨 调用工具: web_search"))
    event.set_extra("_llm_reasoning_content", "think")
    await event.send(MessageChain([Plain("🤔 思考: think\n\n────\n"), Plain("answer")]))
    assert [(i.type, i.content) for i in record.items] == [("text", "answer")]


async def test_tool_calls_and_reasoning_are_shown_when_configured(gateway: Any) -> None:
    event, record = make_event(gateway, show_tool_calls=True, show_reasoning=True)
    await event.send(MessageChain(type="tool_call").message("🔨 调用工具: web_search"))
    event.set_extra("_llm_reasoning_content", "think")
    await event.send(MessageChain([Plain("🤔 思考: think\n\n────\n"), Plain("answer")]))
    assert [(i.type, i.content) for i in record.items] == [
        ("tool_call", "🔨 调用工具: web_search"),
        ("reasoning", "think"),
        ("text", "answer"),
    ]


async def test_streamed_reasoning_is_its_own_item_only_when_shown(gateway: Any) -> None:
    async def stream() -> AsyncIterator[MessageChain]:
        yield MessageChain(type="reasoning").message("thin")
        yield MessageChain(type="reasoning").message("king")
        yield MessageChain().message("ans")
        yield MessageChain().message("wer")

    hidden, hidden_record = make_event(gateway)
    await hidden.send_streaming(stream())
    assert [(i.type, i.content) for i in hidden_record.items] == [("text", "answer")]
    shown, shown_record = make_event(gateway, show_reasoning=True)
    await shown.send_streaming(stream())
    assert [(i.type, i.content) for i in shown_record.items] == [
        ("reasoning", "thinking"),
        ("text", "answer"),
    ]


@pytest.mark.parametrize("name", ["x.\x00", "a.tar/../../x", "r.\u00e9xe", "noext", ".hidden"])
def test_a_client_file_name_never_shapes_the_temp_path(name: str) -> None:
    """Only a short alphanumeric suffix of the client's name reaches the file system."""
    url = "DATA:application/octet-stream;base64," + base64.b64encode(b"abc").decode()
    message, [path] = to_astrbot_message(inbound(Part("file", url=url, name=name)), self_id="h")
    try:
        written = Path(path)
        assert written.read_bytes() == b"abc"
        assert written.name.startswith("hep_") and "/" not in written.name[4:]
        assert message.message[0].name == name
    finally:
        Path(path).unlink()
