"""Issue 4 end to end over signed HTTP: PM decisions, thank-yous through a misbehaving Slack exactly once,
"not yet" to every requester, deactivated users reported to the PM, and a delivery worker killed mid-send
then restarted without duplicates (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.fake_slack import TEAM_ID
from bot.payloads import buttons_in
from storage import people
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, Outbox, utcnow
from tests.e2e.conftest import ROOT, start_server, stop_server


def make_pm(d):
    reply = d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting")
    assert "now a PM" in reply.text, reply.text


def seed(engine, n, *, thread=lambda i: None, customer=lambda i: f"Customer {i % 7}") -> int:
    """One request, logged once by each of n people (some from a message, in a thread)."""
    with session_scope(engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        area = people.get_area(session=s, workspace_id=ws.id, name="Reporting")
        req = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
        for i in range(n):
            person = people.ensure_person(
                session=s, workspace=ws, slack_user_id=f"U{i:03d}REP", name=f"Rep {i}"
            )
            where = thread(i)
            fields = dict(channel_id=where[0], message_ts=where[1]) if where else {}
            occ = store.record_occurrence(
                session=s,
                request=req,
                logged_by_id=person.id,
                text="CSV export",
                customer=customer(i),
                **fields,
            )
            occ.created_at = utcnow() - timedelta(days=3)
        return req.id


def thanks_keys(fake) -> Counter:
    keys: Counter = Counter()
    with fake._lock:
        for messages in fake.messages.values():
            for m in messages:
                key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")
                if key.startswith("thanks:"):
                    keys[key] += 1
    return keys


def ship(d, request_id, user="UPM", answers=None):
    listing = d.command(user, "/requests", "Reporting").json["blocks"]
    shipped = next(
        b for b in buttons_in(listing) if b["action_id"] == "req_shipped" and b["value"] == str(request_id)
    )
    before = len(d.opened_views())
    d.click(user, shipped, channel="C0GENERAL")
    view = d.fake.wait_for(lambda: d.opened_views()[before:])[-1]
    reply = d.submit(user, view, answers or {"note": "It's under Reports > Export"})
    assert reply.status == 200 and not reply.json.get("errors"), reply.body
    return view


def texts_to(fake, user) -> list[str]:
    return [json.dumps(c.args, ensure_ascii=False) for c in fake.posts_to(user)]


@pytest.mark.parametrize("server", ["postgres"], indirect=True)
def test_every_thank_you_arrives_exactly_once_through_429s_and_500s(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    n = 12
    rid = seed(server.engine, n, thread=lambda i: ("CSALES", f"1700000000.{i:06d}") if i % 3 == 0 else None)
    # Someone who is not a PM cannot ship it.
    listing = d.command("U001REP", "/requests", "Reporting").json["blocks"]
    assert not buttons_in(listing) and "heard 12×" in json.dumps(listing, ensure_ascii=False)
    d.click("U001REP", {"action_id": "req_shipped", "value": str(rid)}, channel="C0GENERAL")
    fake.wait_for(
        lambda: [c for c in fake.calls_to("chat.postEphemeral") if "Only PMs can" in c.args["text"]]
    )

    posts = Counter()
    lock = threading.Lock()

    def flaky(method, args):
        if method != "chat.postMessage":
            return None
        with lock:
            posts["n"] += 1
            k = posts["n"]
        if k % 4 == 1:
            return 500, {}, {"ok": False, "error": "internal_error"}
        if k % 5 == 2:
            return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
        return None

    fake.failure_rules.append(flaky)
    ship(d, rid)
    keys = fake.wait_for(lambda: len(thanks_keys(fake)) == n and thanks_keys(fake), timeout=40)
    summary = fake.wait_for(lambda: [t for t in texts_to(fake, "UPM") if "thanked" in t], timeout=20)
    time.sleep(1.5)  # anything still due would have gone out by now
    keys = thanks_keys(fake)
    assert len(keys) == n and set(keys.values()) == {1}, keys
    assert [c.status for c in fake.calls if c.method == "chat.postMessage"].count(500) >= 2
    assert any(c.status == 429 for c in fake.calls)
    assert (
        "thanked 12 people across 7 accounts" in summary[0]
        and "4 in their original thread, 8 by DM" in summary[0]
    )
    in_thread = fake.posts_to("CSALES")
    assert len(in_thread) == 4 and all(c.args["thread_ts"].startswith("1700000000.") for c in in_thread)
    with Session(server.engine) as s:
        rows = s.exec(select(Outbox).where(Outbox.key.startswith("thanks:"))).all()
        assert len(rows) == n and {r.status for r in rows} == {"sent"}
        assert s.get(FeatureRequest, rid).status == "shipped"
    mine = d.command("U003REP", "/requests", "mine")
    assert "*shipped*" in json.dumps(
        mine.json["blocks"], ensure_ascii=False
    ) and "It's under Reports &gt; Export" in json.dumps(mine.json["blocks"])


def test_not_yet_reaches_everyone_and_who_cannot_be_reached_is_reported_to_the_pm(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    fake.deactivated_users.add("U001REP")
    fake.missing_channels.add("CGONE")
    rid = seed(server.engine, 3, thread=lambda i: ("CGONE", "1700000000.000100") if i == 2 else None)
    listing = d.command("UPM", "/requests", "Reporting").json["blocks"]
    not_yet = next(b for b in buttons_in(listing) if b["action_id"] == "req_not_yet")
    before = len(d.opened_views())
    d.click("UPM", not_yet, channel="C0GENERAL")
    view = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    assert d.submit("UPM", view, {"reason": "Q3 goes to onboarding"}).status == 200
    for user in ("U000REP", "U002REP"):
        note = fake.wait_for(lambda u=user: [t for t in texts_to(fake, u) if "Q3 goes to onboarding" in t])
        assert "your 1 occurrence stays counted" in note[0]
    report = fake.wait_for(lambda: [t for t in texts_to(fake, "UPM") if "couldn't deliver" in t])
    assert "<@U001REP>" in report[0] and "deactivated" in report[0] and "not yet" in report[0]

    ship(d, rid)
    # The thread is gone: the thank-you goes to a DM instead.
    fallback = fake.wait_for(lambda: [t for t in texts_to(fake, "U002REP") if "finally shipped" in t])
    assert len(fallback) == 1
    reports = fake.wait_for(
        lambda: [t for t in texts_to(fake, "UPM") if "couldn't deliver the thank-you" in t]
    )
    assert len(reports) == 1 and "<@U001REP>" in reports[0] and "Customer 1" in reports[0]
    with Session(server.engine) as s:
        failed = s.exec(select(Outbox).where(Outbox.status == "failed")).all()
        assert {r.last_error.split(" ")[0] for r in failed} == {"user_disabled", "channel_not_found"}


def _worker(url, fake, log_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-e2e",
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=url,
        OUTBOX_LEASE_SECONDS="2",
        OUTBOX_POST_TIMEOUT="1",
        OUTBOX_SETTLE_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    log = open(log_path, "ab")  # noqa: SIM115 (handed to the worker process)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.delivery", "--concurrency", "4", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_a_worker_killed_mid_send_and_restarted_sends_the_rest_exactly_once(
    db, request, tmp_path, fake_slack
):
    if db == "postgres":
        url = request.getfixturevalue("pg_server_url")
        request.getfixturevalue("pg_engine")
    else:
        url = f"sqlite:///{tmp_path / 'kill.db'}"
    from bot.driver import HttpDriver
    from storage.db import make_engine
    from tests.conftest import SIGNING_SECRET

    proc, base = start_server(url, fake_slack, tmp_path / "server.log", extra_env={"DELIVERY_WORKER": "0"})
    engine = make_engine(url)
    try:
        d = HttpDriver(base, fake_slack, SIGNING_SECRET)
        make_pm(d)
        n = 30
        seed(engine, n, thread=lambda i: (f"C{i % 3}", f"1700000000.{i:06d}") if i % 5 == 0 else None)
        with Session(engine) as s:
            rid = s.exec(select(FeatureRequest.id)).first()
        ship(d, rid)
        with Session(engine) as s:
            assert len(s.exec(select(Outbox).where(Outbox.key.startswith("thanks:"))).all()) == n
        assert not thanks_keys(fake_slack)  # the web process does not deliver: the worker does

        # Slack stores each message, then takes a while to answer: the kill lands between the two.
        fake_slack.post_response_delay = 0.4
        worker = _worker(url, fake_slack, tmp_path / "worker.log")
        fake_slack.wait_for(lambda: len(thanks_keys(fake_slack)) >= 8, timeout=30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        fake_slack.post_response_delay = 0.0
        with Session(engine) as s:
            rows = {r.key: r for r in s.exec(select(Outbox).where(Outbox.key.startswith("thanks:")))}
        in_slack = set(thanks_keys(fake_slack))
        limbo = [k for k, r in rows.items() if r.status == "sending" and k in in_slack]
        assert limbo, "the kill should leave messages that reached Slack but were not marked sent"
        assert len(in_slack) < n

        restarted = _worker(url, fake_slack, tmp_path / "worker2.log", "--once")
        assert restarted.wait(timeout=60) == 0, (tmp_path / "worker2.log").read_text()[-2000:]
        keys = thanks_keys(fake_slack)
        assert len(keys) == n and set(keys.values()) == {1}, keys
        with Session(engine) as s:
            statuses = Counter(
                r.status for r in s.exec(select(Outbox).where(Outbox.key.startswith("thanks:")))
            )
            assert statuses == {"sent": n}
            for key in limbo:
                row = s.exec(select(Outbox).where(Outbox.key == key)).one()
                assert "not posted again" in row.last_error
        assert "found_already_sent" in (tmp_path / "worker2.log").read_text()
        assert any("thanked 30 people" in t for t in texts_to(fake_slack, "UPM"))
    finally:
        stop_server(proc)
        engine.dispose()
