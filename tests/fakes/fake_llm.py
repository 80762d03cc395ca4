"""A local, deterministic OpenAI-compatible chat model.

Why it exists: end-to-end tests need a real AstrBot process with a chat
provider whose answers are predictable, and ``make run`` needs a reply source
that works without an API key. AstrBot talks to it through its stock
``openai_chat_completion`` provider (the official ``openai`` client), so the
wire format here mirrors OpenAI's closely enough for that client to parse it.

Run it as a process from the repository root::

    python -m tests.fakes.fake_llm --host 127.0.0.1 --port 18080

and point AstrBot at ``api_base: http://127.0.0.1:18080/v1``, ``key: ["sk-test"]``,
``model: "fake-model"``.

The reply to the last user message is
``"[fake-model] 你好！你说的是：<text>"`` (plus `` (images: N)`` /
`` (audio: N)`` when media parts were sent). Directives inside the user text
steer it, and stay in the echoed text:

* ``[[delay=SECONDS]]`` waits before answering (float seconds);
* ``[[status=CODE]]`` answers with HTTP CODE (400-599) and an OpenAI-style error;
* ``[[reply=TEXT]]`` replies exactly TEXT (up to the first closing ``]]``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL_ID = "fake-model"
REPLY_PREFIX = "[fake-model] 你好！你说的是："
SYSTEM_REMINDER_PREFIX = "<system_reminder>"
MIN_STREAM_PIECES = 3
MAX_STREAM_PIECES = 16

_DELAY_RE = re.compile(r"\[\[delay=(\d*\.?\d+)\]\]")
_STATUS_RE = re.compile(r"\[\[status=(\d+)\]\]")
_REPLY_RE = re.compile(r"\[\[reply=(.*?)\]\]", re.DOTALL)

_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}

# Indirection so unit tests can observe the delay directive without waiting.
_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass
class FakeModelState:
    """What the fake has been asked, so tests can assert on AstrBot's requests."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def record(self, body: dict[str, Any]) -> int:
        """Remember one chat request; returns its 1-based sequence number."""
        self.requests.append(body)
        self.count += 1
        return self.count

    def reset(self) -> None:
        """Forget everything, so one test's calls don't leak into the next."""
        self.requests.clear()
        self.count = 0


@dataclass(frozen=True)
class UserTurn:
    """The parts of the last user message that decide the reply."""

    text: str
    images: int = 0
    audios: int = 0


@dataclass(frozen=True)
class Directives:
    """Behaviour switches a test embeds in the user text."""

    delay: float | None = None
    status: int | None = None
    reply: str | None = None


def extract_last_user_turn(messages: Any) -> UserTurn:
    """Find the last user message; AstrBot sends content as a str or a list of parts."""
    if not isinstance(messages, list):
        return UserTurn(text="")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _parse_content(message.get("content"))
    return UserTurn(text="")


def _parse_content(content: Any) -> UserTurn:
    """Join text parts (minus AstrBot's system reminders) and count media parts."""
    if isinstance(content, str):
        return UserTurn(text=content)
    if not isinstance(content, list):
        return UserTurn(text="")
    texts: list[str] = []
    images = audios = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if isinstance(text, str) and not text.lstrip().startswith(SYSTEM_REMINDER_PREFIX):
                texts.append(text)
        elif kind == "image_url":
            images += 1
        elif kind in ("input_audio", "audio_url"):
            # audio_url is what AstrBot leaves in place when it cannot inline the file.
            audios += 1
    return UserTurn(text="\n".join(texts), images=images, audios=audios)


def parse_directives(text: str) -> Directives:
    """Read ``[[delay=..]]``, ``[[status=..]]`` and ``[[reply=..]]`` from the user text."""
    delay = _DELAY_RE.search(text)
    status = _STATUS_RE.search(text)
    reply = _REPLY_RE.search(text)
    return Directives(
        delay=float(delay.group(1)) if delay else None,
        status=int(status.group(1)) if status else None,
        reply=reply.group(1) if reply else None,
    )


def build_reply(turn: UserTurn, directives: Directives) -> str:
    """The deterministic answer tests assert on."""
    if directives.reply is not None:
        return directives.reply
    reply = f"{REPLY_PREFIX}{turn.text}"
    if turn.images:
        reply += f" (images: {turn.images})"
    if turn.audios:
        reply += f" (audio: {turn.audios})"
    return reply


def estimate_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: roughly 4 UTF-8 bytes per token."""
    return max(1, math.ceil(len(text.encode("utf-8")) / 4))


def _prompt_text(messages: Any) -> str:
    """All text the caller sent, so prompt_tokens grows with the conversation."""
    if not isinstance(messages, list):
        return ""
    chunks: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            chunks.append(content)
        elif isinstance(content, list):
            chunks.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return "\n".join(chunks)


def split_reply(text: str, pieces: int) -> list[str]:
    """Cut text into exactly ``pieces`` contiguous parts (trailing ones may be empty)."""
    size, extra = divmod(len(text), pieces)
    out: list[str] = []
    start = 0
    for index in range(pieces):
        end = start + size + (1 if index < extra else 0)
        out.append(text[start:end])
        start = end
    return out


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    """An error shaped like OpenAI's, so the openai client raises the right exception."""
    error_type = _ERROR_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    return JSONResponse(
        {"error": {"message": message, "type": error_type, "param": None, "code": code}},
        status_code=status,
    )


