"""The outbox: every message the bot sends later goes here first, keyed so it is sent once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import Outbox, utcnow

# A claim older than this is taken to belong to a worker that died mid-send.
STALE_CLAIM = timedelta(minutes=2)


def enqueue(
    *,
    session: Session,
    key: str,
    payload: dict[str, Any],
    method: str = "chat.postMessage",
    workspace_id: int | None = None,
    kind: str = "",
    fallback_user_id: str = "",
    not_before: datetime | None = None,
) -> Outbox | None:
    """Queue one API call. Returns None when a message with this key was queued before."""
    existing = session.exec(select(Outbox).where(Outbox.key == key)).first()
    if existing is not None:
        return None
    row = Outbox(
        key=key[:255],
        payload=json.dumps(payload, ensure_ascii=False),
        method=method,
        workspace_id=workspace_id,
        kind=kind,
        fallback_user_id=fallback_user_id,
        next_attempt_at=not_before or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def claim_due(
    *, session: Session, worker_id: str, limit: int = 20, now: datetime | None = None
) -> list[Outbox]:
    """Take due messages for this worker. On PostgreSQL rows another worker holds are skipped."""
    now = now or utcnow()
    stmt = (
        select(Outbox)
        .where(
            or_(
                (Outbox.status == "pending") & (Outbox.next_attempt_at <= now),
                (Outbox.status == "sending") & (Outbox.claimed_at < now - STALE_CLAIM),
            )
        )
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.exec(stmt))
    claimed = []
    for row in rows:
        # Compare-and-set so that on SQLite two workers cannot both take the same row.
        result = session.exec(
            update(Outbox)
            .where(Outbox.id == row.id, Outbox.status == row.status, Outbox.claimed_by == row.claimed_by)
            .values(status="sending", claimed_by=worker_id, claimed_at=now, attempts=Outbox.attempts + 1)
        )
        if result.rowcount == 1:
            session.refresh(row)
            claimed.append(row)
    return claimed


def mark_sent(*, session: Session, row_id: int, channel: str = "", ts: str = "") -> None:
    session.exec(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(status="sent", sent_at=utcnow(), result_channel=channel, result_ts=ts, last_error="")
    )


def mark_retry(*, session: Session, row_id: int, at: datetime, error: str) -> None:
    session.exec(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(status="pending", next_attempt_at=at, claimed_by="", last_error=error[:2000])
    )


def mark_failed(*, session: Session, row_id: int, error: str) -> None:
    session.exec(update(Outbox).where(Outbox.id == row_id).values(status="failed", last_error=error[:2000]))


def get_by_key(*, session: Session, key: str) -> Outbox | None:
    return session.exec(select(Outbox).where(Outbox.key == key)).first()
