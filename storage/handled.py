"""Claims on Slack payloads (HandledPayload): the first claim of a key acts, every other one is a no-op.

A claim is an insert on a unique key, so two workers or processes handed the same payload at the same
instant collapse to one: on PostgreSQL the second insert waits for the first to commit, then does
nothing; on SQLite writers take turns. A claim is released when its listener failed (the retry may act),
marked done when it succeeded, and one never finished (the process died) may be taken over after
STALE_CLAIM.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from storage.models import HandledPayload, utcnow

# Listeners answer within Slack's 3 seconds (gunicorn kills a worker after 30): a claim this old and not
# done belongs to an attempt that died, and Slack's next retry (1 and 5 minutes later) may act.
STALE_CLAIM = timedelta(seconds=45)
# Slack retries an event for a few minutes; a double submit comes within seconds. A day is plenty.
KEEP_FOR = timedelta(days=1)


def claim_once(
    *,
    session: Session,
    key: str,
    team_id: str = "",
    kind: str = "",
    now: datetime | None = None,
    done: bool = False,
) -> bool:
    """True when this caller won the key and should act; False for a duplicate (already handled, or
    being handled right now). Works inside a longer transaction too: a duplicate leaves it usable.
    `done`: the claim is marked done in the same statement, for a caller whose transaction also stores
    what it acts on, so both commit together (or neither does)."""
    now = now or utcnow()
    done_at = now if done else None
    # One statement, no savepoint: an insert that does nothing when the key exists (SQLite and PostgreSQL
    # both wait for a concurrent insert of the same key to commit, then see it).
    values = {
        "key": key[:255],
        "team_id": team_id[:32],
        "kind": kind[:32],
        "created_at": now,
        "done_at": done_at,
    }
    if session.exec(_CLAIM[session.get_bind().dialect.name], params=values).first() is not None:
        return True
    taken_over = session.exec(
        update(HandledPayload)
        .where(
            HandledPayload.key == key[:255],
            HandledPayload.done_at.is_(None),
            HandledPayload.created_at < now - STALE_CLAIM,
        )
        .values(created_at=now, done_at=done_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    return taken_over == 1


def _claim_statement(insert: Any) -> Any:
    columns = ("key", "team_id", "kind", "created_at", "done_at")
    table = HandledPayload.__table__
    return (
        insert(table)
        .values({name: bindparam(name) for name in columns})
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id)
    )


# Built once (every payload claims): building a statement costs about as much CPU as running it.
_CLAIM = {"sqlite": _claim_statement(sqlite.insert), "postgresql": _claim_statement(postgresql.insert)}


def mark_done(*, session: Session, key: str, now: datetime | None = None) -> None:
    session.exec(
        update(HandledPayload)
        .where(HandledPayload.key == key[:255])
        .values(done_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


def release(*, session: Session, key: str) -> None:
    """Forget the claim: nothing was done, so the same payload may act when it comes again."""
    session.exec(
        delete(HandledPayload)
        .where(HandledPayload.key == key[:255])
        .execution_options(synchronize_session=False)
    )


def prune(*, session: Session, now: datetime | None = None) -> int:
    """Delete claims older than KEEP_FOR; returns how many."""
    before = (now or utcnow()) - KEEP_FOR
    return session.exec(
        delete(HandledPayload)
        .where(HandledPayload.created_at < before)
        .execution_options(synchronize_session=False)
    ).rowcount


RATE_LIMITED = "app_rate_limited"


def note_rate_limited(
    *, session: Session, team_id: str, minute: datetime, now: datetime | None = None
) -> bool:
    """Record Slack's notice that it held back events for `team_id` from `minute` on; a repeat of the same
    notice counts once. True when it was new."""
    key = f"{RATE_LIMITED}:{team_id}:{minute.astimezone(UTC):%Y-%m-%dT%H:%MZ}"
    if not claim_once(session=session, key=key, team_id=team_id, kind=RATE_LIMITED, now=now):
        return False
    mark_done(session=session, key=key, now=now)
    return True


def rate_limited_summary(*, session: Session) -> dict[str, object]:
    """What /healthz says about Slack's rate limiting of our events: notices kept (a day's worth) and the
    minute the latest one covers."""
    rows = session.exec(
        select(HandledPayload.key).where(HandledPayload.kind == RATE_LIMITED).order_by(HandledPayload.key)
    ).all()
    # The minute sits after the team id; keys are "app_rate_limited:<team>:<YYYY-MM-DDTHH:MMZ>".
    minutes = sorted(key.split(":", 2)[2] for key in rows if key.count(":") >= 2)
    return {"count": len(rows), "last_minute": minutes[-1] if minutes else None}
