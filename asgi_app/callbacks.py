"""Callback mode: every reply is POSTed to ``hep_callback_url``, signed, in order, durably.

The :class:`CallbackDispatcher` is the gateway's reply sink. Each published batch
of items becomes one delivery (``done: false``); the end of the pipeline adds a
final delivery with ``data: []`` and ``done: true``; bot-initiated messages go out
as ``msg_id: "session:<sender_id>"`` (``done: true``: nothing follows them). Every
delivery is written to the :class:`~.outbox.Outbox` before its first attempt.

Deliveries of one message (one *lane*: sender + msg_id) go out strictly one after
another; lanes run concurrently. A delivery is retried with backoff and jitter
(honouring ``Retry-After``) until a 2xx; a 410, or running out of retries, moves
it to the dead-letter table and logs an error for the operator.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from .envelope import envelope
from .errors import Unavailable
from .metrics import Metrics
from .models import Item, Record, RecordKey
from .outbox import DeadLetter, Delivery, Outbox
from .retry import RetryPolicy, parse_retry_after
from .signing import new_webhook_id, webhook_headers

OUTBOX_FULL_RETRY_AFTER = 30
MAX_CONNECTIONS = 16


def loggable_url(url: str) -> str:
    """The callback URL without credentials or query (they may carry a token)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


def new_client() -> httpx.AsyncClient:
    """The long-lived client for deliveries: redirects are failures (Standard Webhooks).

    At most 16 connections, all kept alive: httpcore's pool spends CPU per
    open connection on every request, so past a handful of connections more
    concurrency makes deliveries slower, not faster (``bench/callback_throughput.py``
    measured 4-8 connections ≈ 4x faster than 64 on a local receiver). Lanes
    beyond that wait for a free connection; the wait does not count against
    the attempt's timeout.
    """
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    # trust_env off: an operator's proxy variables or .netrc must not reach receivers.
    return httpx.AsyncClient(follow_redirects=False, limits=limits, trust_env=False)


TIMED_OUT_DETAIL = "the bot did not finish in time"


