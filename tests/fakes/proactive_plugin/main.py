"""Test-only plugin: ``/hep_proactive`` makes the bot send a proactive message.

It goes through ``Context.send_message`` → the adapter's ``send_by_session``,
exactly like a reminder or a cron job, then answers the command itself.
"""

from collections.abc import AsyncIterator
from typing import Any

from astrbot.api.event import AstrMessageEvent, MessageChain, filter
from astrbot.api.star import Context, Star

PROACTIVE_TEXT = "proactive hello"


class HepTestProactive(Star):  # type: ignore[misc]  # AstrBot ships no type information
    def __init__(self, context: Context) -> None:
        super().__init__(context)

    @filter.command("hep_proactive")  # type: ignore[untyped-decorator]
    async def proactive(self, event: AstrMessageEvent) -> AsyncIterator[Any]:
        await self.context.send_message(
            event.unified_msg_origin, MessageChain().message(PROACTIVE_TEXT)
        )
        yield event.plain_result("scheduled")
