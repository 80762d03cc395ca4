"""The only shared state: the inbound queue and the reply records.

Request handlers :meth:`Gateway.submit` messages and wait on their record; the
AstrBot side takes them with :meth:`Gateway.next_submission`, publishes reply
items and marks records done. Bot-initiated messages land in a per-session
mailbox and are folded into that session's later responses, once per record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from .errors import Unavailable
from .models import Inbound, Item, Record, RecordKey

QUEUE_FULL_RETRY_AFTER = 5


@dataclass(frozen=True, slots=True)
class Submission:
    """What the AstrBot side receives: the message and the record its replies go to."""

    inbound: Inbound
    record: Record


class Gateway:
    """Inbound queue + reply store + session mailboxes, all on AstrBot's event loop.

    Args:
        queue_size: bound of the inbound queue (full → 503, never a dropped message).
        cache_size: how many reply records (and session mailboxes) are kept.
        cache_ttl: seconds a finished record stays readable (and a mailbox lives).
        reply_deadline: seconds after which an unfinished record is marked done.
        timer: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        *,
        queue_size: int,
        cache_size: int,
        cache_ttl: float,
        reply_deadline: float,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue: asyncio.Queue[Submission] = asyncio.Queue(maxsize=queue_size)
        self._records: TTLCache[RecordKey, Record] = TTLCache(cache_size, cache_ttl, timer)
        self._mailboxes: TTLCache[str, list[Item]] = TTLCache(cache_size, cache_ttl, timer)
        self._reply_deadline = reply_deadline
        self._deadlines: dict[RecordKey, asyncio.TimerHandle] = {}

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def record_count(self) -> int:
        return len(self._records)

    def known(self, inbound: Inbound) -> bool:
        """Whether this sender's msg_id already has a record (a repeat POST polls it)."""
        return (inbound.sender_id, inbound.msg_id) in self._records

    def submit(self, inbound: Inbound) -> tuple[Record, bool]:
        """Return the record for this message, queueing it only the first time.

        Raises:
            Unavailable: the inbound queue is full; nothing was recorded.
        """
        key: RecordKey = (inbound.sender_id, inbound.msg_id)
        record = self._records.get(key)
        if record is not None:
            return record, False
        record = Record(key, inbound.session_id)
        try:
            self._queue.put_nowait(Submission(inbound, record))
        except asyncio.QueueFull:
            raise Unavailable(
                "the bot is busy: too many messages are waiting; retry later",
                retry_after=QUEUE_FULL_RETRY_AFTER,
            ) from None
        self._records[key] = record
        self._deadlines[key] = asyncio.get_running_loop().call_later(
            self._reply_deadline, self._expire, record
        )
        return record, True

    async def next_submission(self) -> Submission:
        return await self._queue.get()

    def publish(self, record: Record, items: list[Item]) -> None:
        """Add reply items; after the record is done they go to the session mailbox."""
        if not items:
            return
        if record.done:
            self.publish_to_session(record.session_id, items)
        else:
            record.append(items)

    def publish_to_session(self, session_id: str, items: list[Item]) -> None:
        """Keep a bot-initiated message for the session's later responses."""
        if items:
            self._mailboxes[session_id] = [*self._mailboxes.get(session_id, []), *items]

    def finish(self, record: Record) -> None:
        """The pipeline has finished: mark done and keep the record ``cache_ttl`` longer."""
        handle = self._deadlines.pop(record.key, None)
        if handle is not None:
            handle.cancel()
        record.finish()
        if self._records.get(record.key) is record:
            self._records[record.key] = record  # re-insert: the TTL counts from completion

    def view(self, record: Record) -> list[Item]:
        """The record's items plus the session's bot-initiated items it has not shown yet."""
        for item in self._mailboxes.get(record.session_id, []):
            if item.item_id not in record.absorbed:
                record.absorbed.add(item.item_id)
                record.items.append(item)
        return list(record.items)

    def close(self) -> None:
        """Finish every open record so no waiter hangs past shutdown."""
        for handle in self._deadlines.values():
            handle.cancel()
        self._deadlines.clear()
        for record in list(self._records.values()):
            record.finish(timed_out=not record.done)

    def _expire(self, record: Record) -> None:
        self._deadlines.pop(record.key, None)
        record.finish(timed_out=True)
