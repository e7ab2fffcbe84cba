"""Each area's rules for when a request reaches its PM, and where a request stands against them.

Count rule: N occurrences within the last D days. Money rule: any single occurrence whose amount is
at least the area's amount. A request crosses each rule once per window (one ThresholdCrossing row,
unique per window key), so the PM is alerted once, not at occurrence 6, 7, 8, unless they reset it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import FeatureRequest, Occurrence, ProductArea, ThresholdCrossing, utcnow
from storage.requests import RequestStats, account_key, occurrences_of, stats_from_occurrences

DEFAULT_COUNT = 5
DEFAULT_DAYS = 30
MAX_COUNT = 1000
MAX_DAYS = 365


@dataclass
class Standing:
    """Where one request stands against its area's rules right now."""

    request_id: int
    count: int  # occurrences within the window
    threshold: int
    days: int
    window: RequestStats
    total: RequestStats
    crossed: list[ThresholdCrossing] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return max(0, self.threshold - self.count)

    @property
    def ratio(self) -> float:
        return self.count / self.threshold if self.threshold else 1.0

    @property
    def over(self) -> bool:
        return self.count >= self.threshold


def window_start(area: ProductArea, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=area.threshold_days or DEFAULT_DAYS)


def open_crossings(*, session: Session, request_id: int) -> list[ThresholdCrossing]:
    return list(
        session.exec(
            select(ThresholdCrossing)
            .where(ThresholdCrossing.request_id == request_id, ThresholdCrossing.reset_at == None)  # noqa: E711
            .order_by(ThresholdCrossing.crossed_at)
        )
    )


def standing(
    *, session: Session, request: FeatureRequest, area: ProductArea, now: datetime | None = None
) -> Standing:
    now = now or utcnow()
    occurrences = occurrences_of(session=session, request_id=request.id)
    start = window_start(area, now)
    in_window = [o for o in occurrences if o.created_at >= start]
    return Standing(
        request_id=request.id,
        count=len(in_window),
        threshold=area.threshold_count or DEFAULT_COUNT,
        days=area.threshold_days or DEFAULT_DAYS,
        window=stats_from_occurrences(in_window),
        total=stats_from_occurrences(occurrences),
        crossed=open_crossings(session=session, request_id=request.id),
    )


def _crossing_recent(crossings: list[ThresholdCrossing], rule: str, since: datetime) -> bool:
    return any(c.rule == rule and c.crossed_at >= since for c in crossings)


def _record(
    *, session: Session, request: FeatureRequest, rule: str, key: str, occurrence: Occurrence, now: datetime
) -> ThresholdCrossing | None:
    crossing = ThresholdCrossing(
        workspace_id=request.workspace_id,
        request_id=request.id,
        rule=rule,
        window_key=key,
        occurrence_id=occurrence.id,
        crossed_at=now,
    )
    try:
        with session.begin_nested():
            session.add(crossing)
            session.flush()
    except IntegrityError:  # another process recorded this crossing first: it alerts, we do not
        return None
    return crossing


def evaluate(
    *,
    session: Session,
    request: FeatureRequest,
    area: ProductArea,
    occurrence: Occurrence,
    now: datetime | None = None,
) -> tuple[Standing, list[ThresholdCrossing]]:
    """After an occurrence is stored: where the request stands, and the crossings it caused (new only)."""
    now = now or utcnow()
    current = standing(session=session, request=request, area=area, now=now)
    new: list[ThresholdCrossing] = []
    if request.status not in ("shipped", "merged"):
        if current.over:
            since = window_start(area, now)
            if not _crossing_recent(current.crossed, "count", since):
                # Fixed windows from the request's creation make concurrent crossings collide on one key.
                index = int((now - request.created_at) / timedelta(days=current.days))
                resets = _reset_count(session=session, request_id=request.id, rule="count")
                crossing = _record(
                    session=session,
                    request=request,
                    rule="count",
                    key=f"count:w{index}:r{resets}",
                    occurrence=occurrence,
                    now=now,
                )
                if crossing:
                    new.append(crossing)
        if over_money_rule(area, occurrence):
            # One alert per customer: a CRM account counts once whatever name it was logged under.
            who = account_key(occurrence) or f"occurrence-{occurrence.id}"
            resets = _reset_count(session=session, request_id=request.id, rule="amount")
            crossing = _record(
                session=session,
                request=request,
                rule="amount",
                key=f"amount:{who}:r{resets}"[:64],
                occurrence=occurrence,
                now=now,
            )
            if crossing:
                new.append(crossing)
    current.crossed.extend(new)
    return current, new


def over_money_rule(area: ProductArea, occurrence: Occurrence) -> bool:
    """The occurrence's customer is worth at least the area's money rule, in the rule's currency."""
    limit = area.threshold_amount_cents
    if not limit or occurrence.amount_cents is None:
        return False
    return (occurrence.currency or "USD") == (
        area.threshold_currency or "USD"
    ) and occurrence.amount_cents >= limit


def _reset_count(*, session: Session, request_id: int, rule: str) -> int:
    rows = session.exec(
        select(ThresholdCrossing.id).where(
            ThresholdCrossing.request_id == request_id,
            ThresholdCrossing.rule == rule,
            ThresholdCrossing.reset_at != None,  # noqa: E711
        )
    ).all()
    return len(rows)


def reset(*, session: Session, request_id: int, now: datetime | None = None) -> int:
    """The PM has gone over it: the next crossing alerts again. Returns how many crossings were reset."""
    crossings = open_crossings(session=session, request_id=request_id)
    for crossing in crossings:
        crossing.reset_at = now or utcnow()
        session.add(crossing)
    return len(crossings)


def set_count_rule(*, session: Session, area: ProductArea, count: int, days: int) -> ProductArea:
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"The count must be between 1 and {MAX_COUNT}.")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"The window must be between 1 and {MAX_DAYS} days.")
    area.threshold_count, area.threshold_days = count, days
    session.add(area)
    return area


def set_amount_rule(
    *, session: Session, area: ProductArea, cents: int | None, currency: str = "USD"
) -> ProductArea:
    area.threshold_amount_cents = cents
    area.threshold_currency = currency or "USD"
    session.add(area)
    return area
