# mypy: allow-subclassing-any, allow-untyped-decorators
"""Test-only AstrBot plugin: commands that reply with every outbound component type.

Local files are written to AstrBot's temp directory and *tracked on the event*,
so AstrBot deletes them when the pipeline ends — the adapter must have copied
what it serves. ``hep_proactive`` sends a bot-initiated message after the
pipeline, through ``context.send_message`` like a reminder or cron job does.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from astrbot.api.event import AstrMessageEvent, MessageChain, filter
from astrbot.api.message_components import At, Face, File, Image, Plain, Record, Reply, Video
from astrbot.api.star import Context, Star
from astrbot.core.utils.astrbot_path import get_astrbot_temp_path

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WAV = (
    b"RIFF"
    + (36 + 8).to_bytes(4, "little")
    + b"WAVEfmt "
    + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little")
    + (1).to_bytes(2, "little")
    + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little")
    + (2).to_bytes(2, "little")
    + (16).to_bytes(2, "little")
    + b"data"
    + (8).to_bytes(4, "little")
    + b"\x00\x00" * 4
)
MP4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"
REPORT = "hep report ✓\n".encode()
PROACTIVE_DELAY = 0.5


def _temp_file(event: AstrMessageEvent | None, suffix: str, data: bytes) -> str:
    directory = get_astrbot_temp_path()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"hep_test_{uuid.uuid4().hex}{suffix}")
    with open(path, "wb") as fh:
        fh.write(data)
    if event is not None:
        event.track_temporary_local_file(path)  # AstrBot deletes it when the pipeline ends
    return path


class HepTestReplies(Star):
    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._tasks: set[asyncio.Task[None]] = set()

    @filter.command("hep_local_image")
    async def local_image(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        path = _temp_file(event, ".png", PNG)
        yield event.chain_result([Plain("local image:"), Image.fromFileSystem(path)])

    @filter.command("hep_local_audio")
    async def local_audio(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        path = _temp_file(event, ".wav", WAV)
        yield event.chain_result([Record(file=path, url=path, text="spoken text")])

    @filter.command("hep_local_video")
    async def local_video(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        path = _temp_file(event, ".mp4", MP4)
        yield event.chain_result([Video.fromFileSystem(path)])

    @filter.command("hep_local_file")
    async def local_file(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        path = _temp_file(event, ".txt", REPORT)
        yield event.chain_result([File(name="report.txt", file=path)])

    @filter.command("hep_base64_image")
    async def base64_image(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        yield event.chain_result([Image.fromBase64(base64.b64encode(PNG).decode())])

    @filter.command("hep_remote")
    async def remote(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        yield event.chain_result(
            [
                Reply(id="m0"),
                At(qq="u1", name="Alice"),
                Plain("remote media"),
                Image.fromURL("https://example.com/a.png"),
                Video.fromURL("https://example.com/v.mp4"),
                Face(id=1),
            ]
        )

    @filter.command("hep_proactive")
    async def proactive(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        """Later, outside any request: text plus a local image (its link needs an origin)."""
        origin = event.unified_msg_origin
        task = asyncio.get_running_loop().create_task(self._send_later(origin))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        yield event.plain_result("scheduled")

    async def _send_later(self, origin: str) -> None:
        await asyncio.sleep(PROACTIVE_DELAY)  # after this pipeline has finished
        path = _temp_file(None, ".png", PNG)
        chain = MessageChain().message("proactive hello").file_image(path)
        try:
            await self.context.send_message(origin, chain)
        finally:
            os.remove(path)  # the adapter must have copied what it serves
