"""Polling mode: one record per (sender, msg_id), waited on, served from the cache."""

from __future__ import annotations

import asyncio

import pytest

from asgi_app.gateway import MAILBOX_LIMIT, Gateway, Submission
from asgi_app.models import Item

from .conftest import CHAT, Harness


def text_message(msg_id: str = "m1", sender: str = "u1", query: str = "hi") -> dict[str, str]:
    return {"msg_id": msg_id, "type": "text", "query": query, "sender_id": sender}


async def test_text_round_trip_returns_the_reply_with_done(harness: Harness) -> None:
    """We expect 200, the seed's envelope, and the bot's reply as one text item."""
    response = await harness.chat(text_message(query="你好"))
    assert response.status_code == 200
    body = response.json()
    assert body["msg_id"] == "m1"
    assert body["code"] == 0
    assert body["done"] is True
    assert 3500 < body["api_key_ttl"] <= 3600
    [item] = body["data"]
    assert item["type"] == "text" and item["content"] == "echo: 你好"
    assert len(item["item_id"]) == 10
    assert response.headers["x-msg-id"] == "m1"


async def test_trailing_slash_is_served_without_a_redirect(harness: Harness) -> None:
    response = await harness.client.post(CHAT + "/", json=text_message(), headers=harness.auth())
    assert response.status_code == 200


async def test_repeat_post_is_served_from_the_record_without_rerunning(harness: Harness) -> None:
    """The same msg_id from the same sender never reaches the pipeline twice."""
    first = await harness.chat(text_message())
    second = await harness.chat(text_message())
    assert len(harness.bot.seen) == 1
    assert second.json()["data"] == first.json()["data"]


async def test_slow_bot_gives_202_then_200_without_a_second_run(harness: Harness) -> None:
    release = asyncio.Event()

    async def slow(submission: Submission, gateway: Gateway) -> None:
        gateway.publish(submission.record, [Item("text", "thinking")])
        await release.wait()
        gateway.publish(submission.record, [Item("text", "answer")])
        gateway.finish(submission.record)

    harness.bot.behaviour = slow
    object.__setattr__(harness.settings, "wait_timeout", 0.05)
    pending = await harness.chat(text_message())
    assert pending.status_code == 202
    assert pending.json()["done"] is False
    assert [i["content"] for i in pending.json()["data"]] == ["thinking"]
    release.set()
    done = await harness.chat(text_message())
    assert done.status_code == 200
    assert [i["content"] for i in done.json()["data"]] == ["thinking", "answer"]
    assert len(harness.bot.seen) == 1


async def test_same_msg_id_from_another_sender_is_another_message(harness: Harness) -> None:
    await harness.chat(text_message(sender="alice", query="a"))
    other = await harness.chat(text_message(sender="bob", query="b"))
    assert [i["content"] for i in other.json()["data"]] == ["echo: b"]
    assert len(harness.bot.seen) == 2


async def test_bot_initiated_messages_join_later_responses_once_per_record(
    harness: Harness,
) -> None:
    harness.gateway.publish_to_session("FriendMessage:u1", [Item("text", "reminder")])
    first = await harness.chat(text_message())
    again = await harness.chat(text_message())
    contents = [i["content"] for i in again.json()["data"]]
    assert contents.count("reminder") == 1
    assert first.json()["data"] == again.json()["data"]
    other = await harness.chat(text_message(sender="u2"))
    assert "reminder" not in [i["content"] for i in other.json()["data"]]


async def test_sends_after_done_go_to_the_session_mailbox(harness: Harness) -> None:
    first = await harness.chat(text_message("m1"))
    record = harness.bot.seen[0].record
    harness.gateway.publish(record, [Item("text", "late")])
    assert "late" not in [i["content"] for i in first.json()["data"]]
    later = await harness.chat(text_message("m2"))
    assert "late" in [i["content"] for i in later.json()["data"]]


