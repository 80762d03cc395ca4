"""The full message model on a real AstrBot: every inbound type reaches the pipeline
as the right component, every outbound component becomes an item (local files at
signed links), group chats obey the wake prefix, bot-initiated messages arrive once.

One AstrBot for the module, with the test plugin ``tests/plugins/hep_test_replies``.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.harness.astrbot_root import (
    DEFAULT_PLATFORM,
    REPO_ROOT,
    AstrBotProcess,
    FakeLLMProcess,
    running_astrbot,
    wait_for_key,
    wait_until,
)

CHAT = "/api/plug/v1/chat"
FILES = "/api/plug/hep/files/"
TEST_PLUGIN = REPO_ROOT / "tests" / "plugins" / "hep_test_replies"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WAV = (
    b"RIFF" + (44).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    + b"data" + (8).to_bytes(4, "little") + b"\x00\x00" * 4
)  # fmt: skip
STATIC = {"/cat.png": (PNG, "image/png"), "/notes.txt": (b"remote notes\n", "text/plain")}


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


class _Static(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, content_type = STATIC.get(self.path, (b"", ""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type or "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_server() -> Iterator[str]:
    """A local web server for media given by http URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Static)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMProcess
) -> Iterator[AstrBotProcess]:
    with running_astrbot(
        tmp_path_factory.mktemp("astrbot-messages"),
        llm_base_url=fake_llm.base_url,
        platform=dict(DEFAULT_PLATFORM),
        extra_plugins=[(TEST_PLUGIN, "hep_test_replies")],
    ) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(bot: AstrBotProcess) -> Iterator[httpx.Client]:
    key = wait_for_key(bot.root, "http_endpoint")
    with httpx.Client(
        base_url=bot.base_url,
        headers={"Authorization": f"Bearer {key}"},
        trust_env=False,
        timeout=60,
    ) as http:
        wait_until(
            lambda: http.post(CHAT, json={}).status_code == 400, 60, message="the chat endpoint"
        )
        yield http


def chat(client: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("msg_id", uuid.uuid4().hex)
    body.setdefault("sender_id", "alice")
    response = client.post(CHAT, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["done"] is True
    return result


def texts(result: dict[str, Any]) -> str:
    return "\n".join(i["content"] for i in result["data"] if i["type"] == "text")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "image", "url": "{static}/cat.png"}, "(images: 1)"),
        ({"type": "image", "url": data_url("image/png", PNG), "query": "看图"}, "看图"),
        ({"type": "audio", "url": data_url("audio/wav", WAV)}, "(audio: 1)"),
        (
            {"type": "video", "url": data_url("video/mp4", b"\0\0\0\x18ftypmp42")},
            "[Video Attachment",
        ),
        ({"type": "file", "url": "{static}/notes.txt"}, "[File Attachment: name notes.txt"),
        (
            {"type": "file", "url": data_url("text/plain", b"hi"), "name": "a.txt"},
            "[File Attachment: name a.txt",
        ),
        (
            {
                "type": "mixed",
                "message": [
                    {"type": "text", "content": "两张"},
                    {"type": "image", "url": data_url("image/png", PNG)},
                    {"type": "image", "url": "{static}/cat.png"},
                    {"type": "text", "content": "图"},
                ],
            },
            "两张图",
        ),
    ],
    ids=["image-http", "image-data+query", "audio", "video", "file-http", "file-data", "mixed"],
)
def test_inbound_type_reaches_the_model_as_its_component(
    client: httpx.Client, static_server: str, body: dict[str, Any], expected: str
) -> None:
    """We expect the fake model's echo to show the part: image parts counted, other media
    as AstrBot's attachment text, text parts joined as message_str."""
    body = _fill(body, static_server)
    reply = texts(chat(client, **body))
    assert expected in reply, reply
    images = {"image": 1, "mixed": 2}.get(body["type"], 0)
    assert (f"(images: {images})" in reply) is (images > 0), reply


