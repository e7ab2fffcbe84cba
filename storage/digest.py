"""The data behind a PM's threshold digest and a peer 1:1 agenda, in a small fixed number of queries.

No N+1: a digest is at most eight queries however many areas, requests and occurrences it covers
(areas, crossings, windowed counts, new requests, the shown requests, their occurrences, who logged the
newest, the issues linked to them); an agenda is at most seven. benchmark/bench_digest.py counts them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, select

from storage.issues import links_of_requests
from storage.models import (
    AgendaItem,
    FeatureRequest,
    IssueLink,
    Occurrence,
    OneOnOne,
    Person,
    ProductArea,
    ThresholdCrossing,
)
from storage.people import of_occurrences
from storage.requests import RequestStats, stats_from_occurrences

CLOSE_RATIO = 0.6
# How many requests each digest section shows (a Slack message holds at most 50 blocks).
SECTION_LIMIT = 6
AGENDA_LIMIT = 8
# How many of a crossed request's newest occurrences the digest lists (`/requests #N` lists them all).
RECENT_OCCURRENCES = 4
ACTIVE = ("open", "planned", "not_yet")


@dataclass
class RequestLine:
    """One request as a digest or agenda shows it."""

    request: FeatureRequest
    area: ProductArea
    count: int  # occurrences within the area's window
    new: int = 0  # occurrences since the last digest / 1:1
    stats: RequestStats = field(default_factory=RequestStats)  # every occurrence
    top_impact: str = ""
    top_frequency: str = ""
    focus_tie: str = ""
    rules: list[str] = field(default_factory=list)  # rules crossed in this period: count, amount
    recent: list[Occurrence] = field(default_factory=list)  # the newest few, newest first
    people: dict[int, Person] = field(default_factory=dict)  # who logged `recent`
    links: list[IssueLink] = field(default_factory=list)  # tracker issues linked, with their last state

    @property
    def threshold(self) -> int:
        return self.area.threshold_count or 1

    @property
    def days(self) -> int:
        return self.area.threshold_days

    @property
    def ratio(self) -> float:
        return self.count / self.threshold


@dataclass
class DigestData:
    pm: Person
    areas: list[ProductArea]
    since: datetime
    now: datetime
    crossed: list[RequestLine] = field(default_factory=list)
    still_over: list[RequestLine] = field(default_factory=list)
    close: list[RequestLine] = field(default_factory=list)
    not_yet: list[RequestLine] = field(default_factory=list)
    new_requests: int = 0
    # How many more each section had than it shows.
    more: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.crossed or self.still_over or self.close or self.not_yet)


def _window_condition(areas: list[ProductArea], now: datetime):
    """Occurrence inside its own area's threshold window (each area has its own days)."""
    return or_(
        *(
            and_(
                FeatureRequest.area_id == area.id,
                Occurrence.created_at >= now - timedelta(days=area.threshold_days or 30),
            )
            for area in areas
        )
    )


def _fill_details(session: Session, lines: list[RequestLine], now: datetime) -> None:
    """Stats, most common impact and frequency, latest focus tie, the newest occurrences and who logged
    them: two queries for all the lines."""
    if not lines:
        return
    by_id = {line.request.id: line for line in lines}
    occurrences = session.exec(
        select(Occurrence)
        .where(Occurrence.request_id.in_(list(by_id)), Occurrence.created_at <= now)
        .order_by(Occurrence.created_at, Occurrence.id)
    ).all()
    grouped: dict[int, list[Occurrence]] = {rid: [] for rid in by_id}
    for occ in occurrences:
        grouped[occ.request_id].append(occ)
    for rid, occs in grouped.items():
        line = by_id[rid]
        line.stats = stats_from_occurrences(occs)
        impacts = Counter(code for o in occs for code in o.impacts.split(",") if code)
        frequencies = Counter(o.frequency for o in occs if o.frequency)
        line.top_impact = impacts.most_common(1)[0][0] if impacts else ""
        line.top_frequency = frequencies.most_common(1)[0][0] if frequencies else ""
        ties = [o.focus_tie for o in occs if o.focus_tie]
        line.focus_tie = ties[-1] if ties else ""
        line.recent = occs[::-1][:RECENT_OCCURRENCES]
    everyone = [o for line in lines for o in line.recent]
    if everyone:
        people = of_occurrences(session=session, occurrences=everyone)
        for line in lines:
            wanted = {o.logged_by_id for o in line.recent} | {o.raised_by_id for o in line.recent}
            line.people = {pid: people[pid] for pid in wanted if pid in people}


def _cap(items: list[RequestLine], name: str, more: dict[str, int], limit: int) -> list[RequestLine]:
    if len(items) > limit:
        more[name] = len(items) - limit
    return items[:limit]


