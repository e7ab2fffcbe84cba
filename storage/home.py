"""What each person's App Home shows, read from the database: a stakeholder's requests and 1:1s, a PM's
areas, the requests waiting for them and their stakeholders, an admin's PMs, unowned areas and the
people the bot could not reach."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from storage import customers, decisions, partnership, schedule
from storage.digest import CLOSE_RATIO
from storage.issues import links_of_requests
from storage.models import (
    AgendaItem,
    FeatureRequest,
    IssueLink,
    Occurrence,
    OneOnOne,
    Outbox,
    Person,
    ProductArea,
    ThresholdCrossing,
)
from storage.requests import RequestStats, stats_from_occurrences

MINE = 10  # a stakeholder's requests shown
WAITING = 6  # requests over the rule, waiting for the PM
CLOSE = 5
STAKEHOLDERS = 8
DUPLICATES = 3
PROBLEMS = 8


@dataclass
class Mine:
    listed: decisions.Listed
    window_count: int  # occurrences within the area's rule window


@dataclass
class Meeting:
    oneonone: OneOnOne
    other: Person
    items: list[AgendaItem] = field(default_factory=list)


@dataclass
class StakeholderHome:
    requests: list[Mine] = field(default_factory=list)
    more: int = 0
    areas: list[ProductArea] = field(default_factory=list)  # their "how I work" cards
    pms: dict[int, Person] = field(default_factory=dict)
    meetings: list[Meeting] = field(default_factory=list)


@dataclass
class Waiting:
    request: FeatureRequest
    area: ProductArea
    window_count: int
    stats: RequestStats
    crossed_at: datetime | None = None


@dataclass
class PmHome:
    areas: list[ProductArea] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)  # crossed, no decision yet: oldest first
    waiting_more: int = 0
    close: list[Waiting] = field(default_factory=list)
    partners: list[partnership.Partnership] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    duplicates: list[customers.NearDuplicate] = field(default_factory=list)


@dataclass
class AdminHome:
    pms: list[tuple[Person, list[ProductArea]]] = field(default_factory=list)
    unowned: list[ProductArea] = field(default_factory=list)
    problems: list[Outbox] = field(default_factory=list)
    duplicates: list[customers.NearDuplicate] = field(default_factory=list)


def _window_counts(session: Session, requests: dict[int, ProductArea], now: datetime) -> dict[int, int]:
    """Occurrences of each request within its area's rule window, in one query."""
    if not requests:
        return {}
    oldest = now - timedelta(days=max(a.threshold_days or 30 for a in requests.values()))
    counts: dict[int, int] = defaultdict(int)
    for request_id, created_at in session.exec(
        select(Occurrence.request_id, Occurrence.created_at).where(
            Occurrence.request_id.in_(list(requests)), Occurrence.created_at >= oldest
        )
    ).all():
        if created_at >= now - timedelta(days=requests[request_id].threshold_days or 30):
            counts[request_id] += 1
    return counts


def _meetings(session: Session, person: Person, *, as_pm: bool) -> list[Meeting]:
    rows = [
        o
        for o in schedule.oneonones_of(session=session, workspace_id=person.workspace_id, person_id=person.id)
        if (o.pm_id == person.id) == as_pm
    ]
    others = {
        p.id: p
        for p in session.exec(
            select(Person).where(
                Person.id.in_([o.stakeholder_id if as_pm else o.pm_id for o in rows] or [-1])
            )
        ).all()
    }
    meetings = []
    for o in rows:
        other = others.get(o.stakeholder_id if as_pm else o.pm_id)
        if other is not None:
            meetings.append(
                Meeting(oneonone=o, other=other, items=schedule.open_items(session=session, oneonone_id=o.id))
            )
    return meetings


def stakeholder_home(*, session: Session, person: Person, now: datetime) -> StakeholderHome:
    home = StakeholderHome()
    rows = decisions.person_requests(session=session, workspace_id=person.workspace_id, person_id=person.id)
    home.more = max(0, len(rows) - MINE)
    rows = rows[:MINE]
    counts = _window_counts(session, {x.request.id: x.area for x, _ in rows if x.area is not None}, now)
    home.requests = [Mine(listed=x, window_count=counts.get(x.request.id, 0)) for x, _ in rows]
    areas = {x.area.id: x.area for x, _ in rows if x.area is not None}
    if not areas:  # nothing logged yet: how the PMs of the workspace work
        areas = {
            a.id: a
            for a in session.exec(
                select(ProductArea).where(
                    ProductArea.workspace_id == person.workspace_id,
                    ProductArea.pm_id != None,  # noqa: E711
                )
            ).all()
        }
    home.areas = sorted(areas.values(), key=lambda a: a.name.casefold())[:3]
    home.pms = {
        p.id: p
        for p in session.exec(
            select(Person).where(Person.id.in_([a.pm_id for a in home.areas if a.pm_id] or [-1]))
        ).all()
    }
    home.meetings = _meetings(session, person, as_pm=False)[:3]
    return home


