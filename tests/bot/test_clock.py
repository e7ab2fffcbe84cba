"""The clock: catch-up within the grace period, skips after it, DST weeks, other time zones, run modes."""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from bot import clock
from bot.app import build_deps
from bot.clock import run_due, start_in_process
from storage import schedule
from storage.db import session_scope
from storage.models import OneOnOne, Outbox, Person, ProductArea, ScheduledSend, Workspace, utcnow
from tests.conftest import test_settings

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def add_pm(engine, user: str, tz: str, cadence="weekly", weekday=0, hour=9) -> int:
    with session_scope(engine) as s:
        ws = s.exec(select(Workspace)).first()
        if ws is None:
            ws = Workspace(team_id="T0PARTNER")
            s.add(ws)
            s.flush()
        person = Person(
            workspace_id=ws.id,
            slack_user_id=user,
            name=user,
            tz=tz,
            is_pm=True,
            digest_cadence=cadence,
            digest_weekday=weekday,
            digest_hour=hour,
            created_at=LONG_AGO,
        )
        s.add(person)
        s.flush()
        s.add(
            ProductArea(
                workspace_id=ws.id, name=f"Area {user}", name_key=f"area {user.lower()}", pm_id=person.id
            )
        )
        return person.id


def add_oneonone(engine, pm_id: int, stakeholder: str, meeting: date, weeks: int = 2) -> int:
    with session_scope(engine) as s:
        pm = s.get(Person, pm_id)
        other = Person(
            workspace_id=pm.workspace_id, slack_user_id=stakeholder, name=stakeholder, created_at=LONG_AGO
        )
        s.add(other)
        s.flush()
        row = OneOnOne(
            workspace_id=pm.workspace_id,
            pm_id=pm_id,
            stakeholder_id=other.id,
            cadence_weeks=weeks,
            weekday=meeting.weekday(),
            next_meeting=meeting,
            created_at=LONG_AGO,
        )
        s.add(row)
        s.flush()
        return row.id


def claims(engine, kind: str | None = None) -> dict[str, datetime]:
    with Session(engine) as s:
        stmt = select(ScheduledSend)
        if kind:
            stmt = stmt.where(ScheduledSend.kind == kind)
        return {r.key: r.claimed_at for r in s.exec(stmt)}


def of(got: dict[str, datetime], person_id: int, first: str, last: str) -> dict[str, datetime]:
    """Digest claims of one PM for local dates first..last (ISO strings compare as dates)."""
    prefix = f"digest:{person_id}:"
    return {
        k[len(prefix) :]: v
        for k, v in got.items()
        if k.startswith(prefix) and first <= k[len(prefix) :] <= last
    }


def step(deps, start: datetime, end: datetime, minutes: int = 30) -> int:
    queued, now = 0, start
    while now <= end:
        queued += run_due(deps, now)
        now += timedelta(minutes=minutes)
    return queued


def test_missed_runs_are_caught_up_within_the_grace_period_and_skipped_after(bolt, caplog):
    engine = bolt.deps.engine
    late = add_pm(engine, "ULATE", "America/New_York")
    add_pm(engine, "UTOOLATE", "Europe/Berlin")
    # Monday Nov 30 09:00 NY = 14:00 UTC; 09:00 Berlin = 08:00 UTC. The clock comes back at Tue 13:30 UTC.
    caplog.set_level(logging.WARNING, logger="storage.schedule")
    assert run_due(bolt.deps, utc(2026, 12, 1, 13, 30)) == 1
    assert run_due(bolt.deps, utc(2026, 12, 1, 13, 31)) == 0
    assert set(claims(engine, "digest")) == {f"digest:{late}:2026-11-30"}
    skipped = claims(engine, "digest_skipped")
    assert len(skipped) == 1 and next(iter(skipped)).endswith(":2026-11-30")
    assert (
        sum("past its grace period" in r.message for r in caplog.records) == 1
    )  # said once, not every minute
    bolt.deps.worker.drain()
    assert len(bolt.fake.posts_to("ULATE")) == 1 and not bolt.fake.posts_to("UTOOLATE")


