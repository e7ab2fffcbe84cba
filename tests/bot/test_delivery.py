"""The delivery worker against the fake Slack, on SQLite and PostgreSQL: exactly once, 429s rescheduled
without sleeping, 5xx retried, permanent errors sent to a DM or reported, interrupted sends not repeated."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import update
from sqlmodel import Session, select

from bot.delivery import MAX_ATTEMPTS, METADATA_EVENT, SETTLE, DeliveryWorker
from storage import outbox
from storage.db import session_scope
from storage.models import Outbox, utcnow


def client(fake) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.api_url)


def queue(engine, n, *, prefix="t", channel=lambda i: f"U{i:04d}", **kw) -> None:
    with session_scope(engine) as s:
        for i in range(n):
            outbox.enqueue(
                session=s, key=f"{prefix}:{i}", payload={"channel": channel(i), "text": f"hello {i}"}, **kw
            )


def posted_keys(fake) -> Counter:
    """How many times each outbox key reached a channel (from the metadata Slack stored)."""
    keys: Counter = Counter()
    for messages in list(fake.messages.values()):
        for m in messages:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT:
                keys[meta["event_payload"]["key"]] += 1
    return keys


def rows(engine) -> dict[str, Outbox]:
    with Session(engine) as s:
        return {r.key: r for r in s.exec(select(Outbox))}


def make_due(engine, ago: timedelta = timedelta(0)) -> None:
    with session_scope(engine) as s:
        s.exec(update(Outbox).where(Outbox.status == "pending").values(next_attempt_at=utcnow() - ago))


def expire_leases(engine, *held: Outbox) -> None:
    """Time passes beyond every lease: in the database, and in what the holders (`held`) know of theirs."""
    for row in held:
        row.lease_until = utcnow() - timedelta(seconds=1)
    with session_scope(engine) as s:
        s.exec(
            update(Outbox)
            .where(Outbox.status == "sending")
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )


def stored_then_500(times: int = 1):
    """An after-store rule: Slack keeps the first `times` messages posted but answers 500."""
    left = iter(range(times))

    def rule(method, args):
        if method == "chat.postMessage" and next(left, None) is not None:
            return 500, {}, {"ok": False, "error": "internal_error"}
        return None

    return rule


def test_each_message_carries_its_key_and_is_sent_once(engine, fake_slack):
    queue(engine, 3)
    worker = DeliveryWorker(engine=engine, client=client(fake_slack))
    worker.drain()
    worker.drain()
    assert posted_keys(fake_slack) == Counter({"t:0": 1, "t:1": 1, "t:2": 1})
    stored = rows(engine)
    assert all(
        r.status == "sent" and r.result_ts and r.result_channel == f"DU{i:04d}"
        for i, r in enumerate(stored[f"t:{i}"] for i in range(3))
    )
    with session_scope(engine) as s:  # the same key queued again is not sent again
        assert outbox.enqueue(session=s, key="t:1", payload={"channel": "U0001", "text": "again"}) is None


def test_429_is_rescheduled_at_retry_after_without_sleeping(engine, fake_slack):
    def limited(method, args):
        if method == "chat.postMessage" and args.get("channel") == "U0000":
            return 429, {"Retry-After": "30"}, {"ok": False, "error": "ratelimited"}
        return None

    fake_slack.failure_rules.append(limited)
    queue(engine, 3, channel=lambda i: "U0000" if i < 2 else "U0002")
    worker = DeliveryWorker(engine=engine, client=client(fake_slack))
    started = time.monotonic()
    worker.drain()
    assert time.monotonic() - started < 3  # never waits out Retry-After
    stored = rows(engine)
    assert stored["t:2"].status == "sent"  # other channels go on
    for key in ("t:0", "t:1"):
        r = stored[key]
        assert r.status == "pending" and r.attempts == 0  # a 429 does not use up an attempt
        assert timedelta(seconds=25) < r.next_attempt_at - utcnow() <= timedelta(seconds=31)
    # Only one call hit the limited channel; the second message waited without a call of its own.
    assert len([c for c in fake_slack.calls if c.status == 429]) == 1
    fake_slack.failure_rules.clear()
    worker._blocked.clear()
    make_due(engine)
    worker.drain()
    assert posted_keys(fake_slack) == Counter({"t:0": 1, "t:1": 1, "t:2": 1})


def test_5xx_retries_with_backoff_and_looks_before_posting_again(engine, fake_slack):
    failures = iter([True, True])

    def flaky(method, args):
        if method == "chat.postMessage" and next(failures, False):
            return 500, {}, {"ok": False, "error": "internal_error"}
        return None

    fake_slack.failure_rules.append(flaky)
    queue(engine, 1)
    worker = DeliveryWorker(engine=engine, client=client(fake_slack))
    worker.drain()
    r = rows(engine)["t:0"]
    assert r.status == "pending" and r.check_before_send and "500" in r.last_error
    # Not the 1 s backoff: the message may be in Slack, and history may not show it for a few seconds.
    assert SETTLE - timedelta(seconds=0.5) < r.next_attempt_at - utcnow() <= SETTLE
    make_due(engine)
    worker.drain()
    r = rows(engine)["t:0"]
    assert r.status == "pending" and r.attempts == 2 and r.check_before_send
    make_due(engine)
    worker.drain()
    assert posted_keys(fake_slack) == Counter({"t:0": 1})
    assert fake_slack.calls_to("conversations.history")  # it looked first, found nothing, then posted
    assert rows(engine)["t:0"].status == "sent"


def test_a_send_interrupted_after_slack_took_it_is_not_posted_again(engine, fake_slack):
    """A worker claimed three rows, posted two (one DM, one thread reply) and died before marking them."""
    with session_scope(engine) as s:
        outbox.enqueue(session=s, key="dm", payload={"channel": "U1", "text": "thanks"})
        outbox.enqueue(
            session=s, key="thread", payload={"channel": "C1", "thread_ts": "1.000001", "text": "thanks"}
        )
        outbox.enqueue(session=s, key="never", payload={"channel": "U2", "text": "thanks"})
    with session_scope(engine) as s:
        claimed = outbox.claim_due(session=s, worker_id="dead-worker")
    assert len(claimed) == 3
    slack = client(fake_slack)
    for key, args in (("dm", {"channel": "U1"}), ("thread", {"channel": "C1", "thread_ts": "1.000001"})):
        slack.chat_postMessage(
            text="thanks", metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}}, **args
        )
    posts_before = len(fake_slack.calls_to("chat.postMessage"))
    # Until the lease runs out nobody touches the rows; then a new worker takes them over.
    worker = DeliveryWorker(engine=engine, client=client(fake_slack))
    assert worker.deliver_due() == 0
    expire_leases(engine)
    worker.drain()
    assert posted_keys(fake_slack) == Counter({"dm": 1, "thread": 1, "never": 1})
    assert len(fake_slack.calls_to("chat.postMessage")) == posts_before + 1
    assert fake_slack.calls_to("conversations.replies") and fake_slack.calls_to("conversations.history")
    stored = rows(engine)
    assert all(r.status == "sent" for r in stored.values())
    assert "not posted again" in stored["dm"].last_error and stored["dm"].result_ts
    assert worker.stats["found_already_sent"] == 2


def test_permanent_errors_fall_back_to_a_dm_or_are_reported(engine, fake_slack):
    fake_slack.missing_channels.add("CGONE")
    fake_slack.deactivated_users.add("U2GONE")
    with session_scope(engine) as s:
        outbox.enqueue(
            session=s,
            key="thanks:1",
            payload={"channel": "CGONE", "thread_ts": "1.000001", "text": "Yes, we shipped it"},
            fallback_user_id="U1",
            report_to="UPM",
            report_label="the thank-you to <@U1>",
        )
        outbox.enqueue(
            session=s,
            key="thanks:2",
            payload={"channel": "U2GONE", "text": "Yes, we shipped it"},
            fallback_user_id="U2GONE",
            report_to="UPM",
            report_label="the thank-you to <@U2GONE>",
        )
    DeliveryWorker(engine=engine, client=client(fake_slack)).drain()
    assert [c.args["text"] for c in fake_slack.posts_to("U1")] == ["Yes, we shipped it"]
    stored = rows(engine)
    assert stored["thanks:1"].status == "failed" and "sent to DM instead" in stored["thanks:1"].last_error
    assert stored["thanks:1:fallback"].status == "sent"
    assert stored["thanks:2"].status == "failed" and stored["thanks:2"].last_error == "user_disabled"
    reports = [c.args["text"] for c in fake_slack.posts_to("UPM")]
    assert len(reports) == 1
    assert "the thank-you to <@U2GONE>" in reports[0] and "deactivated" in reports[0]


def test_gives_up_after_max_attempts_and_tells_the_pm(engine, fake_slack):
    fake_slack.failure_rules.append(
        lambda m, a: (
            (503, {}, {"ok": False, "error": "service_unavailable"})
            if m == "chat.postMessage" and a.get("channel") == "U1"
            else None
        )
    )
    queue(engine, 1, channel=lambda i: "U1", report_to="UPM", report_label="the note to <@U1>")
    with session_scope(engine) as s:
        s.exec(update(Outbox).values(attempts=MAX_ATTEMPTS - 1))
    worker = DeliveryWorker(engine=engine, client=client(fake_slack))
    worker.drain()
    # A 503 may come after Slack stored the message: one last look, once it could show, before giving up.
    r = rows(engine)["t:0"]
    assert r.status == "pending" and r.check_before_send and not fake_slack.posts_to("UPM")
    make_due(engine)
    worker.drain()
    r = rows(engine)["t:0"]
    assert r.status == "failed" and r.last_error.startswith(f"gave up after {MAX_ATTEMPTS} tries: HTTP 503")
    assert len(fake_slack.calls_to("conversations.history")) == 1
    assert len([c for c in fake_slack.calls if c.method == "chat.postMessage" and c.status == 503]) == 1
    assert "the note to <@U1>" in fake_slack.posts_to("UPM")[0].args["text"]


def test_one_channel_in_order_others_in_parallel_under_a_per_channel_limit(engine, fake_slack):
    fake_slack.per_channel_interval = 1.0
    queue(engine, 3, prefix="busy", channel=lambda i: "CBUSY")
    queue(engine, 30, prefix="dm")
    worker = DeliveryWorker(engine=engine, client=client(fake_slack), concurrency=4)
    assert worker.drain_all(timeout=20)
    keys = posted_keys(fake_slack)
    assert len(keys) == 33 and set(keys.values()) == {1}
    busy = [m["metadata"]["event_payload"]["key"] for m in fake_slack.messages["CBUSY"]]
    assert busy == ["busy:0", "busy:1", "busy:2"]
    # A 429 holds the rest of that channel back without a call each: about one 429 per message.
    assert worker.stats["ratelimited"] <= 6


def test_two_workers_at_once_on_postgresql_never_send_twice(pg_engine, fake_slack):
    fake_slack.post_response_delay = 0.005
    queue(pg_engine, 200)
    workers = [
        DeliveryWorker(
            engine=pg_engine, client=client(fake_slack), worker_id=f"w{i}", concurrency=4, batch=10
        )
        for i in range(2)
    ]
    threads = [threading.Thread(target=w.drain_all, kwargs={"timeout": 30}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = posted_keys(fake_slack)
    assert len(keys) == 200 and set(keys.values()) == {1}
    assert all(w.stats["sent"] > 0 for w in workers)  # both really worked
    assert sum(w.stats["sent"] for w in workers) == 200
    assert {r.status for r in rows(pg_engine).values()} == {"sent"}


# -- issue 14: two workers interleaved exactly between one's read of due rows and its claim ----------


def test_a_stale_read_cannot_claim_a_row_another_worker_sent_and_released_meanwhile(engine, fake_slack):
    """Worker B reads the due row; before B claims it, A claims it, posts it (Slack stores the message
    and answers 500) and puts it back as 'look first, retry later'. B's late claim must not go through."""
    fake_slack.after_store_rules.append(stored_then_500())
    queue(engine, 1, prefix="thanks")
    a = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="A")
    b = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="B")
    b.after_claim_read = a.deliver_due
    b.deliver_due()
    assert posted_keys(fake_slack) == Counter({"thanks:0": 1})
    r = rows(engine)["thanks:0"]
    assert r.status == "pending" and r.check_before_send and r.next_attempt_at > utcnow()
    # When it falls due, whoever takes it looks first, finds it and does not post again.
    b.after_claim_read = None
    make_due(engine, ago=timedelta(seconds=1))
    b.drain()
    assert posted_keys(fake_slack) == Counter({"thanks:0": 1})
    r = rows(engine)["thanks:0"]
    assert r.status == "sent" and "not posted again" in r.last_error


