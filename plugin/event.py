"""The event AstrBot's pipeline answers through: every send becomes reply items."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from astrbot.api.event import AstrMessageEvent, MessageChain
from astrbot.api.message_components import BaseMessageComponent, Plain

from ..asgi_app.gateway import Gateway
from ..asgi_app.models import Item, Record
from .outbound import ItemMaker

NEVER_SHOWN_CHAIN_TYPES = frozenset({"tts_stats", "audio_chunk"})
REASONING_EXTRA = "_llm_reasoning_content"
"""Where AstrBot keeps the reasoning text it prepends to a non-streaming reply."""


class HttpEndpointEvent(AstrMessageEvent):
    """Publishes replies into the message's record; the pipeline's end marks it done.

    Tool-call status chains and reasoning text reach clients only when
    ``show_tool_calls`` / ``show_reasoning`` are on, as ``tool_call`` / ``reasoning``
    items (AstrBot's own settings decide whether they are produced at all).
    """

    def __init__(
        self,
        *args: Any,
        gateway: Gateway,
        record: Record,
        maker: ItemMaker,
        show_tool_calls: bool = False,
        show_reasoning: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._gateway = gateway
        self._record = record
        self._maker = maker
        self._shown = {"tool_call": show_tool_calls, "reasoning": show_reasoning}

    async def send(self, message: MessageChain) -> None:
        kind = message.type
        if kind in self._shown:
            if self._shown[kind]:
                self._publish(await self._maker.items(message.chain, text_type=kind))
        elif kind not in NEVER_SHOWN_CHAIN_TYPES:
            reasoning, chain = self._split_reasoning(message.chain)
            if reasoning and self._shown["reasoning"]:
                self._publish([Item("reasoning", reasoning)])
            self._publish(await self._maker.items(chain))
        await super().send(message)

    async def send_streaming(
        self, generator: AsyncGenerator[MessageChain, None], use_fallback: bool = False
    ) -> None:
        """Drain the stream (the agent only finishes once it is drained) into whole items.

        Text deltas are joined until a segment break, a change between answer and
        reasoning text, or a non-text component, so clients never see per-token fragments.
        """
        text: list[str] = []
        text_type = "text"
        async for chunk in generator:
            chunk_type = "reasoning" if chunk.type == "reasoning" else "text"
            if chunk.type in NEVER_SHOWN_CHAIN_TYPES or (
                chunk_type == "reasoning" and not self._shown["reasoning"]
            ):
                continue
            if chunk.type == "break" or chunk_type != text_type:
                self._flush(text, text_type)
                text_type = chunk_type
            for component in chunk.chain:
                if isinstance(component, Plain):
                    text.append(component.text)
                else:
                    self._flush(text, text_type)
                    self._publish([await self._maker.item(component)])
        self._flush(text, text_type)
        await super().send_streaming(generator, use_fallback)

    def cleanup_temporary_local_files(self) -> None:
        """AstrBot calls this once, in a ``finally``, when the pipeline for this event ends.

        Served files were copied when they were sent, so AstrBot may delete its own.
        """
        super().cleanup_temporary_local_files()
        self._gateway.finish(self._record)

    def _split_reasoning(
        self, chain: list[BaseMessageComponent]
    ) -> tuple[str, list[BaseMessageComponent]]:
        """Take off the ``🤔 思考: ...`` text AstrBot's result stage puts first (research:
        result_decorate/stage.py), exactly as it builds it, so no answer text is lost."""
        reasoning = self.get_extra(REASONING_EXTRA)
        if reasoning and chain and isinstance(chain[0], Plain):
            if chain[0].text == f"🤔 思考: {reasoning}\n\n────\n":
                return str(reasoning), chain[1:]
        return "", chain

    def _publish(self, items: list[Item]) -> None:
        self._gateway.publish(self._record, items)

    def _flush(self, text: list[str], text_type: str) -> None:
        joined = "".join(text)
        text.clear()
        if joined.strip():
            self._publish([Item(text_type, joined)])
