"""When digests and 1:1 agendas are due, and the claims that make each one happen exactly once.

Everything here is computed from the database at a given `now`, so a missed run is caught up, time can
be simulated, and several clock processes agree. A claim is a ScheduledSend row with a unique key; the
insert that wins sends, the loser skips.

Rules (documented in the README):
- Digests fire at `digest_hour`:00 in the PM's own time zone (Person.tz, IANA; UTC when unknown), weekly
  on `digest_weekday` or daily. A digest missed while no clock ran is sent once if the clock comes back
  within DIGEST_GRACE (24 h) of its time; an older one is skipped and logged once (a "skipped" claim).
- A 1:1 agenda fires at 09:00 PM-local on the working day before the meeting (Friday for a Monday
  meeting). A missed one is still sent up to the end of the meeting day, never after.
- DST: times are wall-clock in the PM's zone, so a 09:00 digest stays at 09:00 across a change. A local
  time that does not exist (02:30 on the spring-forward day) fires at the instant it would have been with
  the old offset (03:30 new time); an ambiguous one (01:30 on the fall-back day) fires at its first
  occurrence. Either way the key is the local date, so it fires once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import AgendaItem, OneOnOne, Person, ScheduledSend, utcnow

log = logging.getLogger(__name__)

DIGEST_GRACE = timedelta(hours=24)
AGENDA_HOUR = 9
CADENCES = ("weekly", "daily", "off")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIN_CADENCE_WEEKS, MAX_CADENCE_WEEKS, DEFAULT_CADENCE_WEEKS = 1, 12, 6
DEFAULT_ONEONONE_WEEKDAY = 1  # Tuesday


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    """The IANA zone Slack gave us; UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def at_local(day: date, hour: int, tz: str | None, minute: int = 0) -> datetime:
    """The UTC instant of `hour:minute` local on `day`. fold=0: a skipped time uses the offset before the
    change (02:30 on spring-forward day = 03:30 new time); a repeated time is its first occurrence."""
    local = datetime.combine(day, time(hour, minute), tzinfo=zone(tz)).replace(fold=0)
    return local.astimezone(UTC)


def local_date(now: datetime, tz: str | None) -> date:
    return now.astimezone(zone(tz)).date()


# -- digests -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    key: str
    kind: str  # digest | agenda
    due_at: datetime
    period: date  # the local date of the digest, or the meeting date of an agenda
    late: bool  # past its grace period: skipped, not sent
    person_id: int | None = None
    oneonone_id: int | None = None


def digest_period(person: Person, now: datetime) -> tuple[date, datetime] | None:
    """The latest scheduled digest time at or before `now`: (local date, UTC instant)."""
    cadence = person.digest_cadence or "weekly"
    if cadence == "off":
        return None
    today = local_date(now, person.tz)
    hour = min(23, max(0, person.digest_hour))
    if cadence == "daily":
        candidates = [today - timedelta(days=n) for n in range(3)]
    else:
        back = (today.weekday() - (person.digest_weekday % 7)) % 7
        last = today - timedelta(days=back)
        candidates = [last, last - timedelta(days=7)]
    for day in candidates:
        due = at_local(day, hour, person.tz)
        if due <= now:
            return day, due
    return None


def next_digest_at(person: Person, now: datetime) -> datetime | None:
    """When the next digest goes out (for `/digest` to show)."""
    if (person.digest_cadence or "weekly") == "off":
        return None
    today = local_date(now, person.tz)
    step = 1 if person.digest_cadence == "daily" else 7
    start = today
    if step == 7:
        start += timedelta(days=(person.digest_weekday % 7 - today.weekday()) % 7)
    for n in range(3):
        due = at_local(start + timedelta(days=n * step), person.digest_hour, person.tz)
        if due > now:
            return due
    return None


def digest_key(person_id: int, period: date) -> str:
    return f"digest:{person_id}:{period.isoformat()}"


def digest_due(person: Person, now: datetime) -> Due | None:
    found = digest_period(person, now)
    if found is None:
        return None
    period, due_at = found
    # A person who did not exist then never missed it.
    if person.created_at and due_at < person.created_at and now - due_at > DIGEST_GRACE:
        return None
    return Due(
        key=digest_key(person.id, period),
        kind="digest",
        due_at=due_at,
        period=period,
        late=now - due_at > DIGEST_GRACE,
        person_id=person.id,
    )


