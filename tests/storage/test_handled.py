"""Claims on Slack payloads: one winner per key, also from many threads at once; released, done, taken
over when stale, pruned after a day (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from storage import handled
from storage.db import session_scope
from storage.models import HandledPayload

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def claim(engine, key: str, now: datetime = T0) -> bool:
    with session_scope(engine) as s:
        return handled.claim_once(session=s, key=key, team_id="T1", kind="event", now=now)


def test_a_key_is_claimed_once_and_again_only_after_release(engine):
    assert claim(engine, "event:T1:Ev1") is True
    assert claim(engine, "event:T1:Ev1") is False
    assert claim(engine, "event:T2:Ev1") is True  # another workspace's key
    with session_scope(engine) as s:
        handled.release(session=s, key="event:T1:Ev1")
    assert claim(engine, "event:T1:Ev1") is True


def test_an_unfinished_claim_is_taken_over_when_stale_a_finished_one_never(engine):
    assert claim(engine, "event:T1:died") and claim(engine, "event:T1:finished")
    with session_scope(engine) as s:
        handled.mark_done(session=s, key="event:T1:finished", now=T0 + timedelta(seconds=1))
    soon = T0 + handled.STALE_CLAIM - timedelta(seconds=1)
    assert claim(engine, "event:T1:died", soon) is False
    later = T0 + handled.STALE_CLAIM + timedelta(seconds=1)
    assert claim(engine, "event:T1:died", later) is True
    assert claim(engine, "event:T1:died", later) is False  # the taker-over holds it now
    assert claim(engine, "event:T1:finished", T0 + timedelta(hours=2)) is False


def test_many_threads_claiming_one_key_at_once_have_one_winner(engine):
    barrier = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        won = claim(engine, "view_submission:T1:V1:h1")
        with lock:
            results.append(won)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False] * 7 + [True]


def test_claims_older_than_a_day_are_pruned(engine):
    claim(engine, "command:T1:old", T0 - timedelta(days=1, minutes=1))
    claim(engine, "command:T1:recent", T0 - timedelta(hours=23))
    with session_scope(engine) as s:
        assert handled.prune(session=s, now=T0) == 1
    with session_scope(engine) as s:
        assert s.exec(select(HandledPayload.key)).all() == ["command:T1:recent"]
