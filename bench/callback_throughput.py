"""Callback delivery throughput to a local receiver on 127.0.0.1.

Run: ``python -m bench.callback_throughput [--count N] [--seconds S]``.

The receiver is a minimal keep-alive HTTP/1.1 server in a child process (so it
does not share our event loop) that answers every POST with 200. Each scenario
is bounded by a delivery count and a time limit and stops by itself. Printed:

* the outbox's cost per delivery (insert + delete, on the event loop);
* deliveries/s through the real dispatcher (signing + outbox + httpx) with one
  lane (one msg_id: strictly sequential) and with many lanes (concurrent);
* the same POSTs sent by a bare ``httpx.AsyncClient`` with the same
  concurrency, and the ratio dispatcher / bare (the price of durability,
  signing and ordering);
* the dispatcher on a client with httpx's default connection limits, which
  open up to 100 connections and keep 20 alive (``new_client`` uses 16, all kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.callbacks import CallbackDispatcher, new_client
from asgi_app.models import Item, Record
from asgi_app.outbox import Outbox
from asgi_app.retry import RetryPolicy
from asgi_app.signing import new_secret, secret_bytes

RECEIVER = r"""
import asyncio, sys

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


class _NullLog:
    """Stands in for the audit file: the JSON line is rendered, then discarded."""

    def info(self, *args: Any, **kwargs: Any) -> None: ...
    def error(self, *args: Any, **kwargs: Any) -> None: ...


def outbox_cost(count: int) -> float:
    """Microseconds per add + remove pair."""
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "bench.sqlite3")
        body = b'{"msg_id":"m","data":[{"item_id":"x","type":"text","content":"hello"}]}'
        started = time.perf_counter()
        for n in range(count):
            outbox.remove(outbox.add(f"id{n}", "lane", "m", body))
        elapsed = time.perf_counter() - started
        outbox.close()
    return elapsed / count * 1e6


async def default_limits_rate(
    url: str, count: int, lanes: int, seconds: float
) -> tuple[int, float]:
    """The dispatcher on a client with httpx's default limits (20 keep-alive connections)."""
    return await dispatcher_rate(url, count, lanes, seconds, client=httpx.AsyncClient())


async def dispatcher_rate(
    url: str, count: int, lanes: int, seconds: float, client: httpx.AsyncClient | None = None
) -> tuple[int, float]:
    """Deliveries acknowledged and seconds taken, ``count`` spread over ``lanes`` msg_ids."""
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "bench.sqlite3")
        async with client or new_client() as client:
            dispatcher = CallbackDispatcher(
                url=url,
                key=secret_bytes(new_secret()),
                outbox=outbox,
                client=client,
                policy=RetryPolicy(timeout=10, retries=0),
                capacity=count + 1,
                log=AuditTrail(create_audit_logger(_NullLog())),  # lines rendered, then dropped
                alert=lambda message: None,
            )
            records = [Record((f"u{n}", f"m{n}"), f"u{n}") for n in range(lanes)]
            started = time.perf_counter()
            for n in range(count):
                dispatcher.record_published(records[n % lanes], [Item("text", f"reply {n}")])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await dispatcher.wait_idle()
            elapsed = time.perf_counter() - started
            done = count - outbox.pending_count
            await dispatcher.aclose()
        outbox.close()
    return done, elapsed


async def bare_rate(url: str, count: int, lanes: int, seconds: float) -> tuple[int, float]:
    """The same number of POSTs with ``lanes`` concurrent senders, no signing, no outbox."""
    body = b'{"msg_id":"m1","code":0,"detail":"success","data":[]}'
    sent = 0
    async with new_client() as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def lane(share: int) -> None:
            nonlocal sent
            for _ in range(share):
                if time.perf_counter() > deadline:
                    return
                response = await client.post(url, content=body, timeout=10)
                sent += response.status_code == 200

        shares = [count // lanes + (1 if n < count % lanes else 0) for n in range(lanes)]
        await asyncio.gather(*(lane(share) for share in shares))
        return sent, time.perf_counter() - started


async def run(url: str, count: int, seconds: float, lanes: int, repeat: int) -> None:
    print(f"receiver: {url} (child process); {count} deliveries or {seconds:g} s per run")
    print(f"each figure is the best of {repeat} runs")
    cost = outbox_cost(min(count, 5000))
    print(f"outbox add+remove on the loop: {cost:.1f} µs per delivery")
    rates: dict[tuple[str, int], float] = {}
    for kind, measure, width in (
        ("dispatcher", dispatcher_rate, 1),
        ("bare httpx", bare_rate, 1),
        ("dispatcher", dispatcher_rate, lanes),
        ("bare httpx", bare_rate, lanes),
        ("dispatcher, httpx default limits", default_limits_rate, lanes),
    ):
        runs = [await measure(url, count, width, seconds) for _ in range(repeat)]
        done, elapsed = max(runs, key=lambda run: run[0] / run[1])  # best of: least noise
        rates[kind, width] = done / elapsed
        label = f"{kind}, {width} concurrent msg_id(s)"
        print(f"{label:>36}: {done:6d} in {elapsed:6.2f} s = {done / elapsed:8.0f} /s")
    one = rates["dispatcher", 1] / rates["bare httpx", 1]
    many = rates["dispatcher", lanes] / rates["bare httpx", lanes]
    spread = rates["dispatcher", lanes] / rates["dispatcher", 1]
    print(f"ratio dispatcher/bare: 1 lane {one:.2f}, {lanes} lanes {many:.2f}")
    print(f"ratio {lanes} lanes / 1 lane (dispatcher): {spread:.2f}")
    keepalive = rates["dispatcher", lanes] / rates["dispatcher, httpx default limits", lanes]
    print(f"ratio new_client (16 kept-alive connections) / httpx defaults: {keepalive:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="deliveries per run")
    parser.add_argument("--seconds", type=float, default=15.0, help="time limit per run")
    parser.add_argument("--lanes", type=int, default=50, help="concurrent msg_ids")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        url = f"http://127.0.0.1:{receiver.stdout.readline().strip()}/hook"
        asyncio.run(run(url, args.count, args.seconds, args.lanes, args.repeat))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
