"""The figures an area's chart plots: occurrences per week over the last quarter, split by the most heard
requests, and the top requests by customers and money; and which chart was uploaded on which day."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import AreaChart, FeatureRequest, Occurrence, ProductArea
from storage.requests import RequestStats, stats_from_occurrences

WEEKS = 13  # a quarter
STACKED = 5  # requests shown by name in the weekly bars; the rest are "everything else"
TOP = 8


@dataclass
class AreaFigures:
    area: ProductArea
    weeks: list[date]  # the Monday-aligned start (UTC) of each week, oldest first
    series: dict[str, list[int]] = field(default_factory=dict)  # label -> occurrences per week
    top: list[tuple[FeatureRequest, RequestStats]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.series.values())


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def area_figures(*, session: Session, area: ProductArea, now: datetime) -> AreaFigures:
    """What the chart shows, read from the database. Merged requests count where they went."""
    first = week_start(now.date()) - timedelta(weeks=WEEKS - 1)
    weeks = [first + timedelta(weeks=i) for i in range(WEEKS)]
    requests = {
        r.id: r
        for r in session.exec(
            select(FeatureRequest).where(FeatureRequest.area_id == area.id, FeatureRequest.status != "merged")
        ).all()
    }
    occurrences: dict[int, list[Occurrence]] = defaultdict(list)
    for occ in session.exec(
        select(Occurrence).where(Occurrence.request_id.in_(list(requests) or [-1]))
    ).all():
        occurrences[occ.request_id].append(occ)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    in_quarter = {rid: [o for o in occs if start <= o.created_at <= now] for rid, occs in occurrences.items()}
    heard = Counter({rid: len(occs) for rid, occs in in_quarter.items() if occs})
    named = [rid for rid, _ in sorted(heard.items(), key=lambda i: (-i[1], i[0]))[:STACKED]]
    figures = AreaFigures(area=area, weeks=weeks)
    index = {w: i for i, w in enumerate(weeks)}
    for rid in named:
        figures.series[f"#{rid} {requests[rid].title}"] = [0] * WEEKS
    rest = [0] * WEEKS
    for rid, occs in in_quarter.items():
        row = figures.series[f"#{rid} {requests[rid].title}"] if rid in named else rest
        for occ in occs:
            row[index[week_start(occ.created_at.date())]] += 1
    if any(rest):
        figures.series["everything else"] = rest
    stats = {rid: stats_from_occurrences(occs) for rid, occs in occurrences.items() if occs}
    ranked = sorted(
        stats,
        key=lambda rid: (-stats[rid].customer_count, -sum(stats[rid].money.values()), -stats[rid].count, rid),
    )
    figures.top = [(requests[rid], stats[rid]) for rid in ranked[:TOP]]
    return figures


def chart_for(*, session: Session, area_id: int, day: date) -> AreaChart | None:
    return session.exec(select(AreaChart).where(AreaChart.area_id == area_id, AreaChart.day == day)).first()


def latest_charts(*, session: Session, area_ids: list[int]) -> dict[int, str]:
    """The last uploaded chart of each area (file id), whatever day it was drawn."""
    latest: dict[int, tuple[date, str]] = {}
    for chart in session.exec(select(AreaChart).where(AreaChart.area_id.in_(area_ids or [-1]))).all():
        if chart.file_id and (chart.area_id not in latest or chart.day > latest[chart.area_id][0]):
            latest[chart.area_id] = (chart.day, chart.file_id)
    return {area_id: file_id for area_id, (_, file_id) in latest.items()}


def record_chart(*, session: Session, area: ProductArea, day: date, file_id: str) -> bool:
    """Remember the day's upload; False when another process recorded one for that day first."""
    try:
        with session.begin_nested():
            session.add(AreaChart(workspace_id=area.workspace_id, area_id=area.id, day=day, file_id=file_id))
            session.flush()
        return True
    except IntegrityError:
        return False
