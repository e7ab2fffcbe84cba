"""What /healthz reports beside the database answering: the outbox's backlog and the clock's heartbeat."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, select

from storage.models import ClockHeartbeat, Outbox, utcnow


def beat(*, session: Session, clock_id: str, now: datetime | None = None) -> None:
    """This clock is alive at `now` (one row per clock process, updated each tick)."""
    now = now or utcnow()
    updated = session.exec(
        update(ClockHeartbeat)
        .where(ClockHeartbeat.clock_id == clock_id[:128])
        .values(beat_at=now)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount == 0:
        session.add(ClockHeartbeat(clock_id=clock_id[:128], beat_at=now, started_at=now))


def last_beat(*, session: Session) -> datetime | None:
    """The latest tick of any clock, or None when no clock ever ran against this database."""
    return session.exec(select(func.max(ClockHeartbeat.beat_at))).one()


def outbox_backlog(*, session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Messages waiting to go out (pending or being sent), how many are parked (uninstalled workspaces),
    and how long the oldest waiting one has been due."""
    now = now or utcnow()
    waiting = (Outbox.status == "pending") | (Outbox.status == "sending")
    count, oldest = session.exec(select(func.count(), func.min(Outbox.next_attempt_at)).where(waiting)).one()
    parked = session.exec(select(func.count()).where(Outbox.status == "parked")).one()
    age = max(0.0, (now - aware(oldest)).total_seconds()) if oldest is not None else 0.0
    return {"backlog": int(count), "oldest_pending_s": round(age), "parked": int(parked)}


def aware(when: datetime) -> datetime:
    # SQLite may give back a naive datetime for what was stored as UTC.
    return when if when.tzinfo else when.replace(tzinfo=UTC)