def digest_data(*, session: Session, pm: Person, since: datetime, now: datetime) -> DigestData:
    areas = list(
        session.exec(select(ProductArea).where(ProductArea.pm_id == pm.id).order_by(ProductArea.name)).all()
    )
    data = DigestData(pm=pm, areas=areas, since=since, now=now)
    if not areas:
        return data
    area_by_id = {a.id: a for a in areas}
    area_ids = list(area_by_id)

    crossed_rules: dict[int, list[str]] = {}
    for request_id, rule in session.exec(
        select(ThresholdCrossing.request_id, ThresholdCrossing.rule)
        .join(FeatureRequest, FeatureRequest.id == ThresholdCrossing.request_id)
        .where(
            FeatureRequest.area_id.in_(area_ids),
            ThresholdCrossing.crossed_at > since,
            ThresholdCrossing.crossed_at <= now,
        )
    ).all():
        rules = crossed_rules.setdefault(request_id, [])
        if rule not in rules:
            rules.append(rule)

    oldest_window = now - timedelta(days=max(a.threshold_days or 30 for a in areas))
    in_window = _window_condition(areas, now)
    counts = session.exec(
        select(
            Occurrence.request_id,
            FeatureRequest.area_id,
            FeatureRequest.status,
            func.sum(case((in_window, 1), else_=0)),
            func.sum(case((Occurrence.created_at > since, 1), else_=0)),
        )
        .join(FeatureRequest, FeatureRequest.id == Occurrence.request_id)
        .where(
            FeatureRequest.area_id.in_(area_ids),
            FeatureRequest.status.in_(ACTIVE),
            Occurrence.created_at >= min(oldest_window, since),
            Occurrence.created_at <= now,
        )
        .group_by(Occurrence.request_id, FeatureRequest.area_id, FeatureRequest.status)
    ).all()

    data.new_requests = session.exec(
        select(func.count())
        .select_from(FeatureRequest)
        .where(
            FeatureRequest.area_id.in_(area_ids),
            FeatureRequest.created_at > since,
            FeatureRequest.created_at <= now,
        )
    ).one()

    picked: dict[str, list[tuple[int, int, int, int]]] = {
        "crossed": [],
        "still_over": [],
        "close": [],
        "not_yet": [],
    }
    seen: set[int] = set()
    for request_id, area_id, status, window_count, new_count in counts:
        area = area_by_id[area_id]
        window_count, new_count = int(window_count or 0), int(new_count or 0)
        ratio = window_count / (area.threshold_count or 1)
        if request_id in crossed_rules:
            picked["crossed"].append((request_id, area_id, window_count, new_count))
        elif status == "not_yet":
            if new_count:
                picked["not_yet"].append((request_id, area_id, window_count, new_count))
        elif status == "open" and ratio >= 1:
            picked["still_over"].append((request_id, area_id, window_count, new_count))
        elif status == "open" and ratio >= CLOSE_RATIO:
            picked["close"].append((request_id, area_id, window_count, new_count))
        else:
            continue
        seen.add(request_id)
    # Crossed in this period but with nothing left in the window (e.g. a money crossing long ago logged).
    for request_id in crossed_rules:
        if request_id not in seen:
            picked["crossed"].append((request_id, -1, 0, 0))

    def order(rows):
        return sorted(rows, key=lambda r: (-r[2], -r[3], r[0]))

    chosen: dict[str, list[tuple[int, int, int, int]]] = {
        name: _cap(order(rows), name, data.more, SECTION_LIMIT)  # type: ignore[arg-type]
        for name, rows in picked.items()
    }
    ids = [row[0] for rows in chosen.values() for row in rows]
    if not ids:
        return data
    requests = {r.id: r for r in session.exec(select(FeatureRequest).where(FeatureRequest.id.in_(ids))).all()}
    lines_by_section: dict[str, list[RequestLine]] = {}
    all_lines = []
    for name, rows in chosen.items():
        lines = []
        for request_id, _area_id, window_count, new_count in rows:
            request = requests.get(request_id)
            if request is None or request.status in ("shipped", "merged"):
                continue
            line = RequestLine(
                request=request,
                area=area_by_id[request.area_id],
                count=window_count,
                new=new_count,
                rules=crossed_rules.get(request_id, []),
            )
            lines.append(line)
        lines_by_section[name] = lines
        all_lines.extend(lines)
    _fill_details(session, all_lines, now)
    # Each shown request's linked issues and their last known state: one query for all of them.
    linked = links_of_requests(session, request_ids=[line.request.id for line in all_lines])
    for line in all_lines:
        line.links = linked.get(line.request.id, [])
    data.crossed = lines_by_section["crossed"]
    data.still_over = lines_by_section["still_over"]
    data.close = lines_by_section["close"]
    data.not_yet = lines_by_section["not_yet"]
    return data