def test_dst_spring_forward_week_new_york(bolt):
    engine = bolt.deps.engine
    daily9 = add_pm(engine, "UNINE", "America/New_York", cadence="daily", hour=9)
    daily2 = add_pm(engine, "UTWO", "America/New_York", cadence="daily", hour=2)
    weekly = add_pm(engine, "UWEEK", "America/New_York", cadence="weekly", weekday=0, hour=9)
    monday = add_oneonone(engine, weekly, "USTAKE1", date(2027, 3, 15))  # agenda Fri Mar 12, 09:00 EST
    tuesday = add_oneonone(engine, weekly, "USTAKE2", date(2027, 3, 16))  # agenda Mon Mar 15, 09:00 EDT
    step(bolt.deps, utc(2027, 3, 10, 12), utc(2027, 3, 17, 12))
    got = claims(engine)
    # Tuesday's 09:00 was missed (the clock starts Wednesday 08:00 local): caught up at once, within 24 h.
    assert of(got, daily9, "2027-03-09", "2027-03-09") == {"2027-03-09": utc(2027, 3, 10, 12)}
    nine = of(got, daily9, "2027-03-10", "2027-03-17")
    assert len(nine) == 7
    assert {t.astimezone(schedule.zone("America/New_York")).hour for t in nine.values()} == {9}
    assert nine["2027-03-12"] == utc(2027, 3, 12, 14) and nine["2027-03-15"] == utc(
        2027, 3, 15, 13
    )  # EST, EDT
    two = of(got, daily2, "2027-03-11", "2027-03-17")
    assert len(two) == 7 and two["2027-03-14"] == utc(2027, 3, 14, 7)  # 02:00 didn't exist: 03:00 EDT
    assert got[f"digest:{weekly}:2027-03-15"] == utc(2027, 3, 15, 13)
    assert got[f"agenda:{monday}:2027-03-15"] == utc(2027, 3, 12, 14)
    assert got[f"agenda:{tuesday}:2027-03-16"] == utc(2027, 3, 15, 13)
    bolt.deps.worker.drain()
    with Session(engine) as s:
        # daily 09:00: 8 (one caught up), daily 02:00: 8 (Mar 10 to 17), weekly: 1, agendas: 2.
        assert len(s.exec(select(Outbox)).all()) == 8 + 8 + 1 + 2


def test_dst_fall_back_week_new_york(bolt):
    engine = bolt.deps.engine
    daily1 = add_pm(engine, "UONE", "America/New_York", cadence="daily", hour=1)
    daily9 = add_pm(engine, "UNINE", "America/New_York", cadence="daily", hour=9)
    step(bolt.deps, utc(2026, 10, 29, 12), utc(2026, 11, 4, 12))
    got = claims(engine)
    one = of(got, daily1, "2026-10-30", "2026-11-04")
    assert len(one) == 6 and one["2026-11-01"] == utc(2026, 11, 1, 5)  # the first of the two 01:00s (EDT)
    assert one["2026-11-02"] == utc(2026, 11, 2, 6)  # 01:00 EST
    nine = of(got, daily9, "2026-10-29", "2026-11-03")
    assert len(nine) == 6 and {
        t.astimezone(schedule.zone("America/New_York")).hour for t in nine.values()
    } == {9}
    assert nine["2026-10-30"] == utc(2026, 10, 30, 13) and nine["2026-11-02"] == utc(2026, 11, 2, 14)


def test_pms_in_other_time_zones(bolt):
    engine = bolt.deps.engine
    kolkata = add_pm(engine, "UKOL", "Asia/Kolkata")
    auckland = add_pm(engine, "UAKL", "Pacific/Auckland")
    akl_meeting = add_oneonone(engine, auckland, "USTAKE", date(2027, 4, 6))  # agenda Mon Apr 5, 09:00 NZST
    # Auckland leaves daylight time on Sunday Apr 4 2027 (UTC+13 -> UTC+12).
    step(bolt.deps, utc(2027, 3, 27), utc(2027, 4, 7))
    got = claims(engine)
    assert got[f"digest:{kolkata}:2027-03-29"] == utc(2027, 3, 29, 3, 30)
    assert got[f"digest:{kolkata}:2027-04-05"] == utc(2027, 4, 5, 3, 30)
    assert got[f"digest:{auckland}:2027-03-29"] == utc(2027, 3, 28, 20)  # NZDT
    assert got[f"digest:{auckland}:2027-04-05"] == utc(2027, 4, 4, 21)  # NZST
    assert got[f"agenda:{akl_meeting}:2027-04-06"] == utc(2027, 4, 4, 21)
    bolt.deps.worker.drain()
    assert len(bolt.fake.posts_to("UKOL")) == 2 and len(bolt.fake.posts_to("UAKL")) == 2


def _due_this_hour(engine) -> None:
    now = utcnow()
    add_pm(engine, "UNOW", "UTC", cadence="daily", hour=now.hour)


def test_start_in_process_runs_at_once_and_every_minute(bolt):
    _due_this_hour(bolt.deps.engine)
    scheduler = start_in_process(bolt.deps)
    try:
        job = scheduler.get_job(clock.JOB_ID)
        assert job.trigger.interval == timedelta(minutes=1)
        deadline = time.monotonic() + 10
        while not claims(bolt.deps.engine, "digest") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(claims(bolt.deps.engine, "digest")) == 1
    finally:
        scheduler.shutdown(wait=True)
    bolt.deps.worker.drain()
    assert len(bolt.fake.posts_to("UNOW")) == 1


def test_clock_main_once_queues_and_delivers(fake_slack, sqlite_url, capsys):
    settings = test_settings(fake_slack, sqlite_url)
    deps = build_deps(settings, start_worker=False)
    _due_this_hour(deps.engine)
    deps.engine.dispose()
    assert clock.main(["--once"], settings) == 0
    assert "queued 1" in capsys.readouterr().out
    fake_slack.wait_for(lambda: fake_slack.posts_to("UNOW"))
    assert clock.main(["--once"], settings) == 0
    assert "queued 0" in capsys.readouterr().out
    assert len(fake_slack.posts_to("UNOW")) == 1
