"""Requests linked to tracker issues (IssueLink), and the tracker deliveries already acted on
(TrackerDelivery): a delivery id or a body seen before is never acted on again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import FeatureRequest, IssueLink, TrackerDelivery, utcnow

# Deliveries are remembered this long: a tracker's retries and redeliveries come within hours or days.
KEEP_DELIVERIES = timedelta(days=90)


def link_issue(
    session: Session,
    *,
    request: FeatureRequest,
    kind: str,
    key: str,
    url: str,
    title: str = "",
    by_id: int | None = None,
    now: datetime | None = None,
) -> tuple[IssueLink, bool]:
    """(the link, True when it is new). Linking the same issue twice keeps the first link."""
    existing = session.exec(
        select(IssueLink).where(
            IssueLink.request_id == request.id, IssueLink.kind == kind, IssueLink.issue_key == key
        )
    ).first()
    if existing is not None:
        return existing, False
    row = IssueLink(
        workspace_id=request.workspace_id,
        request_id=request.id,
        kind=kind,
        issue_key=key[:255],
        url=url,
        title=title,
        linked_by_id=by_id,
        created_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same link made a moment ago by another submit
        again = session.exec(
            select(IssueLink).where(
                IssueLink.request_id == request.id, IssueLink.kind == kind, IssueLink.issue_key == key
            )
        ).one()
        return again, False
    return row, True


def links_of_request(session: Session, *, request_id: int) -> list[IssueLink]:
    return list(
        session.exec(select(IssueLink).where(IssueLink.request_id == request_id).order_by(IssueLink.id)).all()
    )


def links_of_requests(session: Session, *, request_ids: list[int]) -> dict[int, list[IssueLink]]:
    out: dict[int, list[IssueLink]] = {}
    if not request_ids:
        return out
    for link in session.exec(
        select(IssueLink).where(IssueLink.request_id.in_(request_ids)).order_by(IssueLink.id)
    ).all():
        out.setdefault(link.request_id, []).append(link)
    return out


def links_of_issue(session: Session, *, workspace_id: int, kind: str, key: str) -> list[IssueLink]:
    return list(
        session.exec(
            select(IssueLink)
            .where(IssueLink.workspace_id == workspace_id, IssueLink.kind == kind, IssueLink.issue_key == key)
            .order_by(IssueLink.id)
        ).all()
    )


@dataclass(frozen=True)
class Watched:
    kind: str
    key: str
    url: str


def watched_issues(session: Session, *, workspace_id: int, kind: str, limit: int = 100) -> list[Watched]:
    """Distinct issues linked to requests still in play (not shipped or merged), least recently checked
    first, for polling."""
    rows = session.exec(
        select(IssueLink.issue_key, IssueLink.url, IssueLink.checked_at)
        .join(FeatureRequest, FeatureRequest.id == IssueLink.request_id)
        .where(
            IssueLink.workspace_id == workspace_id,
            IssueLink.kind == kind,
            FeatureRequest.status.not_in(("shipped", "merged")),
        )
        .order_by(IssueLink.checked_at.is_not(None), IssueLink.checked_at, IssueLink.id)
    ).all()
    seen: dict[str, Watched] = {}
    for key, url, _ in rows:
        if key not in seen:
            seen[key] = Watched(kind, key, url)
        if len(seen) >= limit:
            break
    return list(seen.values())


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def claim_delivery(
    session: Session,
    *,
    kind: str,
    delivery_id: str,
    body_sha: str,
    workspace_id: int | None,
    now: datetime | None = None,
) -> str:
    """ "new" when this delivery is first seen (act on it), "duplicate" when its id was seen before (the
    tracker's own retry), "replay" when its body was seen under another id."""
    row = TrackerDelivery(
        kind=kind,
        delivery_id=delivery_id[:255],
        body_sha=body_sha,
        workspace_id=workspace_id,
        received_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return "new"
    except IntegrityError:
        pass
    same_id = session.exec(
        select(TrackerDelivery.id).where(
            TrackerDelivery.kind == kind, TrackerDelivery.delivery_id == delivery_id[:255]
        )
    ).first()
    return "duplicate" if same_id is not None else "replay"


def prune_deliveries(session: Session, *, now: datetime | None = None) -> int:
    before = (now or utcnow()) - KEEP_DELIVERIES
    return session.exec(
        delete(TrackerDelivery)
        .where(TrackerDelivery.received_at < before)
        .execution_options(synchronize_session=False)
    ).rowcount
