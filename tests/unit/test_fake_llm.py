"""The fake chat model must answer the way AstrBot's OpenAI provider expects.

If these drift, end-to-end tests fail for reasons unrelated to the adapter, so
the wire format is checked directly and through the official ``openai`` client.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import fake_llm
from tests.fakes.fake_llm import FakeModelState, create_app, serve_in_background

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFIX = "[fake-model] 你好！你说的是："
REMINDER = "<system_reminder>Current datetime: 2026-01-01 00:00 (UTC)</system_reminder>"


@pytest.fixture
def state() -> FakeModelState:
    return FakeModelState()


@pytest.fixture
async def client(state: FakeModelState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def image(url: str = "data:image/png;base64,AAAA") -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def chat_body(*messages: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "fake-model",
        "messages": list(messages),
        "tools": [{"type": "function", "function": {"name": "noop", "parameters": {}}}],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


async def post_chat(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-test"}
    )


def sse_payloads(raw: str) -> list[str]:
    return [line.removeprefix("data: ") for line in raw.splitlines() if line.startswith("data: ")]


async def test_non_stream_echoes_last_user_text_and_ignores_system_reminder(
    client: httpx.AsyncClient,
) -> None:
    body = chat_body(
        {"role": "system", "content": "You are helpful."},
        user(text("earlier question")),
        {"role": "assistant", "content": "earlier answer"},
        user(text("hello there"), text(REMINDER)),
    )
    response = await post_chat(client, body)

    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "fake-model"
    choice = data["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": f"{PREFIX}hello there",
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_plain_string_content_is_accepted(client: httpx.AsyncClient) -> None:
    response = await post_chat(client, chat_body({"role": "user", "content": "hi"}))

    assert response.json()["choices"][0]["message"]["content"] == f"{PREFIX}hi"


async def test_images_and_audio_are_counted(client: httpx.AsyncClient) -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    response = await post_chat(client, chat_body(user(text("look"), image(), image(), audio)))

    content = response.json()["choices"][0]["message"]["content"]
    assert content == f"{PREFIX}look (images: 2) (audio: 1)"


async def test_stream_chunks_reassemble_to_reply_and_end_with_done(
    client: httpx.AsyncClient,
) -> None:
    response = await post_chat(client, chat_body(user(text("stream me"), image()), stream=True))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1

    content_deltas = [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c["choices"] and "content" in c["choices"][0]["delta"]
    ]
    assert len([d for d in content_deltas if d]) >= 3
    assert "".join(content_deltas) == f"{PREFIX}stream me (images: 1)"

    finish, usage_chunk = chunks[-2], chunks[-1]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] > 0
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks if c["choices"])


async def test_short_reply_still_streams_at_least_three_deltas(
    client: httpx.AsyncClient,
) -> None:
    response = await post_chat(client, chat_body(user(text("[[reply=ok]]")), stream=True))

    chunks = [json.loads(p) for p in sse_payloads(response.text)[:-1]]
    content_deltas = [
        c["choices"][0]["delta"]["content"]
        for c in chunks[1:]
        if c["choices"] and "content" in c["choices"][0]["delta"]
    ]
    assert len(content_deltas) >= 3
    assert "".join(content_deltas) == "ok"


@pytest.mark.parametrize("code", [400, 429, 500, 503])
async def test_status_directive_returns_openai_error(
    client: httpx.AsyncClient, state: FakeModelState, code: int
) -> None:
    response = await post_chat(client, chat_body(user(text(f"fail please [[status={code}]]"))))

    assert response.status_code == code
    error = response.json()["error"]
    assert error["message"]
    assert error["type"]
    assert state.count == 1


async def test_status_directive_outside_error_range_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    response = await post_chat(client, chat_body(user(text("[[status=200]]"))))

    assert response.status_code == 400
    assert "400-599" in response.json()["error"]["message"]


async def test_reply_directive_replies_exactly_text(client: httpx.AsyncClient) -> None:
    body = chat_body(user(text("ignored [[reply=Exact answer, with ] bracket]] trailing"), image()))
    response = await post_chat(client, body)

    assert response.json()["choices"][0]["message"]["content"] == "Exact answer, with ] bracket"


async def test_delay_directive_sleeps_before_answering(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(fake_llm, "_sleep", record_sleep)
    response = await post_chat(client, chat_body(user(text("slow [[delay=1.5]]"))))

    assert slept == [1.5]
    assert response.json()["choices"][0]["message"]["content"] == f"{PREFIX}slow [[delay=1.5]]"


async def test_calls_are_recorded_and_reset(
    client: httpx.AsyncClient, state: FakeModelState
) -> None:
    first = chat_body(user(text("one")))
    second = chat_body(user(text("two")), stream=True)
    await post_chat(client, first)
    await post_chat(client, second)

    calls = (await client.get("/_fake/calls")).json()
    assert calls == {"count": 2, "requests": [first, second]}
    assert state.requests == [first, second]

    assert (await client.post("/_fake/reset")).status_code == 200
    assert (await client.get("/_fake/calls")).json() == {"count": 0, "requests": []}
    assert state.count == 0


async def test_models_lists_fake_model(client: httpx.AsyncClient) -> None:
    data = (await client.get("/v1/models")).json()

    assert "fake-model" in [m["id"] for m in data["data"]]


async def test_invalid_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", content=b"{not json")

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_official_openai_client_parses_stream_and_non_stream(
    state: FakeModelState,
) -> None:
    """AstrBot's provider uses this exact client, so this is the contract that matters."""
    # AstrBot hands openai a legacy ``httpx.AsyncClient`` too; openai's stubs only name httpx2.
    http_client: Any = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state)))
    async with openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://testserver/v1",
        http_client=http_client,
        max_retries=0,
    ) as oai:
        messages: Any = [user(text("你好 bot"), image(), text(REMINDER))]
        tools: Any = chat_body()["tools"]

        completion = await oai.chat.completions.create(
            model="fake-model", messages=messages, tools=tools
        )
        assert completion.choices[0].message.content == f"{PREFIX}你好 bot (images: 1)"
        assert completion.choices[0].message.tool_calls is None
        assert completion.usage is not None and completion.usage.total_tokens > 0

        stream = await oai.chat.completions.create(
            model="fake-model",
            messages=messages,
            tools=tools,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces: list[str] = []
        usage_seen = False
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            usage_seen = usage_seen or chunk.usage is not None
        assert "".join(pieces) == f"{PREFIX}你好 bot (images: 1)"
        assert usage_seen

        failing: Any = [user(text("[[status=500]]"))]
        with pytest.raises(openai.InternalServerError):
            await oai.chat.completions.create(model="fake-model", messages=failing)

        models = await oai.models.list()
        assert [m.id async for m in models] == ["fake-model"]

    assert state.count == 3
    assert state.requests[0]["messages"][0]["content"][1]["type"] == "image_url"
    assert state.requests[1]["stream"] is True


async def test_serve_in_background_serves_on_a_real_port() -> None:
    async with serve_in_background(port=0) as (url, state):
        async with httpx.AsyncClient(base_url=url) as c:
            response = await c.post("/v1/chat/completions", json=chat_body(user(text("net"))))
    assert response.json()["choices"][0]["message"]["content"] == f"{PREFIX}net"
    assert state.count == 1


async def test_cli_prints_listening_line_and_exits_cleanly_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.fake_llm",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode().strip()
        assert line.startswith("fake-llm listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        async with httpx.AsyncClient(base_url=url) as c:
            assert (await c.get("/v1/models")).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
