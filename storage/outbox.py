"""The outbox: every message the bot sends later goes here first, keyed so it is sent once.

Claims are compare-and-set updates (and `FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never
hold the same row. A claim older than the stale limit belongs to a worker that died mid-send; whoever
takes it over is told to look in Slack for the message first (`check_before_send`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import Outbox, utcnow

# A claim older than this is taken to belong to a worker that died mid-send. It must stay well above
# the longest single API call (the Slack client times out after 30 s).
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
    report_to: str = "",
    report_label: str = "",
) -> Outbox | None:
    """Queue one API call. Returns None when a message with this key was queued before.

    `report_to` (a Slack user id) hears about it if the message cannot be delivered, named by
    `report_label` ("the thank-you for “CSV export” to <@U1>")."""
    key = key[:255]
    existing = session.exec(select(Outbox).where(Outbox.key == key)).first()
    if existing is not None:
        return None
    row = Outbox(
        key=key,
        payload=json.dumps(payload, ensure_ascii=False),
        method=method,
        workspace_id=workspace_id,
        kind=kind[:32],
        fallback_user_id=fallback_user_id,
        next_attempt_at=not_before or utcnow(),
        report_to=report_to,
        report_label=report_label,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def claim_due(
    *,
    session: Session,
    worker_id: str,
    limit: int = 20,
    now: datetime | None = None,
    stale_after: timedelta = STALE_CLAIM,
    after_read: Callable[[], None] | None = None,
) -> list[Outbox]:
    """Take due messages for this worker. On PostgreSQL rows another worker holds are skipped.

    The claims are committed when the caller's session commits; send only after that."""
    now = now or utcnow()
    stmt = (
        select(Outbox)
        .where(
            or_(
                (Outbox.status == "pending") & (Outbox.next_attempt_at <= now),
                (Outbox.status == "sending") & (Outbox.claimed_at < now - stale_after),
            )
        )
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.exec(stmt))
    if after_read is not None:  # tests interleave another worker here
        after_read()
    claimed = []
    for row in rows:
        # A stale 'sending' row may already be in Slack: the new owner looks before posting again.
        check = row.check_before_send or row.status == "sending"
        # Compare-and-set so that on SQLite two workers cannot both take the same row.
        condition = [Outbox.id == row.id, Outbox.status == row.status, Outbox.claimed_by == row.claimed_by]
        result = session.exec(
            update(Outbox)
            .where(*condition)
            .values(
                status="sending",
                claimed_by=worker_id,
                claimed_at=now,
                attempts=Outbox.attempts + 1,
                check_before_send=check,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            session.refresh(row)
            claimed.append(row)
    return claimed


def mark_sent(*, session: Session, row_id: int, channel: str = "", ts: str = "", note: str = "") -> None:
    session.exec(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(
            status="sent",
            sent_at=utcnow(),
            result_channel=channel[:32],
            result_ts=ts[:32],
            last_error=note[:2000],
            check_before_send=False,
        )
    )


def mark_retry(
    *,
    session: Session,
    row_id: int,
    at: datetime,
    error: str,
    uncertain: bool = False,
    refund_attempt: bool = False,
) -> None:
    """Back to pending until `at`. `uncertain`: the call may have reached Slack (5xx, timeout), so the
    next attempt looks for the message first. `refund_attempt`: Slack refused without trying (429)."""
    values: dict[str, Any] = dict(
        status="pending", next_attempt_at=at, claimed_by="", last_error=error[:2000]
    )
    if uncertain:
        values["check_before_send"] = True
    if refund_attempt:
        values["attempts"] = Outbox.attempts - 1  # claiming added one, so this stays >= 0
    session.exec(update(Outbox).where(Outbox.id == row_id).values(**values))


def mark_failed(*, session: Session, row_id: int, error: str) -> None:
    session.exec(update(Outbox).where(Outbox.id == row_id).values(status="failed", last_error=error[:2000]))


def get_by_key(*, session: Session, key: str) -> Outbox | None:
    return session.exec(select(Outbox).where(Outbox.key == key)).first()


def next_due_at(*, session: Session) -> datetime | None:
    """When the earliest pending message falls due (the worker sleeps until then)."""
    return session.exec(select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")).one()


def counts(*, session: Session, key_prefix: str = "") -> dict[str, int]:
    """How many messages are in each status (optionally only keys starting with a prefix)."""
    stmt = select(Outbox.status, func.count()).group_by(Outbox.status)
    if key_prefix:
        stmt = stmt.where(Outbox.key.startswith(key_prefix))
    return {status: n for status, n in session.exec(stmt)}
