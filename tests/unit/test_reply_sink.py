"""The gateway's reply sink hook and the outbox's storage guarantees."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from asgi_app.gateway import Gateway
from asgi_app.models import Inbound, Item, Part, Record
from asgi_app.outbox import Outbox


@dataclass
class RecordingSink:
    events: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def record_published(self, record: Record, items: list[Item]) -> None:
        self.events.append(("items", record.msg_id, [i.content for i in items]))

    def session_published(self, session_id: str, items: list[Item]) -> None:
        self.events.append(("session", session_id, [i.content for i in items]))

    def record_finished(self, record: Record) -> None:
        self.events.append(("done", record.msg_id, ["timed_out"] if record.timed_out else []))


def inbound(msg_id: str) -> Inbound:
    return Inbound(msg_id, "u1", "u1", (Part("text", text="hi"),))


async def test_sink_sees_items_done_and_late_sends_in_order() -> None:
    """Late sends after done and bot-initiated ones go to the sink as session messages."""
    sink = RecordingSink()
    gateway = Gateway(queue_size=5, cache_size=5, cache_ttl=60, reply_deadline=60, sink=sink)
    record, _ = gateway.submit(inbound("m1"))
    gateway.publish(record, [Item("text", "a")])
    gateway.finish(record)
    gateway.finish(record)  # a second finish is not a second done
    gateway.publish(record, [Item("text", "late")])
    gateway.publish_to_session("FriendMessage:u1", [Item("text", "cron")])
    assert sink.events == [
        ("items", "m1", ["a"]),
        ("done", "m1", []),
        ("session", "FriendMessage:u1", ["late"]),
        ("session", "FriendMessage:u1", ["cron"]),
    ]
    gateway.close()


async def test_close_reports_unfinished_records_as_timed_out() -> None:
    sink = RecordingSink()
    gateway = Gateway(queue_size=5, cache_size=5, cache_ttl=60, reply_deadline=60, sink=sink)
    gateway.submit(inbound("m1"))
    gateway.close()
    assert sink.events == [("done", "m1", ["timed_out"])]


def test_outbox_is_wal_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path)
    first = outbox.add("id1", "lane", "m1", b"{}")
    outbox.add("id2", "lane", "m1", b"{}")
    outbox.remove(first)
    outbox.bury(outbox.pending()[0], "HTTP 500")
    outbox.add("id3", "lane", "m2", b"{}")
    outbox.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reopened = Outbox(path)
    assert [d.webhook_id for d in reopened.pending()] == ["id3"]
    assert reopened.pending_count == 1 and reopened.dead_count() == 1
    [revived] = reopened.revive(None)
    assert revived.webhook_id == "id2" and revived.seq > reopened.pending()[0].seq
    reopened.close()