def _usage(prompt: str, reply: str) -> dict[str, int]:
    prompt_tokens = estimate_tokens(prompt)
    completion_tokens = estimate_tokens(reply)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion(
    completion_id: str, model: str, reply: str, usage: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }


def _chunk(
    completion_id: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
) -> bytes:
    choices: list[dict[str, Any]] = []
    if delta is not None:
        choices.append(
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        )
    payload = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
        "usage": usage,
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def stream_events(
    completion_id: str, model: str, reply: str, usage: dict[str, int]
) -> Iterator[bytes]:
    """SSE frames: role, >=3 content deltas, finish, usage, ``[DONE]`` — OpenAI's order."""
    created = int(time.time())
    pieces = max(MIN_STREAM_PIECES, min(len(reply), MAX_STREAM_PIECES))
    yield _chunk(completion_id, model, created, {"role": "assistant", "content": ""})
    for piece in split_reply(reply, pieces):
        yield _chunk(completion_id, model, created, {"content": piece})
    yield _chunk(completion_id, model, created, {}, finish_reason="stop")
    yield _chunk(completion_id, model, created, None, usage=usage)
    yield b"data: [DONE]\n\n"


def create_app(state: FakeModelState | None = None) -> Starlette:
    """Build the ASGI app; pass a state to inspect calls from the same process."""
    model_state = state if state is not None else FakeModelState()
    ids = itertools.count(1)

    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "fake-model: request body is not valid JSON")
        if not isinstance(body, dict):
            return error_response(400, "fake-model: request body must be a JSON object")
        model_state.record(body)
        messages = body.get("messages")
        if not isinstance(messages, list):
            return error_response(400, "fake-model: 'messages' must be a list", "invalid_value")

        turn = extract_last_user_turn(messages)
        directives = parse_directives(turn.text)
        if directives.delay is not None:
            await _sleep(directives.delay)
        if directives.status is not None:
            if not 400 <= directives.status <= 599:
                return error_response(
                    400, f"fake-model: [[status={directives.status}]] must be 400-599"
                )
            return error_response(
                directives.status,
                f"fake-model: status {directives.status} requested by directive",
                "fake_directive",
            )

        reply = build_reply(turn, directives)
        requested_model = body.get("model")
        model = requested_model if isinstance(requested_model, str) else MODEL_ID
        completion_id = f"chatcmpl-fake-{next(ids):06d}"
        usage = _usage(_prompt_text(messages), reply)
        if body.get("stream") is True:
            return StreamingResponse(
                stream_events(completion_id, model, reply, usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return JSONResponse(_completion(completion_id, model, reply, usage))

    async def list_models(request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "fake-llm"}],
            }
        )

    async def calls(request: Request) -> Response:
        return JSONResponse({"count": model_state.count, "requests": model_state.requests})

    async def reset(request: Request) -> Response:
        model_state.reset()
        return JSONResponse({"count": 0})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/_fake/calls", calls, methods=["GET"]),
            Route("/_fake/reset", reset, methods=["POST"]),
        ]
    )
    app.state.fake_model = model_state
    return app


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen before serving, so "listening" is true the moment we say it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _serve_socket(
    app: Starlette, sock: socket.socket, shutdown_trigger: Callable[[], Awaitable[Any]]
) -> None:
    """Hand an already-listening socket to hypercorn (it takes ownership of the fd)."""
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.graceful_timeout = 1.0
    # Starlette is a valid ASGI app; hypercorn's Protocol is just stricter than its signature.
    await serve(cast(ASGIFramework, app), config, shutdown_trigger=shutdown_trigger)


@contextlib.asynccontextmanager
async def serve_in_background(
    host: str = "127.0.0.1", port: int = 0, state: FakeModelState | None = None
) -> AsyncIterator[tuple[str, FakeModelState]]:
    """Run the fake on a real socket inside the current loop; yields (base url, state)."""
    model_state = state if state is not None else FakeModelState()
    sock = _listen(host, port)
    url = _url(host, sock)
    stop = asyncio.Event()
    task = asyncio.create_task(_serve_socket(create_app(model_state), sock, stop.wait))
    try:
        yield url, model_state
    finally:
        stop.set()
        await task


async def _run(host: str, port: int) -> None:
    sock = _listen(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    print(f"fake-llm listening on {_url(host, sock)}", flush=True)
    await _serve_socket(create_app(), sock, stop.wait)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: serve until SIGTERM/SIGINT, then exit 0."""
    parser = argparse.ArgumentParser(description="Deterministic OpenAI-compatible fake model.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(_run(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