def test_a_late_claim_of_a_row_due_again_keeps_its_look_first_flag(engine, fake_slack):
    """As above, but the row is due again by the time B's claim lands: B may take it, and must look."""
    fake_slack.after_store_rules.append(stored_then_500())
    queue(engine, 1, prefix="thanks")
    a = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="A")
    b = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="B")

    def a_sends_then_the_retry_falls_due():
        # On PostgreSQL B's read locks the row, so A gets nothing (and re-dating it would wait on B).
        if a.deliver_due():
            make_due(engine, ago=timedelta(seconds=5))

    b.after_claim_read = a_sends_then_the_retry_falls_due
    b.drain()
    assert posted_keys(fake_slack) == Counter({"thanks:0": 1})
    b.after_claim_read = None
    make_due(engine, ago=timedelta(seconds=1))
    b.drain()
    assert posted_keys(fake_slack) == Counter({"thanks:0": 1})
    r = rows(engine)["thanks:0"]
    assert r.status == "sent" and "not posted again" in r.last_error


def test_a_worker_whose_lease_ran_out_can_neither_post_nor_mark_the_row(engine, fake_slack):
    """A claimed a row and stalled; its lease ran out and B took the row over. A must leave it alone."""
    queue(engine, 1, prefix="thanks")
    with session_scope(engine) as s:
        (held_by_a,) = outbox.claim_due(session=s, worker_id="A")
    expire_leases(engine, held_by_a)
    with session_scope(engine) as s:
        (held_by_b,) = outbox.claim_due(session=s, worker_id="B")
    assert held_by_b.claim_token != held_by_a.claim_token
    assert held_by_b.check_before_send  # A may have posted before it stalled: B looks first
    with session_scope(engine) as s:
        late = dict(session=s, row_id=held_by_a.id, token=held_by_a.claim_token)
        assert not outbox.mark_sent(**late, channel="DU0000", ts="1.1")
        assert not outbox.mark_retry(**late, at=utcnow(), error="late", uncertain=False)
        assert not outbox.mark_failed(**late, error="late")
        assert not outbox.confirm_claim(**late, lease=timedelta(minutes=1))
    r = rows(engine)["thanks:0"]
    assert r.status == "sending" and r.claimed_by == "B" and r.claim_token == held_by_b.claim_token
    assert r.check_before_send and r.attempts == 2

    a = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="A")
    a._send_group([held_by_a])  # A wakes up and carries on with what it had claimed
    assert posted_keys(fake_slack) == Counter() and a.stats["claim_lost"] == 1
    b = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="B")
    b._send_group([held_by_b])
    assert posted_keys(fake_slack) == Counter({"thanks:0": 1})
    r = rows(engine)["thanks:0"]
    assert r.status == "sent" and not r.check_before_send and r.claim_token == ""