class CallbackDispatcher:
    """Turns reply events into signed deliveries and delivers them.

    Args:
        url: the receiver (``hep_callback_url``).
        key: the signing key (bytes of ``hep_callback_secret``).
        outbox: durable storage of pending and dead deliveries.
        client: the long-lived HTTP client (the owner opens and closes it).
        policy: timeout, retries and backoff.
        capacity: pending deliveries at which new messages are refused (503).
        log: the audit trail: one line per attempt, one per dead letter.
        alert: operator-visible error line (AstrBot's log) for dead letters.
        clock / rng / sleep: injectable for tests.
    """

    def __init__(
        self,
        *,
        url: str,
        key: bytes,
        outbox: Outbox,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        capacity: int,
        log: Any,
        alert: Callable[[str], None],
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = url
        self._key = key
        self._outbox = outbox
        self._client = client
        self._policy = policy
        self._capacity = capacity
        self._log = log
        self._alert = alert
        self._closed = False
        self.metrics: Metrics | None = None
        """Delivery outcomes for ``/metrics``; set once they exist (they read the gateway)."""
        self._clock = clock
        self._rng = rng
        self._sleep = sleep
        self._lanes: dict[str, deque[Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._key_expiry: dict[RecordKey, int] = {}
        self._latest_expiry = 0

    # -- admission (called by the POST handler) ---------------------------------------
    def ensure_room(self) -> None:
        """Refuse a new message while the outbox is full; older deliveries are never dropped."""
        if self._outbox.pending_count >= self._capacity:
            raise Unavailable(
                "the callback outbox is full (the receiver is not keeping up); retry later",
                retry_after=OUTBOX_FULL_RETRY_AFTER,
            )

    def accepted(self, record: Record, key_expires_at: int) -> None:
        """Remember the key a message came with: its deliveries report its ``api_key_ttl``."""
        self._key_expiry[record.key] = key_expires_at
        self._latest_expiry = max(self._latest_expiry, key_expires_at)

    # -- the gateway's reply sink -----------------------------------------------------
    def record_published(self, record: Record, items: list[Item]) -> None:
        self._enqueue(record.key, items, done=False, expiry=self._key_expiry.get(record.key))

    def session_published(self, session_id: str, items: list[Item]) -> None:
        """Bot-initiated: ``msg_id`` is ``session:<sender_id>`` (or the group id), as the seed."""
        chat_id = session_id.partition(":")[2] or session_id
        key = (session_id, f"session:{chat_id}")  # the lane keeps groups and users apart
        self._enqueue(key, items, done=True, expiry=None, sender_id=chat_id)

    def record_finished(self, record: Record) -> None:
        expiry = self._key_expiry.pop(record.key, None)
        detail = TIMED_OUT_DETAIL if record.timed_out else "success"
        self._enqueue(record.key, [], done=True, expiry=expiry, detail=detail)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> int:
        """Resume what a previous run left in the outbox; return how many."""
        pending = self._outbox.pending()
        for delivery in pending:
            self._schedule(delivery)
        return len(pending)

    async def aclose(self) -> None:
        """Stop delivering; whatever is pending stays in the outbox for the next start."""
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._lanes.clear()

    async def wait_idle(self) -> None:
        """Wait until every queued delivery has been delivered or dead-lettered."""
        while self._workers:
            await asyncio.wait(list(self._workers.values()))

    @property
    def in_flight(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    # -- dead letters -----------------------------------------------------------------
    def dead_letters(self, limit: int) -> list[DeadLetter]:
        return self._outbox.dead_letters(limit)

    def replay(self, webhook_ids: Sequence[str] | None) -> list[Delivery]:
        """Queue dead letters (all, or those ids) again, with their original webhook-id."""
        revived = self._outbox.revive(webhook_ids)
        for delivery in revived:
            self._schedule(delivery)
        return revived

    # -- internals --------------------------------------------------------------------
    def _enqueue(
        self,
        key: RecordKey,
        items: list[Item],
        *,
        done: bool,
        expiry: int | None,
        detail: str = "success",
        sender_id: str | None = None,
    ) -> None:
        lane_owner, msg_id = key
        if self._closed:  # a pipeline still sending after the adapter stopped
            self._alert(f"a reply for msg_id {msg_id!r} came after the adapter stopped: not sent")
            return
        expires_at = self._latest_expiry if expiry is None else expiry
        payload = envelope(
            msg_id=msg_id,
            detail=detail,
            api_key_ttl=max(0, int(expires_at - self._clock())),
            data=[item.to_json() for item in items],
            done=done,
            sender_id=sender_id or lane_owner,
        )
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        lane = json.dumps([lane_owner, msg_id], ensure_ascii=False)
        self._schedule(self._outbox.add(new_webhook_id(), lane, msg_id, body))

    def _schedule(self, delivery: Delivery) -> None:
        self._lanes.setdefault(delivery.lane, deque()).append(delivery)
        if delivery.lane not in self._workers:
            # A fresh context: a lane outlives whichever request or event started it,
            # so it must not log that request's id (structlog contextvars).
            task = asyncio.create_task(
                self._drain(delivery.lane), name="hep-callback-lane", context=contextvars.Context()
            )
            self._workers[delivery.lane] = task

    async def _drain(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                await self._deliver(queue[0])
                queue.popleft()
        except Exception as exc:  # a bug or a broken outbox: keep the rest for the next start
            self._log.error("callback_lane_failed", lane=lane, exc_info=exc)
            self._alert(
                f"callback delivery stopped for {lane}: {exc!r}; pending ones resume on restart"
            )
        finally:
            # No await between the loop's last check and here, so nothing can be appended unseen.
            self._workers.pop(lane, None)
            if not queue:
                self._lanes.pop(lane, None)

    async def _deliver(self, delivery: Delivery) -> None:
        error, retry_after, pause = "", None, 0.0
        for attempt in range(self._policy.retries + 1):
            if attempt:
                await self._sleep(pause)
            started = time.perf_counter()
            status, error, retry_after = await self._attempt(delivery)
            delivered = status is not None and 200 <= status < 300
            last = delivered or status == 410 or attempt == self._policy.retries  # 410: "gone"
            pause = 0.0 if last else self._policy.delay(attempt, retry_after, self._rng)
            outcome = "delivered" if delivered else "failed" if last else "retry"
            self._log.callback_attempt(
                msg_id=delivery.msg_id,
                webhook_id=delivery.webhook_id,
                attempt=attempt + 1,
                status=status,
                outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                next_retry_s=None if last else round(pause, 3),
                error=error or None,
            )
            if self.metrics is not None:
                self.metrics.callback_attempt(outcome)
            if delivered:
                self._outbox.remove(delivery)
                return
            self._outbox.record_attempt(delivery)
            if last:
                break
        self._bury(delivery, error, attempts=attempt + 1)

    def _bury(self, delivery: Delivery, error: str, *, attempts: int) -> None:
        """Retries are exhausted: keep it as a dead letter, and say so where operators look."""
        self._outbox.bury(delivery, error)
        self._log.dead_letter(
            msg_id=delivery.msg_id, webhook_id=delivery.webhook_id, attempts=attempts, error=error
        )
        if self.metrics is not None:
            self.metrics.dead_letter()
        self._alert(
            f"callback {delivery.webhook_id} (msg_id {delivery.msg_id!r}) failed for good: "
            f"{error}; it is kept as a dead letter (GET /api/plug/hep/callbacks/dead_letters)"
        )

    async def _attempt(self, delivery: Delivery) -> tuple[int | None, str, float | None]:
        """One POST; returns (status or None, error text, Retry-After seconds)."""
        now = self._clock()
        headers = webhook_headers(self._key, delivery.webhook_id, int(now), delivery.body)
        try:
            # httpx's timeout is per read; the attempt as a whole gets the same bound,
            # so a receiver that drips its answer cannot hold a lane.
            async with asyncio.timeout(self._policy.timeout):
                response = await self._client.post(
                    self._url,
                    content=delivery.body,
                    headers=headers,
                    timeout=httpx.Timeout(self._policy.timeout, pool=None),
                )
        except (httpx.TimeoutException, TimeoutError):
            return None, f"timeout after {self._policy.timeout:g} s", None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}", None
        status = response.status_code
        error = "" if 200 <= status < 300 else f"HTTP {status}"
        return status, error, parse_retry_after(response.headers.get("retry-after"), now)
