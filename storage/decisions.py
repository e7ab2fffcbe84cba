"""PM decisions on requests (planned, not yet, shipped, reopened, merged), kept as history, and the
queries behind `/requests`. Merging moves occurrences and threshold crossings; nothing is deleted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from storage.models import (
    FeatureRequest,
    Occurrence,
    Person,
    ProductArea,
    RequestDecision,
    ThresholdCrossing,
    utcnow,
)
from storage.requests import RequestStats, create_request, customer_key, stats_from_occurrences

STATUSES = ("open", "planned", "not_yet", "shipped", "merged")
STATUS_LABELS = {
    "open": "open",
    "planned": "planned",
    "not_yet": "not yet",
    "shipped": "shipped",
    "merged": "merged",
}
# Open work first, then what is decided, then what is done.
STATUS_ORDER = {"open": 0, "not_yet": 1, "planned": 2, "shipped": 3, "merged": 4}


class DecisionError(ValueError):
    """A decision that cannot be made as asked; the message says why, for the PM."""


class AlreadyDecided(DecisionError):
    """The request already stands where the decision would put it: a second click, a second form, or
    another PM a moment earlier. Nothing was recorded and nobody is told twice."""


def set_status(
    *,
    session: Session,
    request: FeatureRequest,
    status: str,
    by: Person,
    reason: str = "",
    note: str = "",
    link: str = "",
    customer_note: str = "",
    now: datetime | None = None,
) -> RequestDecision:
    """Record a PM's decision on the request and keep it in the history. `open` reopens."""
    if status not in STATUSES or status == "merged":
        raise DecisionError(f"Unknown status {status!r}.")
    if request.status == "merged":
        raise DecisionError(
            f"#{request.id} was merged into #{request.merged_into_id}; act on that request instead."
        )
    if request.status == status and (status != "not_yet" or request.status_reason == reason):
        raise AlreadyDecided(f"#{request.id} is already {STATUS_LABELS[status]}.")
    now = now or utcnow()
    from_status, from_reason = request.status, request.status_reason
    values = dict(
        status=status,
        status_reason=reason if status == "not_yet" else "",
        status_changed_at=now,
        status_by_id=by.id,
        updated_at=now,
    )
    if status == "shipped":
        values.update(shipped_note=note, shipped_link=link)
    if request.embedding:  # every process re-indexes it (its status is part of its ranking)
        values["embedding_at"] = utcnow()
    # Compare-and-set: of two clicks (or two PMs) deciding at once, only the first finds the status (and
    # reason) it read; on PostgreSQL the second waits for the first's row lock, on SQLite for the write lock.
    changed = session.exec(
        update(FeatureRequest)
        .where(
            FeatureRequest.id == request.id,
            FeatureRequest.status == from_status,
            FeatureRequest.status_reason == from_reason,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(request)
    if changed != 1:
        raise AlreadyDecided(
            f"#{request.id} was just marked {STATUS_LABELS.get(request.status, request.status)}, "
            "so I changed nothing."
        )
    decision = RequestDecision(
        workspace_id=request.workspace_id,
        request_id=request.id,
        status=status,
        from_status=from_status,
        reason=reason,
        note=note,
        link=link,
        customer_note=customer_note,
        by_id=by.id,
        created_at=now,
    )
    session.add(decision)
    session.flush()
    return decision


def final_target(*, session: Session, request: FeatureRequest) -> FeatureRequest:
    """Follow merged_into links to the request that holds the occurrences now."""
    seen = {request.id}
    while request.status == "merged" and request.merged_into_id and request.merged_into_id not in seen:
        nxt = session.get(FeatureRequest, request.merged_into_id)
        if nxt is None:
            break
        seen.add(nxt.id)
        request = nxt
    return request


@dataclass
class Merge:
    source: FeatureRequest
    target: FeatureRequest
    decision: RequestDecision
    moved_occurrences: int
    moved_crossings: int


def merge_requests(
    *,
    session: Session,
    source: FeatureRequest,
    target: FeatureRequest,
    by: Person,
    now: datetime | None = None,
) -> Merge:
    """Merge `source` into `target`: its occurrences and threshold crossings move to the target, the
    source is kept, marked merged with merged_into_id, and earlier merges into it now point at the target."""
    now = now or utcnow()
    target = final_target(session=session, request=target)
    if source.workspace_id != target.workspace_id:
        raise DecisionError("Those requests are in different workspaces.")
    if source.id == target.id:
        raise DecisionError(f"#{source.id} can't be merged into itself.")
    if source.status == "merged":
        raise DecisionError(f"#{source.id} was already merged into #{source.merged_into_id}.")
    # Compare-and-set first, as in set_status: of two merges at once, the second moves nothing.
    if (
        session.exec(
            update(FeatureRequest)
            .where(FeatureRequest.id == source.id, FeatureRequest.status == source.status)
            .values(status="merged", merged_into_id=target.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        != 1
    ):
        raise AlreadyDecided(f"#{source.id} was just merged or decided on, so I moved nothing.")
    moved = session.exec(
        update(Occurrence)
        .where(Occurrence.request_id == source.id)
        .values(request_id=target.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    # Crossings keep their history; a window key both requests used gets the source's id appended
    # so the unique (request, rule, window) constraint holds.
    taken = {
        (c.rule, c.window_key)
        for c in session.exec(select(ThresholdCrossing).where(ThresholdCrossing.request_id == target.id))
    }
    crossings = list(session.exec(select(ThresholdCrossing).where(ThresholdCrossing.request_id == source.id)))
    for crossing in crossings:
        if (crossing.rule, crossing.window_key) in taken:
            crossing.window_key = f"{crossing.window_key}:m{source.id}"[-64:]
        crossing.request_id = target.id
        session.add(crossing)
    session.exec(
        update(FeatureRequest)
        .where(FeatureRequest.merged_into_id == source.id)
        .values(merged_into_id=target.id)
        .execution_options(synchronize_session=False)
    )
    decision = RequestDecision(
        workspace_id=source.workspace_id,
        request_id=source.id,
        status="merged",
        from_status=source.status,
        merged_into_id=target.id,
        moved_occurrences=moved,
        by_id=by.id,
        created_at=now,
    )
    source.status = "merged"
    source.merged_into_id = target.id
    source.status_reason = f"merged into #{target.id}"
    source.status_changed_at = now
    source.status_by_id = by.id
    source.updated_at = now
    target.updated_at = now
    session.add_all([source, target, decision])
    session.flush()
    session.expire_all()
    return Merge(
        source=session.get(FeatureRequest, source.id),
        target=session.get(FeatureRequest, target.id),
        decision=decision,
        moved_occurrences=moved,
        moved_crossings=len(crossings),
    )


def split_occurrence(
    *, session: Session, request: FeatureRequest, occurrence_id: int, now: datetime | None = None
) -> FeatureRequest:
    """Move one occurrence off ``request`` into a new request of its own (same workspace and area),
    titled from what its requester typed: for a repeat that was confirmed "Same as" but isn't.
    The request keeps its other occurrences, status and crossings; the new one starts open."""
    now = now or utcnow()
    if request.status == "merged":
        raise DecisionError(f"#{request.id} was merged into #{request.merged_into_id}; split from that one.")
    occurrence = session.get(Occurrence, occurrence_id)
    if occurrence is None or occurrence.request_id != request.id:
        raise DecisionError(f"That occurrence isn't part of #{request.id} any more.")
    others = session.exec(
        select(Occurrence.id)
        .where(Occurrence.request_id == request.id, Occurrence.id != occurrence.id)
        .limit(1)
    ).first()
    if others is None:
        raise DecisionError(
            f"It's the only occurrence of #{request.id}, so there is nothing to split it from."
        )
    new = create_request(
        session=session, workspace_id=request.workspace_id, area_id=request.area_id, title=occurrence.text
    )
    occurrence.request_id = new.id
    request.updated_at = now
    session.add_all([occurrence, request])
    session.flush()
    return new


def history(*, session: Session, request_id: int) -> list[RequestDecision]:
    return list(
        session.exec(
            select(RequestDecision)
            .where(RequestDecision.request_id == request_id)
            .order_by(RequestDecision.created_at, RequestDecision.id)
        )
    )


def requesters(*, session: Session, request_id: int) -> dict[int, list[Occurrence]]:
    """Each person who logged the request, with their occurrences (oldest first), in the order they
    first asked."""
    grouped: dict[int, list[Occurrence]] = {}
    for occ in session.exec(
        select(Occurrence)
        .where(Occurrence.request_id == request_id)
        .order_by(Occurrence.created_at, Occurrence.id)
    ):
        grouped.setdefault(occ.logged_by_id, []).append(occ)
    return grouped


@dataclass
class Listed:
    request: FeatureRequest
    stats: RequestStats
    area: ProductArea | None = None
    customers: list[str] = field(default_factory=list)  # as first typed, in the order raised


def _with_stats(
    session: Session, requests: list[FeatureRequest]
) -> dict[int, tuple[RequestStats, list[str]]]:
    by_request: dict[int, list[Occurrence]] = defaultdict(list)
    ids = [r.id for r in requests]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for occ in session.exec(
            select(Occurrence)
            .where(Occurrence.request_id.in_(chunk))
            .order_by(Occurrence.created_at, Occurrence.id)
        ):
            by_request[occ.request_id].append(occ)
    result = {}
    for rid in ids:
        occs = by_request.get(rid, [])
        names: dict[str, str] = {}
        for occ in occs:
            if occ.customer:
                names.setdefault(customer_key(occ.customer), occ.customer)
        result[rid] = (stats_from_occurrences(occs), list(names.values()))
    return result


def area_requests(*, session: Session, area: ProductArea) -> tuple[list[Listed], int]:
    """An area's requests with their counts, open ones first and most heard first; and how many were
    merged into others (not listed: their occurrences are counted where they went)."""
    requests = list(session.exec(select(FeatureRequest).where(FeatureRequest.area_id == area.id)))
    merged = sum(1 for r in requests if r.status == "merged")
    requests = [r for r in requests if r.status != "merged"]
    stats = _with_stats(session, requests)
    listed = [Listed(request=r, stats=stats[r.id][0], area=area, customers=stats[r.id][1]) for r in requests]
    listed.sort(key=lambda x: (STATUS_ORDER.get(x.request.status, 9), -x.stats.count, -(x.request.id or 0)))
    return listed, merged


def person_requests(
    *, session: Session, workspace_id: int, person_id: int
) -> list[tuple[Listed, list[Occurrence]]]:
    """The requests a person logged (or whose message was logged), each with their own occurrences;
    most recently raised first."""
    mine = list(
        session.exec(
            select(Occurrence)
            .where(
                Occurrence.workspace_id == workspace_id,
                (Occurrence.logged_by_id == person_id) | (Occurrence.raised_by_id == person_id),
            )
            .order_by(Occurrence.created_at, Occurrence.id)
        )
    )
    by_request: dict[int, list[Occurrence]] = {}
    for occ in mine:
        by_request.setdefault(occ.request_id, []).append(occ)
    requests = {
        r.id: r
        for r in session.exec(select(FeatureRequest).where(FeatureRequest.id.in_(list(by_request) or [-1])))
    }
    stats = _with_stats(session, list(requests.values()))
    areas = {
        a.id: a
        for a in session.exec(
            select(ProductArea).where(ProductArea.id.in_({r.area_id for r in requests.values()} or {-1}))
        )
    }
    result = [
        (
            Listed(
                request=requests[rid],
                stats=stats[rid][0],
                area=areas.get(requests[rid].area_id),
                customers=stats[rid][1],
            ),
            occs,
        )
        for rid, occs in by_request.items()
        if rid in requests
    ]
    result.sort(key=lambda x: x[1][-1].created_at, reverse=True)
    return result


def merge_candidates(*, session: Session, request: FeatureRequest, limit: int = 100) -> list[Listed]:
    """Requests `request` could be merged into: the same area's, not merged, most heard first."""
    area = session.get(ProductArea, request.area_id)
    listed, _ = area_requests(session=session, area=area)
    candidates = [x for x in listed if x.request.id != request.id]
    candidates.sort(key=lambda x: (x.request.status == "shipped", -x.stats.count, -(x.request.id or 0)))
    return candidates[:limit]


def last_decision(*, session: Session, request_id: int, status: str) -> RequestDecision | None:
    """The latest decision that set this status (the reason or ship note people were told)."""
    return session.exec(
        select(RequestDecision)
        .where(RequestDecision.request_id == request_id, RequestDecision.status == status)
        .order_by(RequestDecision.id.desc())
        .limit(1)
    ).first()