def test_a_worker_that_stalls_after_posting_is_taken_over_and_the_message_found(engine, fake_slack):
    """A posted, then stalled past its lease before marking the row: B takes over, finds the message."""
    queue(engine, 1, prefix="thanks")
    a = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="A")
    b = DeliveryWorker(engine=engine, client=client(fake_slack), worker_id="B")

    def stall(point):
        if point == "after_post":
            expire_leases(engine)
            assert b.deliver_due() == 1

    a.pause_at = stall
    a.drain()
    assert posted_keys(fake_slack) == Counter({"thanks:0": 1})
    assert a.stats["taken_over_after_post"] == 1 and b.stats["found_already_sent"] == 1
    r = rows(engine)["thanks:0"]
    assert r.status == "sent" and "not posted again" in r.last_error


def test_stored_then_500_waits_until_history_can_show_the_message_before_looking(engine, fake_slack):
    """Slack stores the message, answers 500, and shows it in history only 0.3 s later."""
    fake_slack.history_delay = 0.3
    fake_slack.after_store_rules.append(stored_then_500())
    queue(engine, 1, prefix="thanks")
    worker = DeliveryWorker(engine=engine, client=client(fake_slack), settle=timedelta(seconds=0.6))
    assert worker.drain_all(timeout=20)
    assert posted_keys(fake_slack) == Counter({"thanks:0": 1})
    r = rows(engine)["thanks:0"]
    assert r.status == "sent" and "not posted again" in r.last_error
    assert r.dm_channel == "DU0000"  # kept for later looks, which then need no conversations.open


def test_looking_too_early_would_have_posted_twice(engine, fake_slack):
    """The control for the test above: with no wait, the look misses the message (so that test can fail)."""
    fake_slack.history_delay = 5.0
    fake_slack.after_store_rules.append(stored_then_500())
    queue(engine, 1, prefix="thanks")
    worker = DeliveryWorker(engine=engine, client=client(fake_slack), settle=timedelta(0))
    worker.drain()
    make_due(engine)
    worker.drain()
    assert posted_keys(fake_slack) == Counter({"thanks:0": 2})