def _fill(value: Any, static: str) -> Any:
    if isinstance(value, str):
        return value.replace("{static}", static)
    if isinstance(value, list):
        return [_fill(v, static) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, static) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("command", "kind", "content_type", "data"),
    [
        ("hep_local_image", "image", "image/png", PNG),
        ("hep_base64_image", "image", "image/png", PNG),
        ("hep_local_audio", "audio", "audio/x-wav", WAV),
        ("hep_local_video", "video", "video/mp4", b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"),
        ("hep_local_file", "file", "text/plain", "hep report ✓\n".encode()),
    ],
)
def test_local_media_are_served_at_signed_links(
    bot: AstrBotProcess,
    client: httpx.Client,
    command: str,
    kind: str,
    content_type: str,
    data: bytes,
) -> None:
    """We expect a signed link on our origin that returns the bytes without a bearer key,
    after AstrBot deleted its own temp file; a tampered link is a 404."""
    result = chat(client, query=command)
    [item] = [i for i in result["data"] if i["type"] == kind]
    url = item["content"]
    assert url.startswith(bot.base_url + FILES), url
    if kind == "file":
        assert item["name"] == "report.txt"
    if kind == "audio":
        assert item["text"] == "spoken text"
    temp = bot.root / "data" / "temp"
    assert not list(temp.glob("hep_test_*")), "AstrBot should have deleted its temp files"
    with httpx.Client(trust_env=False, timeout=10) as anonymous:
        served = anonymous.get(url)
        assert served.status_code == 200
        assert served.content == data
        assert served.headers["content-type"].startswith(content_type)
        assert anonymous.get(url.replace("sig=", "sig=0")).status_code == 404


def test_remote_and_non_media_components_become_items(client: httpx.Client) -> None:
    """We expect reply, at, text and URL media in order, and an unknown item for a Face."""
    data = chat(client, query="hep_remote")["data"]
    assert [(i["type"], i["content"]) for i in data] == [
        ("reply", "m0"),
        ("at", "u1"),
        ("text", "remote media"),
        ("image", "https://example.com/a.png"),
        ("video", "https://example.com/v.mp4"),
        ("unknown", {"component": "Face"}),
    ]
    assert data[1]["name"] == "Alice"


def test_group_messages_need_the_wake_prefix(client: httpx.Client) -> None:
    """Without the prefix AstrBot ignores a group message; with it the session is the group
    and the sender stays the sender."""
    group = {"group_id": "g1", "group_name": "测试群", "sender_id": "bob"}
    assert chat(client, query="sid", **group)["data"] == []
    reply = texts(chat(client, query="/sid", **group))
    assert "http_endpoint:GroupMessage:g1" in reply
    assert "UID: 「bob」" in reply
    private = texts(chat(client, query="sid", sender_id="bob"))
    assert "http_endpoint:FriendMessage:bob" in private


@pytest.mark.parametrize("group", [{}, {"group_id": "g2"}], ids=["private", "group"])
def test_proactive_message_reaches_the_session_once(
    client: httpx.Client, group: dict[str, str]
) -> None:
    """A plugin's context.send_message after the pipeline joins the session's next
    responses once; a group's bot-initiated message reaches another member too."""
    prefix = "/" if group else ""
    first = chat(client, query=f"{prefix}hep_proactive", sender_id="carol", **group)
    assert texts(first) == "scheduled"

    def proactive_items() -> list[dict[str, Any]] | None:
        body = chat(client, msg_id=first["msg_id"], query="x", sender_id="carol", **group)
        found = [i for i in body["data"] if i["content"] == "proactive hello"]
        return found or None

    [item] = wait_until(proactive_items, 30, message="the proactive message")
    assert proactive_items() == [item]  # polled again: still once, same item_id
    body = chat(client, msg_id=first["msg_id"], query="x", sender_id="carol", **group)
    [image] = [i for i in body["data"] if i["type"] == "image"]
    assert image["content"].startswith(str(client.base_url.join(FILES)))  # remembered origin
    with httpx.Client(trust_env=False, timeout=10) as anonymous:
        assert anonymous.get(image["content"]).content == PNG
    if group:
        other = chat(client, query="/sid", sender_id="dave", **group)
        assert [i["item_id"] for i in other["data"] if i["content"] == "proactive hello"] == [
            item["item_id"]
        ]