def digest_since(person: Person, due: Due) -> datetime:
    """What the digest covers: since the last one sent (a skipped one leaves its period to the next);
    the first covers one period back, or since the PM was first seen when that is earlier, so nothing
    logged before a first digest that was missed is left out."""
    if person.last_digest_at:
        return person.last_digest_at
    period_back = due.due_at - (timedelta(days=1) if person.digest_cadence == "daily" else timedelta(days=7))
    return min(period_back, person.created_at) if person.created_at else period_back


# -- 1:1s ----------------------------------------------------------------------------------------
def working_day_before(day: date) -> date:
    """Friday for a Monday (or a weekend) meeting."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def agenda_at(meeting: date, tz: str | None) -> datetime:
    return at_local(working_day_before(meeting), AGENDA_HOUR, tz)


def agenda_key(oneonone_id: int, meeting: date) -> str:
    return f"agenda:{oneonone_id}:{meeting.isoformat()}"


def agenda_due(oneonone: OneOnOne, pm_tz: str | None, now: datetime) -> Due | None:
    """Due from 09:00 the working day before, until the meeting day is over (then it is late)."""
    due_at = agenda_at(oneonone.next_meeting, pm_tz)
    if due_at > now:
        return None
    end = at_local(oneonone.next_meeting + timedelta(days=1), 0, pm_tz)
    return Due(
        key=agenda_key(oneonone.id, oneonone.next_meeting),
        kind="agenda",
        due_at=due_at,
        period=oneonone.next_meeting,
        late=now >= end,
        oneonone_id=oneonone.id,
    )


def first_meeting(weekday: int, tz: str | None, now: datetime) -> date:
    """The next `weekday` strictly after today (PM-local)."""
    today = local_date(now, tz)
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def advance_meeting(*, session: Session, oneonone: OneOnOne, pm_tz: str | None, now: datetime) -> bool:
    """Once the meeting day is over (PM-local), move to the next one. Compare-and-set, so two clocks
    advance it once. Returns True when this call moved it."""
    today = local_date(now, pm_tz)
    if oneonone.next_meeting >= today:
        return False
    held, upcoming = oneonone.next_meeting, oneonone.next_meeting
    step = timedelta(weeks=max(MIN_CADENCE_WEEKS, oneonone.cadence_weeks))
    while upcoming < today:
        held, upcoming = upcoming, upcoming + step
    result = session.exec(
        update(OneOnOne)
        .where(OneOnOne.id == oneonone.id, OneOnOne.next_meeting == oneonone.next_meeting)
        .values(next_meeting=upcoming, last_meeting=held)
    )
    if result.rowcount == 1:
        oneonone.next_meeting, oneonone.last_meeting = upcoming, held
        return True
    session.refresh(oneonone)
    return False


# -- claims --------------------------------------------------------------------------------------
def claimed_keys(*, session: Session, keys: list[str]) -> set[str]:
    """Which of these keys are already claimed (one query, so an idle run is cheap)."""
    if not keys:
        return set()
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(session.exec(select(ScheduledSend.key).where(ScheduledSend.key.in_(chunk))).all())
    return found


def claim(
    *,
    session: Session,
    key: str,
    kind: str,
    workspace_id: int | None,
    claimed_by: str,
    now: datetime | None = None,
) -> bool:
    """Insert the claim; True when this caller won it. On PostgreSQL a concurrent insert of the same key
    waits for the winner's commit, then fails here."""
    row = ScheduledSend(
        key=key[:255],
        kind=kind,
        workspace_id=workspace_id,
        claimed_by=claimed_by[:64],
        claimed_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def skip_claim(
    *, session: Session, due: Due, workspace_id: int | None, claimed_by: str, now: datetime
) -> bool:
    """Mark a send that is past its grace period as skipped, once, and say so in the logs."""
    if claim(
        session=session,
        key=due.key,
        kind=f"{due.kind}_skipped",
        workspace_id=workspace_id,
        claimed_by=claimed_by,
        now=now,
    ):
        log.warning(
            "skipped %s (was due %s, now %s): past its grace period, the clock was not running",
            due.key,
            due.due_at.isoformat(),
            now.isoformat(),
        )
        return True
    return False


# -- 1:1 records ---------------------------------------------------------------------------------
def find_oneonone(*, session: Session, workspace_id: int, pm_id: int, stakeholder_id: int) -> OneOnOne | None:
    return session.exec(
        select(OneOnOne).where(
            OneOnOne.workspace_id == workspace_id,
            OneOnOne.pm_id == pm_id,
            OneOnOne.stakeholder_id == stakeholder_id,
            OneOnOne.active == True,  # noqa: E712
        )
    ).first()


def oneonone_between(*, session: Session, workspace_id: int, a: int, b: int) -> OneOnOne | None:
    """The active 1:1 of these two people, whichever of them is the PM."""
    return find_oneonone(
        session=session, workspace_id=workspace_id, pm_id=a, stakeholder_id=b
    ) or find_oneonone(session=session, workspace_id=workspace_id, pm_id=b, stakeholder_id=a)


def oneonones_of(*, session: Session, workspace_id: int, person_id: int) -> list[OneOnOne]:
    return list(
        session.exec(
            select(OneOnOne)
            .where(
                OneOnOne.workspace_id == workspace_id,
                OneOnOne.active == True,  # noqa: E712
                (OneOnOne.pm_id == person_id) | (OneOnOne.stakeholder_id == person_id),
            )
            .order_by(OneOnOne.next_meeting, OneOnOne.id)
        )
    )


def schedule_oneonone(
    *,
    session: Session,
    workspace_id: int,
    pm: Person,
    stakeholder: Person,
    cadence_weeks: int,
    weekday: int,
    now: datetime,
) -> tuple[OneOnOne, bool]:
    """Create the recurring 1:1, or change its cadence and day. Returns (row, created)."""
    if not MIN_CADENCE_WEEKS <= cadence_weeks <= MAX_CADENCE_WEEKS:
        raise ValueError(f"The cadence must be between {MIN_CADENCE_WEEKS} and {MAX_CADENCE_WEEKS} weeks.")
    existing = find_oneonone(
        session=session, workspace_id=workspace_id, pm_id=pm.id, stakeholder_id=stakeholder.id
    )
    if existing is not None:
        if existing.weekday != weekday:
            existing.next_meeting = first_meeting(weekday, pm.tz, now)
        existing.cadence_weeks, existing.weekday = cadence_weeks, weekday
        session.add(existing)
        return existing, False
    row = OneOnOne(
        workspace_id=workspace_id,
        pm_id=pm.id,
        stakeholder_id=stakeholder.id,
        cadence_weeks=cadence_weeks,
        weekday=weekday,
        next_meeting=first_meeting(weekday, pm.tz, now),
    )
    session.add(row)
    session.flush()
    return row, True


def open_items(*, session: Session, oneonone_id: int) -> list[AgendaItem]:
    return list(
        session.exec(
            select(AgendaItem)
            .where(AgendaItem.oneonone_id == oneonone_id, AgendaItem.done == False)  # noqa: E712
            .order_by(AgendaItem.created_at, AgendaItem.id)
        )
    )


def add_item(*, session: Session, oneonone: OneOnOne, added_by: Person, text: str) -> AgendaItem:
    item = AgendaItem(
        workspace_id=oneonone.workspace_id,
        oneonone_id=oneonone.id,
        added_by_id=added_by.id,
        text=text,
        meeting=oneonone.next_meeting,
    )
    session.add(item)
    session.flush()
    return item


def mark_item_done(*, session: Session, item: AgendaItem, by: Person, now: datetime | None = None) -> bool:
    """Compare-and-set: True for the click that marked it; False when it was already done."""
    result = session.exec(
        update(AgendaItem)
        .where(AgendaItem.id == item.id, AgendaItem.done == False)  # noqa: E712
        .values(done=True, done_at=now or utcnow(), done_by_id=by.id)
    )
    session.refresh(item)
    return result.rowcount == 1


def agenda_sent(*, session: Session, oneonone: OneOnOne) -> bool:
    key = agenda_key(oneonone.id, oneonone.next_meeting)
    return bool(claimed_keys(session=session, keys=[key]))
