"""Plain values that cross between the HTTP side and the AstrBot side."""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any, Literal

PartType = Literal["text", "image", "audio", "video", "file"]
_ITEM_ID_ALPHABET = string.ascii_letters + string.digits


def new_item_id() -> str:
    """A 10-character id, the seed's format, unique enough for client-side de-duplication."""
    return "".join(secrets.choice(_ITEM_ID_ALPHABET) for _ in range(10))


@dataclass(frozen=True, slots=True)
class Part:
    """One component of an inbound message: text, or media referenced by URL.

    ``url`` is an http(s) URL or a base64 ``data:`` URL; ``name`` is a file's name.
    """

    type: PartType
    text: str = ""
    url: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Inbound:
    """A validated client message, ready to become an AstrBot event."""

    msg_id: str
    sender_id: str
    sender_nickname: str
    parts: tuple[Part, ...]
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    group_id: str = ""
    group_name: str = ""
    base_url: str = ""
    """Origin that file links in the replies use (``hep_public_base_url`` or the request's)."""

    @property
    def chat_id(self) -> str:
        """AstrBot's session id: the group for a group message, else the sender."""
        return self.group_id or self.sender_id

    @property
    def session_id(self) -> str:
        """The conversation as ``<MessageType>:<session id>`` (see :func:`session_key`)."""
        return session_key(self.group_id != "", self.chat_id)

    @property
    def text(self) -> str:
        """Plain text of the message, what AstrBot puts in ``message_str``.

        Text parts joined as AstrBot's own platforms do (aiocqhttp, webchat); media
        parts add nothing, like a Telegram photo without a caption.
        """
        return "".join(p.text for p in self.parts if p.type == "text" and p.text)


def session_key(is_group: bool, chat_id: str) -> str:
    """The mailbox key of a conversation: ``GroupMessage:<id>`` or ``FriendMessage:<id>``.

    The same spelling as the tail of AstrBot's unified message origin, so a group
    and a user with the same id never share a mailbox.
    """
    return f"{'GroupMessage' if is_group else 'FriendMessage'}:{chat_id}"


@dataclass(frozen=True, slots=True)
class Item:
    """One reply item as clients see it: ``{"item_id", "type", "content"}``."""

    type: str
    content: Any
    item_id: str = field(default_factory=new_item_id)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Type-specific fields after ``content``, e.g. a file's ``name``."""

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "type": self.type, "content": self.content, **self.extra}


RecordKey = tuple[str, str]
"""``(sender_id, msg_id)``: the same msg_id from another sender is another message."""


class Record:
    """The ordered reply items of one message and whether the pipeline has finished.

    Waiters sleep on an :class:`asyncio.Event` that is swapped on every change, so
    publishing stays synchronous (AstrBot's finished hook is a plain method).
    """

    def __init__(self, key: RecordKey, session_id: str) -> None:
        self.key = key
        self.session_id = session_id
        self.items: list[Item] = []
        self.done = False
        self.timed_out = False
        self.absorbed: set[str] = set()
        self.deadline: asyncio.TimerHandle | None = None
        self.created_at = time.monotonic()
        # Audit fields of the request that created it (request id, key fingerprint):
        # lines logged from AstrBot's side have no request context to take them from.
        self.origin: dict[str, str | None] = {}
        self._changed = asyncio.Event()

    @property
    def msg_id(self) -> str:
        return self.key[1]

    def append(self, items: list[Item]) -> None:
        self.items.extend(items)
        self._notify()

    def finish(self, timed_out: bool = False) -> None:
        """Mark done (once); ``timed_out`` when the deadline or a shutdown ended it."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if not self.done:
            self.done = True
            self.timed_out = timed_out
            self._notify()

    async def wait_done(self, within: float) -> bool:
        """Wait until done or ``within`` seconds pass; return whether it is done."""
        try:
            async with asyncio.timeout(within):
                while not self.done:
                    await self._changed.wait()
        except TimeoutError:
            pass
        return self.done

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
