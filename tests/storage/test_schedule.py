"""Due-time computations (time zones, DST) and the claims that make a send happen once, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from storage import people, schedule
from storage.db import session_scope
from storage.models import OneOnOne, Person, ScheduledSend

NY = "America/New_York"


def pm(tz=NY, cadence="weekly", weekday=0, hour=9, pid=7) -> Person:
    return Person(
        id=pid,
        workspace_id=1,
        slack_user_id="UPM",
        tz=tz,
        is_pm=True,
        digest_cadence=cadence,
        digest_weekday=weekday,
        digest_hour=hour,
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
    )


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_digest_stays_at_nine_local_across_both_dst_changes():
    person = pm()
    # Fall back: Sunday Nov 1 2026. Monday Oct 26 09:00 EDT = 13:00 UTC; Monday Nov 2 09:00 EST = 14:00 UTC.
    assert schedule.digest_period(person, utc(2026, 10, 26, 13, 0)) == (
        date(2026, 10, 26),
        utc(2026, 10, 26, 13),
    )
    assert schedule.digest_period(person, utc(2026, 11, 2, 13, 30))[0] == date(2026, 10, 26)
    assert schedule.digest_period(person, utc(2026, 11, 2, 14, 0)) == (
        date(2026, 11, 2),
        utc(2026, 11, 2, 14),
    )
    # Spring forward: Sunday Mar 14 2027. Monday Mar 15 09:00 EDT = 13:00 UTC.
    assert schedule.digest_period(person, utc(2027, 3, 15, 13)) == (date(2027, 3, 15), utc(2027, 3, 15, 13))
    assert schedule.next_digest_at(person, utc(2027, 3, 10)) == utc(2027, 3, 15, 13)


def test_nonexistent_and_ambiguous_local_times_fire_once():
    # 02:30 does not exist on Mar 14 2027 in New York: it fires at 07:30 UTC (03:30 EDT).
    assert schedule.at_local(date(2027, 3, 14), 2, NY, minute=30) == utc(2027, 3, 14, 7, 30)
    # 01:30 happens twice on Nov 1 2026: the first one (EDT, 05:30 UTC).
    assert schedule.at_local(date(2026, 11, 1), 1, NY, minute=30) == utc(2026, 11, 1, 5, 30)
    # A daily 02:00 digest, stepped every 30 minutes through the spring-forward day: one due time that day.
    person = pm(cadence="daily", hour=2)
    periods = {
        schedule.digest_period(person, utc(2027, 3, 13, 12) + timedelta(minutes=30 * i)) for i in range(96)
    }
    assert (date(2027, 3, 14), utc(2027, 3, 14, 7)) in periods
    assert len([p for p in periods if p[0] == date(2027, 3, 14)]) == 1


def test_other_time_zones_and_unknown_ones():
    # Monday 09:00 in Kolkata (UTC+5:30) is 03:30 UTC; in Auckland (NZDT, UTC+13) it is Sunday 20:00 UTC.
    assert schedule.digest_period(pm("Asia/Kolkata"), utc(2026, 11, 30, 3, 30))[1] == utc(2026, 11, 30, 3, 30)
    assert schedule.digest_period(pm("Pacific/Auckland"), utc(2026, 11, 29, 20)) == (
        date(2026, 11, 30),
        utc(2026, 11, 29, 20),
    )
    assert schedule.digest_period(pm("Not/AZone"), utc(2026, 11, 30, 9)) == (
        date(2026, 11, 30),
        utc(2026, 11, 30, 9),
    )
    assert schedule.digest_period(pm(cadence="off"), utc(2026, 11, 30, 12)) is None


def test_grace_period_and_keys():
    person = pm()
    due = schedule.digest_due(person, utc(2026, 11, 30, 14))
    assert due.key == "digest:7:2026-11-30" and not due.late
    assert not schedule.digest_due(person, utc(2026, 12, 1, 13, 59)).late  # 23h59 late: still sent
    assert schedule.digest_due(person, utc(2026, 12, 1, 14, 1)).late  # over 24 h: skipped
    # Agenda: due from 09:00 the working day before until the end of the meeting day.
    meeting = OneOnOne(id=3, workspace_id=1, pm_id=7, stakeholder_id=8, next_meeting=date(2026, 11, 30))
    assert schedule.agenda_due(meeting, NY, utc(2026, 11, 27, 13, 59)) is None  # Fri 08:59
    assert schedule.agenda_due(meeting, NY, utc(2026, 11, 27, 14)).key == "agenda:3:2026-11-30"
    assert not schedule.agenda_due(meeting, NY, utc(2026, 12, 1, 4, 59)).late  # Mon 23:59 local
    assert schedule.agenda_due(meeting, NY, utc(2026, 12, 1, 5)).late


def test_claims_are_won_once_even_concurrently(engine):
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def contender(i: int) -> None:
        barrier.wait()
        with session_scope(engine) as s:
            results.append(
                schedule.claim(
                    session=s, key="digest:1:2026-11-30", kind="digest", workspace_id=None, claimed_by=f"c{i}"
                )
            )

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    with Session(engine) as s:
        assert len(s.exec(select(ScheduledSend)).all()) == 1
        assert schedule.claimed_keys(session=s, keys=["digest:1:2026-11-30", "x"]) == {"digest:1:2026-11-30"}


def test_meetings_advance_once_by_the_cadence(engine):
    with session_scope(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        a = people.ensure_person(session=s, workspace=ws, slack_user_id="UA", tz=NY)
        b = people.ensure_person(session=s, workspace=ws, slack_user_id="UB")
        row, created = schedule.schedule_oneonone(
            session=s,
            workspace_id=ws.id,
            pm=a,
            stakeholder=b,
            cadence_weeks=2,
            weekday=1,
            now=utc(2026, 11, 22, 12),
        )
        assert created and row.next_meeting == date(2026, 11, 24)
        row_id = row.id
    # Two clocks read the row; the clock was down for five weeks. The first moves it to the first meeting
    # not yet past; the second (with what it read before) moves nothing and sees the new dates.
    with session_scope(engine) as s:
        stale = s.get(OneOnOne, row_id)
    with session_scope(engine) as s:
        first = s.get(OneOnOne, row_id)
        assert schedule.advance_meeting(session=s, oneonone=first, pm_tz=NY, now=utc(2026, 12, 30, 12))
    with session_scope(engine) as s:
        s.add(stale)
        assert stale.next_meeting == date(2026, 11, 24)
        assert not schedule.advance_meeting(session=s, oneonone=stale, pm_tz=NY, now=utc(2026, 12, 30, 12))
        assert stale.next_meeting == date(2027, 1, 5) and stale.last_meeting == date(2026, 12, 22)