# -- agendas -------------------------------------------------------------------------------------
@dataclass
class AgendaData:
    oneonone: OneOnOne
    pm: Person
    stakeholder: Person
    since: datetime
    now: datetime
    logged: list[RequestLine] = field(default_factory=list)
    shipped: list[RequestLine] = field(default_factory=list)
    not_yet: list[RequestLine] = field(default_factory=list)
    focus_areas: list[ProductArea] = field(default_factory=list)
    items: list[AgendaItem] = field(default_factory=list)  # added for this meeting
    carried: list[AgendaItem] = field(default_factory=list)  # unresolved from earlier meetings
    more: dict[str, int] = field(default_factory=dict)


def agenda_data(
    *, session: Session, oneonone: OneOnOne, pm: Person, stakeholder: Person, since: datetime, now: datetime
) -> AgendaData:
    data = AgendaData(oneonone=oneonone, pm=pm, stakeholder=stakeholder, since=since, now=now)
    areas = {
        a.id: a
        for a in session.exec(
            select(ProductArea).where(ProductArea.workspace_id == oneonone.workspace_id)
        ).all()
    }
    data.focus_areas = sorted((a for a in areas.values() if a.pm_id == pm.id), key=lambda a: a.name)
    by_them = or_(Occurrence.logged_by_id == stakeholder.id, Occurrence.raised_by_id == stakeholder.id)

    # What they logged since the last 1:1, counted per request.
    logged = session.exec(
        select(Occurrence.request_id, func.count())
        .where(by_them, Occurrence.workspace_id == oneonone.workspace_id)
        .where(Occurrence.created_at > since, Occurrence.created_at <= now)
        .group_by(Occurrence.request_id)
    ).all()
    logged_counts = {rid: int(n) for rid, n in logged}

    # What shipped since, and everything "not yet", among all the requests they ever raised.
    theirs = select(Occurrence.request_id).where(by_them, Occurrence.workspace_id == oneonone.workspace_id)
    status_rows = session.exec(
        select(FeatureRequest).where(
            FeatureRequest.id.in_(theirs),
            or_(
                and_(FeatureRequest.status == "shipped", FeatureRequest.status_changed_at > since),
                FeatureRequest.status == "not_yet",
            ),
        )
    ).all()
    requests = {r.id: r for r in status_rows}
    missing = [rid for rid in logged_counts if rid not in requests]
    if missing:
        requests.update(
            {
                r.id: r
                for r in session.exec(select(FeatureRequest).where(FeatureRequest.id.in_(missing))).all()
            }
        )

    # Where each stands: occurrences in the window of its area (one grouped query).
    ids = list(requests)
    window: dict[int, int] = {}
    used_areas = [areas[r.area_id] for r in requests.values() if r.area_id in areas]
    if ids and used_areas:
        window = {
            rid: int(n)
            for rid, n in session.exec(
                select(Occurrence.request_id, func.count())
                .join(FeatureRequest, FeatureRequest.id == Occurrence.request_id)
                .where(Occurrence.request_id.in_(ids), Occurrence.created_at <= now)
                .where(_window_condition(list({a.id: a for a in used_areas}.values()), now))
                .group_by(Occurrence.request_id)
            ).all()
        }

    def line(rid: int) -> RequestLine:
        request = requests[rid]
        return RequestLine(
            request=request,
            area=areas[request.area_id],
            count=window.get(rid, 0),
            new=logged_counts.get(rid, 0),
        )

    logged_lines = sorted((line(rid) for rid in logged_counts if rid in requests), key=lambda x: -x.new)
    shipped = [line(r.id) for r in status_rows if r.status == "shipped"]
    not_yet = [line(r.id) for r in status_rows if r.status == "not_yet"]
    data.logged = _cap(logged_lines, "logged", data.more, AGENDA_LIMIT)
    data.shipped = _cap(shipped, "shipped", data.more, AGENDA_LIMIT)
    data.not_yet = _cap(not_yet, "not_yet", data.more, AGENDA_LIMIT)
    _fill_details(session, [*data.logged, *data.shipped, *data.not_yet], now)

    items = session.exec(
        select(AgendaItem)
        .where(AgendaItem.oneonone_id == oneonone.id, AgendaItem.done == False)  # noqa: E712
        .order_by(AgendaItem.created_at, AgendaItem.id)
    ).all()
    for item in items:
        if item.meeting is not None and item.meeting < oneonone.next_meeting:
            data.carried.append(item)
        elif item.meeting is None or item.meeting == oneonone.next_meeting:
            data.items.append(item)
    return data
