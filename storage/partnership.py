"""Partnership figures between a PM and each stakeholder: what they logged, how many follow-up questions
they answered, how many of their requests reached the rule or shipped, how soon the PM decided once a
request crossed, and when they last met. Read in a fixed number of queries for all of a PM's stakeholders."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from sqlmodel import Session, select

from storage.models import (
    FeatureRequest,
    Occurrence,
    OneOnOne,
    Person,
    ProductArea,
    RequestDecision,
    ThresholdCrossing,
)
from storage.requests import FOLLOWUP_FIELDS, missing_answers

# A PM's answer to a request that crossed its rule (a reopen or a merge is not an answer).
DECISIONS = ("planned", "not_yet", "shipped")
# Activity this much higher (or lower) than the period before suggests meeting more (or less) often.
RISE, FALL = 2.0, 0.5
RISE_AT_LEAST = 4  # occurrences in the latest period before a rise means anything


@dataclass
class Partnership:
    stakeholder: Person
    logged: int = 0  # occurrences they logged in the PM's areas
    requests: set[int] = field(default_factory=set)
    asked: int = 0  # follow-up questions on their occurrences
    answered: int = 0
    reached: set[int] = field(default_factory=set)  # their requests that crossed a rule
    shipped: set[int] = field(default_factory=set)  # their requests shipped: loops closed
    decision_waits: list[timedelta] = field(default_factory=list)  # crossing -> the PM's decision
    last_oneonone: date | None = None
    oneonone: OneOnOne | None = None

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.asked if self.asked else None

    @property
    def median_decision(self) -> timedelta | None:
        return median(self.decision_waits) if self.decision_waits else None


def _occurrences(session: Session, area_ids: list[int], since: datetime | None, until: datetime | None):
    stmt = (
        select(Occurrence, FeatureRequest.status)
        .join(FeatureRequest, FeatureRequest.id == Occurrence.request_id)
        .where(FeatureRequest.area_id.in_(area_ids))
    )
    if since is not None:
        stmt = stmt.where(Occurrence.created_at >= since)
    if until is not None:
        stmt = stmt.where(Occurrence.created_at <= until)
    return session.exec(stmt).all()


def figures(
    *,
    session: Session,
    pm: Person,
    since: datetime | None = None,
    until: datetime | None = None,
    only: int | None = None,
) -> list[Partnership]:
    """Each of the PM's stakeholders (whoever logged a request in the PM's areas, or meets the PM in a
    1:1), with their figures; `since`/`until` limit them to occurrences logged in that time. `only`
    (a person id) computes one stakeholder's. Most active first."""
    areas = [a.id for a in session.exec(select(ProductArea).where(ProductArea.pm_id == pm.id)).all()]
    by_person: dict[int, Partnership] = {}
    meetings = list(
        session.exec(
            select(OneOnOne).where(OneOnOne.pm_id == pm.id, OneOnOne.active == True)  # noqa: E712
        ).all()
    )
    rows = _occurrences(session, areas, since, until) if areas else []
    wanted = {o.logged_by_id for o, _ in rows if o.logged_by_id != pm.id} | {
        m.stakeholder_id for m in meetings
    }
    if only is not None:
        wanted &= {only}
    people = {p.id: p for p in session.exec(select(Person).where(Person.id.in_(wanted or {-1}))).all()}
    for pid, person in people.items():
        by_person[pid] = Partnership(stakeholder=person)
    for meeting in meetings:
        if meeting.stakeholder_id in by_person:
            by_person[meeting.stakeholder_id].oneonone = meeting
            by_person[meeting.stakeholder_id].last_oneonone = meeting.last_meeting
    request_ids: set[int] = set()
    for occ, status in rows:
        p = by_person.get(occ.logged_by_id)
        if p is None:
            continue
        p.logged += 1
        p.requests.add(occ.request_id)
        p.asked += len(FOLLOWUP_FIELDS)
        p.answered += len(FOLLOWUP_FIELDS) - len(missing_answers(occ))
        if status == "shipped":
            p.shipped.add(occ.request_id)
        request_ids.add(occ.request_id)
    if not request_ids:
        return _ordered(by_person)
    ids = list(request_ids)
    first_crossing: dict[int, datetime] = {}
    decided: dict[int, list[datetime]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for request_id, crossed_at in session.exec(
            select(ThresholdCrossing.request_id, ThresholdCrossing.crossed_at).where(
                ThresholdCrossing.request_id.in_(chunk)
            )
        ).all():
            if request_id not in first_crossing or crossed_at < first_crossing[request_id]:
                first_crossing[request_id] = crossed_at
        for request_id, created_at in session.exec(
            select(RequestDecision.request_id, RequestDecision.created_at).where(
                RequestDecision.request_id.in_(chunk), RequestDecision.status.in_(DECISIONS)
            )
        ).all():
            decided[request_id].append(created_at)
    wait: dict[int, timedelta] = {}
    for request_id, crossed_at in first_crossing.items():
        after = [d for d in decided.get(request_id, []) if d >= crossed_at]
        if after:
            wait[request_id] = min(after) - crossed_at
    for p in by_person.values():
        p.reached = {r for r in p.requests if r in first_crossing}
        p.decision_waits = [wait[r] for r in sorted(p.reached) if r in wait]
    return _ordered(by_person)


def _ordered(by_person: dict[int, Partnership]) -> list[Partnership]:
    return sorted(
        by_person.values(), key=lambda p: (-p.logged, (p.stakeholder.name or "").casefold(), p.stakeholder.id)
    )


def activity_change(
    *, session: Session, pm: Person, stakeholder: Person, now: datetime, weeks: int
) -> tuple[int, int]:
    """(occurrences in the last `weeks`, in the `weeks` before): how a stakeholder's activity moved."""
    period = timedelta(weeks=max(weeks, 1))
    latest = figures(session=session, pm=pm, since=now - period, until=now, only=stakeholder.id)
    before = figures(session=session, pm=pm, since=now - 2 * period, until=now - period, only=stakeholder.id)
    return (latest[0].logged if latest else 0), (before[0].logged if before else 0)


def suggested_cadence(latest: int, before: int, weeks: int) -> int | None:
    """A new cadence (weeks) when activity rose or fell a lot; None when the current one fits."""
    if latest >= RISE_AT_LEAST and latest >= RISE * max(before, 1) and weeks > 1:
        return max(1, weeks // 2)
    if before >= RISE_AT_LEAST and latest <= FALL * before and weeks < 12:
        return min(12, weeks * 2 if weeks <= 4 else weeks + 4)
    return None
