"""A database that stalls, refuses or holds its write lock, under the real gunicorn process: the person
hears in time that nothing was saved and gets their text back, /healthz says 503, and the bot recovers.

The time bounds here are Slack's contract (an answer after 3 s is thrown away, so the person hears
nothing) and the health check's (2 s): a bot that hangs fails them whatever the machine's speed."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from bot.driver import HttpDriver
from storage.db import INTERACTIVE, make_engine
from storage.models import Occurrence
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server
from tests.faults.db_proxy import DbProxy

SLACK_DEADLINE_S = 3.0
HEALTH_DEADLINE_S = 2.0
UNAVAILABLE = "can't reach my database"


def health(base: str, timeout: float = HEALTH_DEADLINE_S) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def stored_texts(engine) -> list[str]:
    with Session(engine) as s:
        return [o.text for o in s.exec(select(Occurrence).order_by(Occurrence.id))]


def open_form(d, fake, user: str, text: str) -> dict:
    before = len(d.opened_views())
    assert d.command(user, "/request", text).status == 200
    return fake.wait_for(lambda: d.opened_views()[before:])[-1]


def dms_containing(fake, user: str, words: str) -> list:
    return [c for c in fake.posts_to(user) if words in c.args.get("text", "")]


def assert_told_in_time(reply, elapsed: float, typed: str) -> None:
    assert elapsed < SLACK_DEADLINE_S, f"answered after {elapsed:.1f} s: Slack has given up by then"
    assert reply.status == 200
    assert UNAVAILABLE in reply.text and typed in reply.text and "nothing from it is saved" in reply.text


def assert_form_kept_and_text_sent(d, fake, user: str, view: dict, typed: str) -> None:
    reply, elapsed = timed(lambda: d.submit(user, view, {"request": typed, "customer": "Initech"}))
    assert elapsed < SLACK_DEADLINE_S, f"answered after {elapsed:.1f} s"
    # The form stays open with every answer, and says why.
    assert reply.json["response_action"] == "errors"
    assert UNAVAILABLE in reply.json["errors"]["request"]
    # ...and the text comes by DM, in case they close the form.
    dm = fake.wait_for(lambda: dms_containing(fake, user, UNAVAILABLE))
    assert len(dm) == 1 and typed in dm[0].args["text"]


def assert_recovers_and_stores(d, fake, base: str, engine, typed: str) -> None:
    deadline = time.monotonic() + 15
    while health(base, timeout=5)[0] != 200:
        assert time.monotonic() < deadline, "the bot did not recover by itself"
        time.sleep(0.2)
    view = open_form(d, fake, "U9LATER", typed)
    d.submit("U9LATER", view, {"request": typed, "customer": "Globex"})
    fake.wait_for(lambda: typed in stored_texts(engine))
    fake.wait_for(lambda: [c for c in fake.posts_to("U9LATER") if "Logged for" in json.dumps(c.args)])


def test_processes_answering_slack_wait_briefly_for_a_sqlite_lock(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}", patience=INTERACTIVE)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500
    eng.dispose()


@pytest.mark.postgres
def test_a_silent_postgres_is_given_up_on_and_not_dialled_again_at_once(pg_server_url):
    proxy = DbProxy.for_url(pg_server_url).start()
    eng = make_engine(proxy.url(pg_server_url), patience=INTERACTIVE)
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        proxy.stalling()
        started = time.monotonic()
        with pytest.raises(Exception, match="did not answer within|stopped answering"), eng.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        # The next caller is refused at once rather than waiting on the connect timeout again.
        with pytest.raises(Exception, match="stopped answering a moment ago"), eng.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert time.monotonic() - started < 3.0  # a second connect attempt alone would take 2 s
    finally:
        proxy.stop()
        eng.dispose()


@pytest.fixture
def pg_behind_proxy(tmp_path, fake_slack, pg_server_url, pg_engine) -> Iterator[SimpleNamespace]:
    proxy = DbProxy.for_url(pg_server_url).start()
    proc, base = start_server(proxy.url(pg_server_url), fake_slack, tmp_path / "server.log")
    try:
        yield SimpleNamespace(
            proxy=proxy,
            base=base,
            fake=fake_slack,
            engine=pg_engine,  # straight to PostgreSQL, around the proxy
            driver=HttpDriver(base, fake_slack, SIGNING_SECRET),
            log=tmp_path / "server.log",
        )
    finally:
        proxy.passing()
        stop_server(proc)
        proxy.stop()


@pytest.mark.postgres
def test_stalled_postgres_answers_in_time_keeps_the_text_and_recovers(pg_behind_proxy):
    env = pg_behind_proxy
    d, fake, proxy = env.driver, env.fake, env.proxy
    view = open_form(d, fake, "U1REP", "CSV export of the weekly report")
    d.submit("U1REP", view, {"customer": "Acme"})
    fake.wait_for(lambda: stored_texts(env.engine) == ["CSV export of the weekly report"])
    pending = open_form(d, fake, "U2CSM", "SSO with Okta")  # filled in while the database still answers

    proxy.stalling()  # live pooled connections go silent too
    reply, elapsed = timed(lambda: d.command("U3AM", "/request", "Audit log export for SOC2"))
    assert_told_in_time(reply, elapsed, "Audit log export for SOC2")
    reply, elapsed = timed(lambda: d.command("U3AM", "/requests", "mine"))
    assert_told_in_time(reply, elapsed, "/requests mine")
    assert_form_kept_and_text_sent(d, fake, "U2CSM", pending, "SSO with Okta, for the whole company")
    (status, body), elapsed = timed(lambda: health(env.base))
    assert status == 503 and body["ok"] is False and body["database"]
    # Told once each, and only what happened: nothing of the stalled actions was stored.
    assert len(dms_containing(fake, "U2CSM", UNAVAILABLE)) == 1 and not fake.posts_to("U3AM")
    assert stored_texts(env.engine) == ["CSV export of the weekly report"]

    proxy.passing()
    assert_recovers_and_stores(d, fake, env.base, env.engine, "Bulk edit of tags")
    # The form that failed during the stall goes through as it was once the database is back.
    d.submit("U2CSM", pending, {"request": "SSO with Okta, for the whole company", "customer": "Initech"})
    fake.wait_for(lambda: "SSO with Okta, for the whole company" in stored_texts(env.engine))


@pytest.mark.postgres
def test_refused_and_cut_connections_are_answered_and_the_pool_heals(pg_behind_proxy):
    env = pg_behind_proxy
    d, fake, proxy = env.driver, env.fake, env.proxy
    assert d.command("U1REP", "/requests", "mine").status == 200  # the pool now holds a connection

    proxy.refusing()
    reply, elapsed = timed(lambda: d.command("U3AM", "/request", "Slack alerts for failed syncs"))
    assert_told_in_time(reply, elapsed, "Slack alerts for failed syncs")
    assert health(env.base)[0] == 503

    proxy.passing()
    assert_recovers_and_stores(d, fake, env.base, env.engine, "Slack alerts for failed syncs")
    # A failover drops every pooled connection: the next person notices nothing.
    proxy.cut()
    reply = d.command("U1REP", "/requests", "mine")
    assert reply.status == 200 and UNAVAILABLE not in reply.text
    assert health(env.base)[0] == 200


@pytest.fixture
def sqlite_server(tmp_path, fake_slack) -> Iterator[SimpleNamespace]:
    path = tmp_path / "bot.db"
    url = f"sqlite:///{path}"
    proc, base = start_server(url, fake_slack, tmp_path / "server.log")
    engine = make_engine(url)
    try:
        yield SimpleNamespace(
            path=path,
            base=base,
            fake=fake_slack,
            engine=engine,
            driver=HttpDriver(base, fake_slack, SIGNING_SECRET),
        )
    finally:
        stop_server(proc)
        engine.dispose()


def test_sqlite_write_lock_held_elsewhere_is_answered_in_time_and_released(sqlite_server):
    env = sqlite_server
    d, fake = env.driver, env.fake
    view = open_form(d, fake, "U1REP", "CSV export of the weekly report")
    d.submit("U1REP", view, {"customer": "Acme"})
    fake.wait_for(lambda: stored_texts(env.engine) == ["CSV export of the weekly report"])
    pending = open_form(d, fake, "U2CSM", "SSO with Okta")

    # Another process (a migration, a stuck script) takes the write lock and keeps it.
    other = sqlite3.connect(env.path, isolation_level=None, timeout=10)
    other.execute("BEGIN IMMEDIATE")
    try:
        reply, elapsed = timed(lambda: d.command("U3AM", "/request", "Audit log export for SOC2"))
        assert_told_in_time(reply, elapsed, "Audit log export for SOC2")
        assert_form_kept_and_text_sent(d, fake, "U2CSM", pending, "SSO with Okta, for the whole company")
        (status, body), elapsed = timed(lambda: health(env.base))
        assert status == 503 and "locked" in body["database"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert stored_texts(env.engine) == ["CSV export of the weekly report"]
    assert_recovers_and_stores(d, fake, env.base, env.engine, "Bulk edit of tags")