def pm_home(*, session: Session, pm: Person, now: datetime) -> PmHome:
    home = PmHome()
    home.areas = list(
        session.exec(select(ProductArea).where(ProductArea.pm_id == pm.id).order_by(ProductArea.name)).all()
    )
    by_id = {a.id: a for a in home.areas}
    if by_id:
        requests = {
            r.id: r
            for r in session.exec(
                select(FeatureRequest).where(
                    FeatureRequest.area_id.in_(list(by_id)), FeatureRequest.status == "open"
                )
            ).all()
        }
        counts = _window_counts(session, {rid: by_id[r.area_id] for rid, r in requests.items()}, now)
        crossed: dict[int, datetime] = {}
        for request_id, crossed_at in session.exec(
            select(ThresholdCrossing.request_id, ThresholdCrossing.crossed_at).where(
                ThresholdCrossing.request_id.in_(list(requests) or [-1]),
                ThresholdCrossing.reset_at == None,  # noqa: E711
            )
        ).all():
            crossed[request_id] = min(crossed_at, crossed.get(request_id, crossed_at))
        waiting = sorted(crossed, key=lambda rid: (crossed[rid], rid))
        home.waiting_more = max(0, len(waiting) - WAITING)
        close = sorted(
            (
                rid
                for rid, r in requests.items()
                if rid not in crossed
                and counts.get(rid, 0) / (by_id[r.area_id].threshold_count or 1) >= CLOSE_RATIO
            ),
            key=lambda rid: (-counts.get(rid, 0) / (by_id[requests[rid].area_id].threshold_count or 1), rid),
        )[:CLOSE]
        shown = waiting[:WAITING] + close
        occurrences: dict[int, list[Occurrence]] = defaultdict(list)
        for occ in session.exec(select(Occurrence).where(Occurrence.request_id.in_(shown or [-1]))).all():
            occurrences[occ.request_id].append(occ)

        def line(rid: int) -> Waiting:
            r = requests[rid]
            return Waiting(
                request=r,
                area=by_id[r.area_id],
                window_count=counts.get(rid, 0),
                stats=stats_from_occurrences(occurrences[rid]),
                crossed_at=crossed.get(rid),
            )

        home.waiting = [line(rid) for rid in waiting[:WAITING]]
        home.close = [line(rid) for rid in close]
    home.partners = partnership.figures(session=session, pm=pm)[:STAKEHOLDERS]
    home.meetings = _meetings(session, pm, as_pm=True)[:5]
    home.duplicates = customers.near_duplicates(
        session=session, workspace_id=pm.workspace_id, limit=DUPLICATES
    )
    return home


def issue_links(
    session: Session, *, stakeholder: StakeholderHome, pm: PmHome | None
) -> dict[int, list[IssueLink]]:
    """The tracker issues linked to every request the Home lists (the PM's and the person's own), with
    their last known state: one query for the whole Home."""
    ids = [mine.listed.request.id for mine in stakeholder.requests]
    if pm is not None:
        ids += [w.request.id for w in (*pm.waiting, *pm.close)]
    return links_of_requests(session, request_ids=sorted(set(ids)))


def admin_home(*, session: Session, admin: Person) -> AdminHome:
    home = AdminHome()
    areas = list(
        session.exec(
            select(ProductArea)
            .where(ProductArea.workspace_id == admin.workspace_id, ProductArea.retired_at == None)  # noqa: E711
            .order_by(ProductArea.name)
        ).all()
    )
    pms = list(
        session.exec(
            select(Person)
            .where(Person.workspace_id == admin.workspace_id, Person.is_pm == True)  # noqa: E712
            .order_by(Person.name)
        ).all()
    )
    home.pms = [(pm, [a for a in areas if a.pm_id == pm.id]) for pm in pms]
    home.unowned = [a for a in areas if a.pm_id is None]
    home.problems = list(
        session.exec(
            select(Outbox)
            .where(Outbox.workspace_id == admin.workspace_id, Outbox.status == "failed")
            .order_by(Outbox.created_at.desc(), Outbox.id.desc())
            .limit(PROBLEMS)
        ).all()
    )
    home.duplicates = customers.near_duplicates(
        session=session, workspace_id=admin.workspace_id, limit=DUPLICATES
    )
    return home