@pytest.mark.parametrize("settings_overrides", [{"hep_queue_size": "1"}])
async def test_full_queue_answers_503_with_retry_after(harness: Harness) -> None:
    """Nothing is dropped: a message that does not fit is refused, and can be retried."""
    harness.bot_task.cancel()  # AstrBot is stuck: nothing takes messages off the queue
    object.__setattr__(harness.settings, "wait_timeout", 0.01)
    queued = await harness.chat(text_message("m-queued"))
    assert queued.status_code == 202
    response = await harness.chat(text_message("m-overflow"))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "unavailable"
    assert harness.gateway.record_count == 1  # the refused message left no record behind


async def _never_finish(submission: Submission, gateway: Gateway) -> None:
    await asyncio.Event().wait()


async def test_deadline_marks_an_unfinished_record_done(harness: Harness) -> None:
    harness.bot.behaviour = _never_finish
    harness.gateway._reply_deadline = 0.01
    response = await harness.chat(text_message())
    assert response.status_code == 200
    body = response.json()
    assert body["done"] is True
    assert "did not finish in time" in body["detail"]


@pytest.mark.parametrize("settings_overrides", [{"hep_cache_size": "1", "hep_cache_ttl": "1"}])
async def test_an_unfinished_message_is_never_evicted_so_it_never_runs_twice(
    harness: Harness,
) -> None:
    """Cache size and TTL bound finished records only; a slow one is still found."""
    release = asyncio.Event()

    async def slow(submission: Submission, gateway: Gateway) -> None:
        await release.wait()
        gateway.publish(submission.record, [Item("text", "late answer")])
        gateway.finish(submission.record)

    harness.bot.behaviour = slow
    object.__setattr__(harness.settings, "wait_timeout", 0.01)
    assert (await harness.chat(text_message("slow"))).status_code == 202
    harness.bot.behaviour = echo_and_finish
    for n in range(3):  # more finished messages than the cache holds
        assert (await harness.chat(text_message(f"other-{n}"))).status_code == 200
    again = await harness.chat(text_message("slow"))
    assert again.status_code == 202
    release.set()
    object.__setattr__(harness.settings, "wait_timeout", 5)  # the poll waits for done
    final = await harness.chat(text_message("slow"))
    assert final.status_code == 200
    assert [i["content"] for i in final.json()["data"]] == ["late answer"]
    assert [s.inbound.msg_id for s in harness.bot.seen].count("slow") == 1


@pytest.mark.parametrize("settings_overrides", [{"hep_queue_size": "2"}])
async def test_messages_in_progress_are_bounded_with_503(harness: Harness) -> None:
    """AstrBot's own queue is unbounded: our bound counts messages until they finish."""
    harness.bot.behaviour = _never_finish
    object.__setattr__(harness.settings, "wait_timeout", 0.01)
    for n in range(2):
        assert (await harness.chat(text_message(f"busy-{n}"))).status_code == 202
    refused = await harness.chat(text_message("one-too-many"))
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
    assert (await harness.chat(text_message("busy-0"))).status_code == 202  # polling still works
    assert harness.gateway.in_progress == 2


async def echo_and_finish(submission: Submission, gateway: Gateway) -> None:
    gateway.publish(submission.record, [Item("text", "echo")])
    gateway.finish(submission.record)


def test_a_session_mailbox_keeps_only_the_newest_bot_initiated_items() -> None:
    """A cron job firing forever must not grow memory (or every response) without bound."""
    gateway = Gateway(queue_size=1, cache_size=10, cache_ttl=60, reply_deadline=60)
    for n in range(MAILBOX_LIMIT + 50):
        gateway.publish_to_session("FriendMessage:u1", [Item("text", f"tick {n}")])
    kept = gateway._mailboxes["FriendMessage:u1"]
    assert len(kept) == MAILBOX_LIMIT and kept[-1].content == f"tick {MAILBOX_LIMIT + 49}"
