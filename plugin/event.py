"""The event AstrBot's pipeline answers through: every send becomes reply items."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from astrbot.api.event import AstrMessageEvent, MessageChain
from astrbot.api.message_components import Plain

from ..asgi_app.gateway import Gateway
from ..asgi_app.models import Item, Record
from .convert import to_items

HIDDEN_CHAIN_TYPES = frozenset({"tool_call", "reasoning", "tts_stats", "audio_chunk"})


class HttpEndpointEvent(AstrMessageEvent):
    """Publishes replies into the message's record; the pipeline's end marks it done."""

    def __init__(self, *args: Any, gateway: Gateway, record: Record, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gateway = gateway
        self._record = record

    async def send(self, message: MessageChain) -> None:
        if message.type not in HIDDEN_CHAIN_TYPES:
            self._gateway.publish(self._record, to_items(message.chain))
        await super().send(message)

    async def send_streaming(
        self, generator: AsyncGenerator[MessageChain, None], use_fallback: bool = False
    ) -> None:
        """Drain the stream (the agent only finishes once it is drained) into whole items.

        Text deltas are joined until a segment break or a non-text component, so
        polling clients never see per-token fragments.
        """
        text: list[str] = []
        async for chunk in generator:
            if chunk.type in HIDDEN_CHAIN_TYPES:
                continue
            if chunk.type == "break":
                self._flush(text)
                continue
            for component in chunk.chain:
                if isinstance(component, Plain):
                    text.append(component.text)
                else:
                    self._flush(text)
                    self._gateway.publish(self._record, to_items([component]))
        self._flush(text)
        await super().send_streaming(generator, use_fallback)

    def cleanup_temporary_local_files(self) -> None:
        """AstrBot calls this once, in a ``finally``, when the pipeline for this event ends."""
        super().cleanup_temporary_local_files()
        self._gateway.finish(self._record)

    def _flush(self, text: list[str]) -> None:
        joined = "".join(text)
        text.clear()
        if joined.strip():
            self._gateway.publish(self._record, [Item("text", joined)])
