"""AstrBot components → reply items, with local media copied into the file store."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from astrbot.api.message_components import (
    At,
    Face,
    File,
    Image,
    Plain,
    Record,
    Reply,
    Video,
)

from .conftest import staged

FileStore = staged("asgi_app.files").FileStore
ItemMaker = staged("plugin.outbound").ItemMaker

BASE = "https://bot.example.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


@pytest.fixture
def store(tmp_path: Path) -> Any:
    return FileStore(tmp_path / "store", ttl=60, max_bytes=10_000)


@pytest.fixture
def maker(store: Any) -> Any:
    return ItemMaker(store, BASE)


def local(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


async def test_adjacent_text_is_one_item_and_can_be_relabelled(maker: Any) -> None:
    items = await maker.items([Plain("a"), Plain("b"), At(qq="u1", name="A"), Plain("c")])
    assert [(i.type, i.content) for i in items] == [("text", "ab"), ("at", "u1"), ("text", "c")]
    [status] = await maker.items([Plain("🔨 调用工具")], text_type="tool_call")
    assert (status.type, status.content) == ("tool_call", "🔨 调用工具")


async def test_local_media_become_signed_links_on_the_base_url(
    tmp_path: Path, maker: Any, store: Any
) -> None:
    image = Image.fromFileSystem(local(tmp_path, "t2i.png", PNG))
    audio_path = local(tmp_path, "tts.wav", b"RIFF\0\0\0\0WAVE")
    audio = Record(file=audio_path, url=audio_path, text="spoken")
    doc = File(name="报告.txt", file=local(tmp_path, "x.txt", b"report"))
    video = Video.fromFileSystem(local(tmp_path, "v.mp4", b"\0\0\0\x18ftypmp42"))
    items = await maker.items([image, audio, doc, video])
    assert [i.type for i in items] == ["image", "audio", "file", "video"]
    for item in items:
        assert item.content.startswith(BASE + "/api/plug/hep/files/"), item.content
    assert items[1].extra == {"text": "spoken"}
    assert items[2].extra == {"name": "报告.txt"}
    assert len(list(store.directory.iterdir())) == 4  # copies, not the originals


async def test_base64_and_data_media_are_stored(maker: Any, store: Any) -> None:
    encoded = base64.b64encode(PNG).decode()
    items = await maker.items(
        [Image.fromBase64(encoded), Record(file=f"data:audio/wav;base64,{encoded}")]
    )
    assert [i.type for i in items] == ["image", "audio"]
    assert store.used_bytes == 2 * len(PNG)


async def test_remote_media_pass_through(maker: Any) -> None:
    items = await maker.items(
        [
            Image.fromURL("https://e.x/a.png"),
            Video.fromURL("https://e.x/v.mp4"),
            Record.fromURL("https://e.x/a.mp3"),
            File(name="r.pdf", url="https://e.x/r.pdf"),
            Reply(id="m0"),
        ]
    )
    assert [i.to_json() | {"item_id": ""} for i in items] == [
        {"item_id": "", "type": "image", "content": "https://e.x/a.png"},
        {"item_id": "", "type": "video", "content": "https://e.x/v.mp4"},
        {"item_id": "", "type": "audio", "content": "https://e.x/a.mp3"},
        {"item_id": "", "type": "file", "content": "https://e.x/r.pdf", "name": "r.pdf"},
        {"item_id": "", "type": "reply", "content": "m0"},
    ]


async def test_what_cannot_be_shown_is_an_unknown_item_not_silence(
    tmp_path: Path, store: Any
) -> None:
    maker = ItemMaker(store)
    face, missing = await maker.items(
        [Face(id=1), Image.fromFileSystem(str(tmp_path / "gone.png"))]
    )
    assert face.content == {"component": "Face"}
    assert (missing.type, missing.content["component"]) == ("unknown", "Image")
    [too_big] = await maker.items([Image.fromBase64(base64.b64encode(b"x" * 20_000).decode())])
    assert "file store" in too_big.content["detail"]
    [no_store] = await ItemMaker(None).items([Image.fromBase64(base64.b64encode(PNG).decode())])
    assert no_store.type == "unknown"


async def test_links_are_relative_without_a_base_url(tmp_path: Path, store: Any) -> None:
    [item] = await ItemMaker(store).items([Image.fromFileSystem(local(tmp_path, "a.png", PNG))])
    assert item.content.startswith("/api/plug/hep/files/")
