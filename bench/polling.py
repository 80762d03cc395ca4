"""The HTTP side in-process: polling round trips/s and the audit trail's cost per line.

Run: ``python -m bench.polling [--count N]``. Bounded by count, loopback-free (the app
is driven through ``httpx.ASGITransport`` with a bot that answers at once), stops by
itself. Printed: round trips/s with the audit trail writing to a real rotating file,
the same with the audit lines dropped, their ratio, and µs per audit line written.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from asgi_app.app import create_app
from asgi_app.audit import AuditTrail, create_audit_logger
from asgi_app.gateway import Gateway
from asgi_app.keys import KeyManager
from asgi_app.models import Item
from asgi_app.routes import Handlers
from asgi_app.settings import parse_settings


class _Drop:
    def _drop(self, message: str) -> None:
        pass

    debug = info = warning = error = critical = exception = msg = _drop


async def _bot(gateway: Gateway) -> None:
    while True:
        submission = await gateway.next_submission()
        gateway.publish(submission.record, [Item("text", "ok")])
        gateway.finish(submission.record)


async def round_trips(count: int, audit: AuditTrail, tmp: Path) -> float:
    """Seconds for ``count`` sequential POSTs answered 200 (each a new msg_id)."""
    settings = parse_settings(
        {"id": "bench", "hep_rate_limit_per_key": "0", "hep_rate_limit_per_sender": "0"}
    )
    gateway = Gateway(queue_size=1000, cache_size=count + 10, cache_ttl=300, reply_deadline=30)
    keys = KeyManager(platform_id="bench", state_file=tmp / "keys.json", ttl=3600)
    key = keys.ensure("")
    handlers = Handlers(
        settings=settings, gateway=gateway, keys=keys, audit=audit, on_key_issued=print
    )
    bot = asyncio.create_task(_bot(gateway))
    transport = httpx.ASGITransport(app=create_app(handlers))
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        started = time.perf_counter()
        for n in range(count):
            body = {"msg_id": f"m{n}", "query": "hi", "sender_id": "u"}
            response = await client.post(settings.chat_path, json=body, headers=headers)
            assert response.status_code == 200, response.text
        elapsed = time.perf_counter() - started
    bot.cancel()
    gateway.close()
    return elapsed


def audit_line_cost(lines: int, tmp: Path) -> float:
    """µs per ``request`` line written through the real rotating file trail."""
    audit = AuditTrail.to_file(tmp / "audit.log", platform_id="bench", max_bytes=10**8, backups=1)
    started = time.perf_counter()
    for _ in range(lines):
        audit.info("request", method="POST", path="/api/plug/v1/chat", status=200, duration_ms=1.0)
    elapsed = time.perf_counter() - started
    audit.close()
    return elapsed / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    count = parser.parse_args().count
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        to_file = AuditTrail.to_file(tmp / "a.log", platform_id="bench", max_bytes=10**8, backups=1)
        with_file = asyncio.run(round_trips(count, to_file, tmp))
        to_file.close()
        dropped = asyncio.run(round_trips(count, AuditTrail(create_audit_logger(_Drop())), tmp))
        per_line = audit_line_cost(20_000, tmp)
    print(f"polling round trips (in-process, bot answers at once, {count} msg_ids):")
    for label, seconds in (
        ("audit to a rotating file", with_file),
        ("audit lines dropped", dropped),
    ):
        print(f"  {label:25} {count / seconds:8.0f} /s  ({seconds / count * 1e3:.2f} ms each)")
    print(f"  ratio file / dropped: {dropped / with_file:.2f}")
    print(f"audit trail: {per_line:.1f} µs per line written (20,000 lines)")


if __name__ == "__main__":
    main()
