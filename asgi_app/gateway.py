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
from typing import Protocol

from cachetools import TTLCache

from .errors import Unavailable
from .models import Inbound, Item, Record, RecordKey

QUEUE_FULL_RETRY_AFTER = 5
MAILBOX_LIMIT = 100
"""Bot-initiated items kept per session (the newest); bounds memory and copying."""


@dataclass(frozen=True, slots=True)
class Submission:
    """What the AstrBot side receives: the message and the record its replies go to."""

    inbound: Inbound
    record: Record


class GatewayObserver(Protocol):
    """Told about reply traffic (the audit trail); must never raise."""

    def published(self, record: Record | None, session_id: str, items: list[Item]) -> None:
        """Items reached a record (or, once it is done, its session's mailbox),
        or with ``record`` None a bot-initiated message reached a session's mailbox."""

    def finished(self, record: Record, reason: str) -> None:
        """A record became done: ``pipeline``, ``deadline`` or ``shutdown``."""


class ReplySink(Protocol):
    """Another view of the records (callback mode), told of every change in order.

    Called synchronously from the publishing code path, so a sink sees items in
    the order they were published and before anything else can happen.
    """

    def record_published(self, record: Record, items: list[Item]) -> None: ...

    def session_published(self, session_id: str, items: list[Item]) -> None: ...

    def record_finished(self, record: Record) -> None: ...


class Gateway:
    """Inbound queue + reply store + session mailboxes, all on AstrBot's event loop.

    Args:
        queue_size: how many messages may be in progress (queued or in AstrBot's
            pipeline) at once; past that a new one gets 503, never a dropped message.
            AstrBot's own event queue is unbounded, so this is the only backpressure.
        cache_size: how many finished reply records (and session mailboxes) are kept.
        cache_ttl: seconds a finished record stays readable (and a mailbox lives).
        reply_deadline: seconds after which an unfinished record is marked done.
        timer: monotonic clock, injectable for tests.
        observer: told about published items and finished records (the audit trail).
        sink: optional reply sink (callback mode); bot-initiated messages then go
            to the sink instead of the session mailbox.
    """

    def __init__(
        self,
        *,
        queue_size: int,
        cache_size: int,
        cache_ttl: float,
        reply_deadline: float,
        timer: Callable[[], float] = time.monotonic,
        observer: GatewayObserver | None = None,
        sink: ReplySink | None = None,
    ) -> None:
        self._queue: asyncio.Queue[Submission] = asyncio.Queue(maxsize=queue_size)
        self._capacity = queue_size
        # Unfinished records are never evicted (a repeat POST must find them, or the
        # pipeline would run twice); finished ones move to the TTL cache.
        self._open: dict[RecordKey, Record] = {}
        self._records: TTLCache[RecordKey, Record] = TTLCache(cache_size, cache_ttl, timer)
        self._mailboxes: TTLCache[str, list[Item]] = TTLCache(cache_size, cache_ttl, timer)
        self._reply_deadline = reply_deadline
        self._observer = observer
        self._sink = sink
        self._closed = False

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def record_count(self) -> int:
        return len(self._open) + len(self._records)

    @property
    def in_progress(self) -> int:
        """Messages accepted whose pipeline has not finished."""
        return len(self._open)

    @property
    def accepting(self) -> bool:
        """Whether a new message would be taken now (health: not stopping, not at capacity)."""
        return not self._closed and len(self._open) < self._capacity

    @property
    def closed(self) -> bool:
        return self._closed

    def known(self, inbound: Inbound) -> bool:
        """Whether this sender's msg_id already has a record (a repeat POST polls it)."""
        return self._find((inbound.sender_id, inbound.msg_id)) is not None

    def _find(self, key: RecordKey) -> Record | None:
        return self._open.get(key) or self._records.get(key)

    def submit(self, inbound: Inbound) -> tuple[Record, bool]:
        """Return the record for this message, queueing it only the first time.

        Raises:
            Unavailable: the inbound queue is full; nothing was recorded.
        """
        key: RecordKey = (inbound.sender_id, inbound.msg_id)
        record = self._find(key)
        if record is not None:
            return record, False
        if self._closed:
            raise Unavailable(
                "the endpoint is stopping; retry later", retry_after=QUEUE_FULL_RETRY_AFTER
            )
        if len(self._open) >= self._capacity:
            raise Unavailable(
                "the bot is busy: too many messages are in progress; retry later",
                retry_after=QUEUE_FULL_RETRY_AFTER,
            )
        record = Record(key, inbound.session_id)
        self._queue.put_nowait(Submission(inbound, record))  # never full: it holds ≤ open ones
        self._open[key] = record
        record.deadline = asyncio.get_running_loop().call_later(
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
            self._to_session(record.session_id, items)  # late: like a bot-initiated message
        else:
            record.append(items)
            if self._sink is not None:
                self._sink.record_published(record, items)
        if self._observer is not None:
            self._observer.published(record, record.session_id, items)

    def publish_to_session(self, session_id: str, items: list[Item]) -> None:
        """A bot-initiated message for the session."""
        if items:
            self._to_session(session_id, items)
            if self._observer is not None:
                self._observer.published(None, session_id, items)

    def _to_session(self, session_id: str, items: list[Item]) -> None:
        """Callback mode hands it to the sink; polling keeps it for later responses."""
        if self._sink is not None:
            self._sink.session_published(session_id, items)
        else:
            kept = [*self._mailboxes.get(session_id, []), *items]
            self._mailboxes[session_id] = kept[-MAILBOX_LIMIT:]

    def finish(self, record: Record) -> None:
        """The pipeline has finished: mark done and keep the record ``cache_ttl`` longer."""
        self._finish(record, "pipeline")

    def view(self, record: Record) -> list[Item]:
        """The record's items plus the session's bot-initiated items it has not shown yet."""
        for item in self._mailboxes.get(record.session_id, []):
            if item.item_id not in record.absorbed:
                record.absorbed.add(item.item_id)
                record.items.append(item)
        return list(record.items)

    def close(self) -> None:
        """Refuse new messages (503) and finish every open record."""
        self._closed = True
        self.finish_all()

    def finish_all(self) -> None:
        """Finish every open record so no waiter hangs past shutdown (or a loop's end)."""
        for record in list(self._open.values()):
            self._finish(record, "shutdown", timed_out=True)

    def _expire(self, record: Record) -> None:
        self._finish(record, "deadline", timed_out=True)

    def _finish(self, record: Record, reason: str, *, timed_out: bool = False) -> None:
        """Mark done once; the sink and the observer hear about the transition only."""
        if record.done:
            return
        record.finish(timed_out=timed_out)
        if self._open.get(record.key) is record:
            del self._open[record.key]
            self._records[record.key] = record  # readable for cache_ttl from now on
        if self._sink is not None:
            self._sink.record_finished(record)
        if self._observer is not None:
            self._observer.finished(record, reason)
