"""storage.db.one_writer: on SQLite, short write transactions queue on a lock beside the database file
(within a process and across processes) rather than in SQLite's sleeping busy handler; a session that has
written already never waits there (it holds SQLite's own lock: waiting would stall both)."""

from __future__ import annotations

import multiprocessing
import threading

from sqlmodel import Session, select

from storage import people
from storage.db import make_engine, one_writer
from storage.models import Workspace


def _hold(url: str, held, release) -> None:  # noqa: ANN001 (multiprocessing events)
    engine = make_engine(url)
    with Session(engine) as session, one_writer(session):
        people.ensure_workspace(session=session, team_id="THELD")
        session.commit()
        held.set()
        release.wait(30)
    engine.dispose()


def test_a_writer_in_another_process_is_waited_for_then_both_writes_are_kept(sqlite_url):
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no lock held by another thread at fork
    held, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(sqlite_url, held, release))
    other.start()
    try:
        assert held.wait(30)
        engine = make_engine(sqlite_url)
        wrote = threading.Event()

        def write() -> None:
            with Session(engine) as session, one_writer(session):
                people.ensure_workspace(session=session, team_id="TMINE")
                session.commit()
            wrote.set()

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        assert not wrote.wait(0.5)  # queued behind the other process
        release.set()
        assert wrote.wait(30)
        with Session(engine) as session:
            teams = set(session.exec(select(Workspace.team_id)))
        assert {"THELD", "TMINE"} <= teams
        engine.dispose()
    finally:
        release.set()
        other.join(30)
    assert other.exitcode == 0


def _held(engine) -> tuple[threading.Thread, threading.Event]:  # noqa: ANN001
    """A thread inside one_writer until the returned event is set."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with Session(engine) as session, one_writer(session):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(30)
    return holder, release


def test_a_session_that_has_written_does_not_wait(sqlite_url):
    engine = make_engine(sqlite_url)
    holder, release = _held(engine)
    done = threading.Event()

    def write_then_enter() -> None:
        with Session(engine) as session:
            session.add(Workspace(team_id="TFIRST"))
            session.flush()  # its INSERT began the transaction: SQLite's write lock is this session's
            with one_writer(session):
                session.commit()
        done.set()

    writer = threading.Thread(target=write_then_enter, daemon=True)
    writer.start()
    try:
        assert done.wait(10)  # did not queue behind the holder
    finally:
        release.set()
        holder.join(30)
        writer.join(30)
    engine.dispose()


def test_postgres_sessions_never_queue(pg_engine):
    holder, release = _held(pg_engine)
    try:
        with Session(pg_engine) as session, one_writer(session):
            people.ensure_workspace(session=session, team_id="TPG")
            session.commit()
    finally:
        release.set()
        holder.join(30)
