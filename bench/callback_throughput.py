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
  signing and ordering).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from asgi_app.audit import create_audit_logger
from asgi_app.callbacks import CallbackDispatcher
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


async def dispatcher_rate(url: str, count: int, lanes: int, seconds: float) -> tuple[int, float]:
    """Deliveries acknowledged and seconds taken, ``count`` spread over ``lanes`` msg_ids."""
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "bench.sqlite3")
        async with httpx.AsyncClient(trust_env=False) as client:
            dispatcher = CallbackDispatcher(
                url=url,
                key=secret_bytes(new_secret()),
                outbox=outbox,
                client=client,
                policy=RetryPolicy(timeout=10, retries=0),
                capacity=count + 1,
                log=create_audit_logger(_NullLog()),  # JSON lines rendered, then discarded
                alert=lambda message: None,
            )
            records = [Record((f"u{n}", f"m{n}"), f"u{n}") for n in range(lanes)]
            started = time.perf_counter()
            for n in range(count):
                dispatcher.record_published(records[n % lanes], [Item("text", f"reply {n}")])
            deadline = started + seconds
            # A bench, not a test: poll the completion condition, bounded by the deadline.
            while dispatcher.in_flight and time.perf_counter() < deadline:
                await asyncio.sleep(0.002)
            elapsed = time.perf_counter() - started
            done = count - outbox.pending_count
            await dispatcher.aclose()
        outbox.close()
    return done, elapsed


async def bare_rate(url: str, count: int, lanes: int, seconds: float) -> tuple[int, float]:
    """The same number of POSTs with ``lanes`` concurrent senders, no signing, no outbox."""
    body = b'{"msg_id":"m1","code":0,"detail":"success","data":[]}'
    sent = 0
    async with httpx.AsyncClient(trust_env=False) as client:
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


async def run(count: int, seconds: float, lanes: int) -> None:
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        url = f"http://127.0.0.1:{receiver.stdout.readline().strip()}/hook"
        print(f"receiver: {url} (child process); {count} deliveries or {seconds:g} s per run")
        cost = outbox_cost(min(count, 5000))
        print(f"outbox add+remove on the loop: {cost:.1f} µs per delivery")
        results: dict[str, float] = {}
        for name, measure, width in (
            ("dispatcher, 1 lane", dispatcher_rate, 1),
            ("bare httpx, 1 sender", bare_rate, 1),
            (f"dispatcher, {lanes} lanes", dispatcher_rate, lanes),
            (f"bare httpx, {lanes} senders", bare_rate, lanes),
        ):
            done, elapsed = await measure(url, count, width, seconds)
            results[name] = done / elapsed
            print(f"{name:>28}: {done:6d} in {elapsed:6.2f} s = {done / elapsed:8.0f} /s")
        print(
            "ratios: dispatcher/bare "
            f"1 lane {results['dispatcher, 1 lane'] / results['bare httpx, 1 sender']:.2f}, "
            f"{lanes} lanes {results[f'dispatcher, {lanes} lanes'] / results[f'bare httpx, {lanes} senders']:.2f}; "
            f"{lanes} lanes / 1 lane {results[f'dispatcher, {lanes} lanes'] / results['dispatcher, 1 lane']:.2f}"
        )
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="deliveries per run")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per run")
    parser.add_argument("--lanes", type=int, default=50, help="concurrent msg_ids")
    args = parser.parse_args()
    asyncio.run(run(args.count, args.seconds, args.lanes))


if __name__ == "__main__":
    main()
