"""The outbox: every message the bot sends later goes here first, keyed so it is sent once.

A claim is one UPDATE that carries the whole "due and nobody holds it" condition, so a worker that read
the row earlier cannot take it after another worker claimed, sent and released it meanwhile (on
PostgreSQL the read also locks the rows: `FOR UPDATE SKIP LOCKED`). Each claim gets a token that every
later update of the row must match, and a lease that the holder confirms and extends before each Slack
call. A row whose lease ran out is taken over, and its new holder looks in Slack for it first
(`check_before_send`); that flag is computed in the claim itself and cleared only when the row is sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from storage.models import Outbox, Workspace, utcnow

# How long a fresh claim holds a batch's rows until each is confirmed with a lease of its own when its
# turn comes (the worker renews per row, sized to that row's Slack calls).
CLAIM_LEASE = timedelta(minutes=2)


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
    # A workspace the app was uninstalled from gets nothing until it is back (storage/lifecycle.py).
    workspace = session.get(Workspace, workspace_id) if workspace_id is not None else None
    row = Outbox(
        key=key,
        status="parked" if workspace is not None and workspace.parked_at is not None else "pending",
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


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        (Outbox.status == "pending") & (Outbox.next_attempt_at <= now),
        (Outbox.status == "sending") & or_(Outbox.lease_until.is_(None), Outbox.lease_until < now),
    )


def _held(row_id: int, token: str) -> ColumnElement[bool]:
    return (Outbox.id == row_id) & (Outbox.status == "sending") & (Outbox.claim_token == token)


def claim_due(
    *,
    session: Session,
    worker_id: str,
    limit: int = 20,
    now: datetime | None = None,
    lease: timedelta = CLAIM_LEASE,
    after_read: Callable[[], None] | None = None,
) -> list[Outbox]:
    """Take due messages for this worker; each comes back with its `claim_token`.

    The claims are committed when the caller's session commits; send only after that."""
    now = now or utcnow()
    candidates = select(Outbox.id).where(_due(now)).order_by(Outbox.next_attempt_at, Outbox.id).limit(limit)
    if session.bind.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(session.exec(candidates))
    if not ids:
        return []
    if after_read is not None:  # tests interleave another worker here
        after_read()
    token = f"{worker_id[:40]}:{uuid.uuid4().hex[:16]}"
    # The read above may be stale on SQLite (it took no lock): the UPDATE checks again, against the row
    # as it is now, and computes the look-first flag from that row too, never from the read.
    session.exec(
        update(Outbox)
        .where(Outbox.id.in_(ids), _due(now))
        .values(
            status="sending",
            claimed_by=worker_id[:64],
            claim_token=token,
            claimed_at=now,
            lease_until=now + lease,
            attempts=Outbox.attempts + 1,
            # A row taken over from a holder whose lease ran out may already be in Slack.
            check_before_send=or_(Outbox.check_before_send, Outbox.status == "sending"),
        )
        .execution_options(synchronize_session=False)
    )
    stmt = (
        select(Outbox)
        .where(Outbox.claim_token == token)
        .order_by(Outbox.next_attempt_at, Outbox.id)
        # The session may hold these rows as they were before the claim; the caller needs them as claimed.
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt))


def confirm_claim(
    *, session: Session, row_id: int, token: str, lease: timedelta, now: datetime | None = None
) -> bool:
    """Still this claim's? If so its lease now runs `lease` from now; False: another worker took it over."""
    now = now or utcnow()
    result = session.exec(
        update(Outbox)
        .where(_held(row_id, token))
        .values(lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def remember_dm_channel(*, session: Session, row_id: int, token: str, channel: str) -> None:
    session.exec(
        update(Outbox)
        .where(_held(row_id, token))
        .values(dm_channel=channel[:32])
        .execution_options(synchronize_session=False)
    )


def mark_sent(
    *, session: Session, row_id: int, token: str, channel: str = "", ts: str = "", note: str = ""
) -> bool:
    """Sent, if this claim still holds the row (False: it was taken over, and its new holder looks first)."""
    result = session.exec(
        update(Outbox)
        .where(_held(row_id, token))
        .values(
            status="sent",
            sent_at=utcnow(),
            result_channel=channel[:32],
            result_ts=ts[:32],
            last_error=note[:2000],
            check_before_send=False,
            claim_token="",
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_retry(
    *,
    session: Session,
    row_id: int,
    token: str,
    at: datetime,
    error: str,
    uncertain: bool = False,
    refund_attempt: bool = False,
) -> bool:
    """Back to pending until `at`. `uncertain`: the call may have reached Slack (5xx, timeout), so the
    next attempt looks for the message first. `refund_attempt`: Slack refused without trying (429).
    The look-first flag is never cleared here: an earlier attempt may be the one that arrived."""
    values: dict[str, Any] = dict(
        status="pending",
        next_attempt_at=at,
        claimed_by="",
        claim_token="",
        lease_until=None,
        last_error=error[:2000],
    )
    if uncertain:
        values["check_before_send"] = True
    if refund_attempt:
        values["attempts"] = Outbox.attempts - 1  # claiming added one, so this stays >= 0
    result = session.exec(
        update(Outbox)
        .where(_held(row_id, token))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_failed(*, session: Session, row_id: int, token: str, error: str) -> bool:
    result = session.exec(
        update(Outbox)
        .where(_held(row_id, token))
        .values(status="failed", last_error=error[:2000], claim_token="", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def get_by_key(*, session: Session, key: str) -> Outbox | None:
    return session.exec(select(Outbox).where(Outbox.key == key)).first()


def next_due_at(*, session: Session) -> datetime | None:
    """When the earliest pending message falls due, or a lease runs out (the worker sleeps until then)."""
    pending = session.exec(select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")).one()
    leased = session.exec(select(func.min(Outbox.lease_until)).where(Outbox.status == "sending")).one()
    return min((t for t in (pending, leased) if t is not None), default=None)


def counts(*, session: Session, key_prefix: str = "") -> dict[str, int]:
    """How many messages are in each status (optionally only keys starting with a prefix)."""
    stmt = select(Outbox.status, func.count()).group_by(Outbox.status)
    if key_prefix:
        stmt = stmt.where(Outbox.key.startswith(key_prefix))
    return {status: n for status, n in session.exec(stmt)}
