"""Claims on Slack payloads (HandledPayload): the first claim of a key acts, every other one is a no-op.

A claim is an insert on a unique key, so two workers or processes handed the same payload at the same
instant collapse to one: on PostgreSQL the second insert waits for the first to commit, then fails; on
SQLite writers take turns. A claim is released when its listener failed (the retry may act), marked done
when it succeeded, and one never finished (the process died) may be taken over after STALE_CLAIM.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import HandledPayload, utcnow

# Listeners answer within Slack's 3 seconds (gunicorn kills a worker after 30): a claim this old and not
# done belongs to an attempt that died, and Slack's next retry (1 and 5 minutes later) may act.
STALE_CLAIM = timedelta(seconds=45)
# Slack retries an event for a few minutes; a double submit comes within seconds. A day is plenty.
KEEP_FOR = timedelta(days=1)


def claim_once(
    *, session: Session, key: str, team_id: str = "", kind: str = "", now: datetime | None = None
) -> bool:
    """True when this caller won the key and should act; False for a duplicate (already handled, or
    being handled right now). Works inside a longer transaction too (a savepoint)."""
    now = now or utcnow()
    row = HandledPayload(key=key[:255], team_id=team_id[:32], kind=kind[:32], created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return True
    except IntegrityError:
        pass
    taken_over = session.exec(
        update(HandledPayload)
        .where(
            HandledPayload.key == key[:255],
            HandledPayload.done_at.is_(None),
            HandledPayload.created_at < now - STALE_CLAIM,
        )
        .values(created_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return taken_over == 1


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
