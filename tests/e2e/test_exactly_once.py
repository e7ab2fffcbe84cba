"""Issue 9, item 4 end to end: whatever Slack or a person sends twice — an event and its retries, a slash
command, a form, a "Same thing?" answer, Planned, Not yet, Shipped — acts once. Each is sent one after the
other and all at once to the real gunicorn server with 2 workers, on SQLite and PostgreSQL; the checks are
on the rows stored and on what the fake Slack received."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from sqlmodel import Session, func, select

from bot.driver import HttpDriver, Reply
from bot.fake_slack import FakeSlack
from bot.payloads import buttons_in, new_event_id, new_trigger_id
from storage.db import make_engine
from storage.models import (
    Draft,
    FeatureRequest,
    HandledPayload,
    Occurrence,
    Outbox,
    RequestDecision,
    Workspace,
)
from tests.conftest import SIGNING_SECRET, _empty_tables
from tests.e2e.conftest import start_server, stop_server

MODES = ["one_after_the_other", "at_once"]
_teams = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """One database per module; each test's workspace is an installation of its own (below)."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_server_url")
        _empty_tables(request.getfixturevalue("_pg_engine"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('once') / 'once.db'}"
    engine = make_engine(url)
    try:
        yield SimpleNamespace(url=url, engine=engine, logs=tmp_path_factory.mktemp("once-log"))
    finally:
        engine.dispose()


@pytest.fixture
def world(live) -> Iterator[SimpleNamespace]:
    """A fresh workspace with its own people: an admin, a PM owning Reporting, two reps. A bot token
    belongs to one installation, so each workspace is its own 2-worker server (and fake Slack) on the
    module's database."""
    n = next(_teams)
    team = f"T{n:03d}ONCE"
    fake = FakeSlack(team_id=team).start()
    log_path = live.logs / f"server-{team}.log"
    proc, base = start_server(live.url, fake, log_path, workers=2)
    w = SimpleNamespace(
        team=team,
        admin=f"U{n:03d}ADMIN",
        pm=f"U{n:03d}PM",
        reps=[f"U{n:03d}REPA", f"U{n:03d}REPB"],
        d=HttpDriver(base, fake, SIGNING_SECRET, team_id=team),
        fake=fake,
        engine=live.engine,
        log=log_path,
    )
    try:
        reply = w.d.command(w.admin, "/partnerbot", f"pm add <@{w.pm}|pat> Reporting", team_id=w.team)
        assert "now a PM" in reply.text, reply.text
        yield w
    finally:
        stop_server(proc)
        fake.stop()


def send(mode: str, calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Each call in turn, or all released together from as many threads (so both workers get some)."""
    if mode == "one_after_the_other":
        return [call() for call in calls]
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        replies[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in replies)
    return replies  # type: ignore[return-value]


def ok(replies: list[Reply]) -> None:
    """Slack gets a 200 for every copy, the duplicates too (anything else makes it retry)."""
    assert [r.status for r in replies] == [200] * len(replies), [r.body for r in replies]


def count(w, model, *where) -> int:
    with Session(w.engine) as s:
        ws = s.exec(select(Workspace).where(Workspace.team_id == w.team)).one()
        column = model.workspace_id
        return s.exec(select(func.count()).select_from(model).where(column == ws.id, *where)).one()


def settled(w) -> None:
    """Everything queued for this workspace has been delivered (or given up on)."""

    def done() -> bool:
        return count(w, Outbox, Outbox.status.in_(["pending", "sending"])) == 0

    w.fake.wait_for(done, timeout=30)


def texts_to(w, user: str) -> list[str]:
    return [json.dumps(c.args, ensure_ascii=False) for c in w.fake.posts_to(user)]


def ephemerals_to(w, user: str) -> list[str]:
    return [
        c.args.get("text", "") for c in w.fake.calls_to("chat.postEphemeral") if c.args.get("user") == user
    ]


def open_form(w, user: str, text: str) -> dict:
    trigger = new_trigger_id()
    w.d.command(user, "/request", text, team_id=w.team, trigger_id=trigger)
    return views_opened_by(w, trigger)[0]


def views_opened_by(w, trigger: str) -> list[dict]:
    return [c.response["view"] for c in w.fake.calls_to("views.open") if c.args.get("trigger_id") == trigger]


def logged_twice(w) -> int:
    """One request, logged by both reps (the second confirmed it as the same thing); returns its id."""
    view = open_form(w, w.reps[0], "CSV export of the weekly report")
    assert w.d.submit(w.reps[0], view, {"customer": "Acme"}, team_id=w.team).status == 200
    view = open_form(w, w.reps[1], "CSV export of the weekly report")
    step = w.d.submit(w.reps[1], view, {"customer": "Globex"}, team_id=w.team).json["view"]
    choice = step["blocks"][1]["element"]["options"][0]["value"]
    assert choice.startswith("req:")
    reply = w.d.submit(
        w.reps[1], {**step, "id": view["id"], "hash": "step1"}, {"choice": choice}, team_id=w.team
    )
    assert reply.status == 200 and not reply.json.get("errors"), reply.body
    settled(w)
    return int(choice[4:])


def pm_button(w, request_id: int, action_id: str) -> dict:
    listing = w.d.command(w.pm, "/requests", "Reporting", team_id=w.team).json["blocks"]
    return next(
        b for b in buttons_in(listing) if b["action_id"] == action_id and b["value"] == str(request_id)
    )


def decision_form(w, request_id: int, action_id: str) -> dict:
    before = len(w.d.opened_views())
    w.d.click(w.pm, pm_button(w, request_id, action_id), channel="C0GENERAL", team_id=w.team)
    return w.fake.wait_for(lambda: w.d.opened_views()[before:])[-1]


# -- events ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_a_memo_reaction_retried_three_times_offers_to_log_it_once(world, mode):
    w = world
    rep = w.reps[0]
    channel = f"C{w.team}"
    w.fake.messages[channel].append(
        {"type": "message", "ts": "1700000001.000100", "user": w.reps[1], "text": "Prospect needs SSO"}
    )
    event = {
        "type": "reaction_added",
        "user": rep,
        "reaction": "memo",
        "item": {"type": "message", "channel": channel, "ts": "1700000001.000100"},
    }
    event_id = new_event_id()
    ok(
        send(
            mode,
            [
                lambda i=i: w.d.event(event, team_id=w.team, event_id=event_id, retry_num=i)
                for i in range(4)  # the delivery and Slack's 3 retries
            ],
        )
    )
    # The offer is made after Slack has its 200 (a lazy listener): wait for it.
    offers = w.fake.wait_for(lambda: [t for t in texts_to(w, rep) if "Log as request" in t])
    assert len(offers) == 1 and "Prospect needs SSO" in offers[0]

    def settled() -> HandledPayload | None:  # marked done just after the answer (handlers/once.py)
        with Session(w.engine) as s:
            claim = s.exec(
                select(HandledPayload).where(HandledPayload.key == f"event:{w.team}:{event_id}")
            ).one()
            return claim if claim.done_at is not None else None

    assert w.fake.wait_for(settled).kind == "event"
    # Another reaction is another event: it is offered again (and the retries still never were).
    w.d.event(event, team_id=w.team)
    w.fake.wait_for(lambda: len([t for t in texts_to(w, rep) if "Log as request" in t]) >= 2)
    assert len([t for t in texts_to(w, rep) if "Log as request" in t]) == 2


# -- slash commands and the request form --------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_a_slash_command_sent_twice_with_one_trigger_opens_one_form(world, mode):
    w = world
    rep, trigger = w.reps[0], new_trigger_id()
    ok(
        send(
            mode,
            [lambda: w.d.command(rep, "/request", "Bulk edit of tags", team_id=w.team, trigger_id=trigger)]
            * 2,
        )
    )
    assert len(views_opened_by(w, trigger)) == 1
    assert count(w, Draft) == 1


@pytest.mark.parametrize("mode", MODES)
def test_the_request_form_submitted_twice_stores_one_request_and_one_receipt(world, mode):
    w = world
    rep = w.reps[0]
    view = open_form(w, rep, "CSV export of the weekly report")
    ok(send(mode, [lambda: w.d.submit(rep, view, {"customer": "Acme"}, team_id=w.team)] * 2))
    settled(w)
    assert count(w, FeatureRequest) == 1 and count(w, Occurrence) == 1
    assert count(w, Outbox, Outbox.kind == "confirmation") == 1
    assert len([t for t in texts_to(w, rep) if "Logged for" in t]) == 1


@pytest.mark.parametrize("mode", MODES)
def test_same_thing_answered_twice_counts_one_occurrence(world, mode):
    w = world
    first, second = w.reps
    view = open_form(w, first, "CSV export of the weekly report")
    logged = w.d.submit(first, view, {"customer": "Acme"}, team_id=w.team)
    assert logged.status == 200 and not logged.body, logged.body  # the form closed: logged as new
    assert count(w, FeatureRequest) == 1
    view = open_form(w, second, "CSV export of the weekly report")
    reply = w.d.submit(second, view, {"customer": "Globex"}, team_id=w.team)
    assert "view" in reply.json, f"no 'Same thing?' step: {reply.body!r}"
    step = reply.json["view"]
    # Slack keeps the form's id when a submission answers with a new view, and gives it a new hash.
    step = {**step, "id": view["id"], "hash": "after-update"}
    choice = step["blocks"][1]["element"]["options"][0]["value"]
    ok(send(mode, [lambda: w.d.submit(second, step, {"choice": choice}, team_id=w.team)] * 2))
    settled(w)
    assert count(w, FeatureRequest) == 1 and count(w, Occurrence) == 2
    assert len([t for t in texts_to(w, second) if "Logged for" in t]) == 1


# -- the PM's decisions -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_planned_clicked_twice_makes_one_decision(world, mode):
    w = world
    rid = logged_twice(w)
    planned = pm_button(w, rid, "req_planned")
    # The same click delivered twice (one action_ts), and a second real click (its own action_ts).
    action_ts = "1700000100.000001"
    clicks = [
        lambda: w.d.click(w.pm, planned, channel="C0GENERAL", team_id=w.team, action_ts=action_ts),
        lambda: w.d.click(w.pm, planned, channel="C0GENERAL", team_id=w.team, action_ts=action_ts),
        lambda: w.d.click(w.pm, planned, channel="C0GENERAL", team_id=w.team),
    ]
    ok(send(mode, clicks))
    assert count(w, RequestDecision) == 1
    with Session(w.engine) as s:
        assert s.get(FeatureRequest, rid).status == "planned"
    said = ephemerals_to(w, w.pm)
    assert len([t for t in said if "Marked" in t and "*planned*" in t]) == 1
    # The real second click is told it's done already; the repeated delivery is silent.
    assert len([t for t in said if "already planned" in t or "just marked planned" in t]) == 1


@pytest.mark.parametrize("mode", MODES)
def test_not_yet_submitted_twice_tells_each_requester_once(world, mode):
    w = world
    rid = logged_twice(w)
    view = decision_form(w, rid, "req_not_yet")
    reason = {"reason": "Q3 goes to onboarding"}
    ok(send(mode, [lambda: w.d.submit(w.pm, view, reason, team_id=w.team)] * 2))
    settled(w)
    assert count(w, RequestDecision) == 1
    for rep in w.reps:
        assert len([t for t in texts_to(w, rep) if "Q3 goes to onboarding" in t]) == 1
    assert len([t for t in texts_to(w, w.pm) if "Your reason" in t]) == 1


def test_two_not_yet_forms_for_one_request_submitted_at_once_make_one_decision(world):
    w = world
    rid = logged_twice(w)
    forms = [decision_form(w, rid, "req_not_yet"), decision_form(w, rid, "req_not_yet")]
    assert forms[0]["id"] != forms[1]["id"]
    replies = send(
        "at_once",
        [lambda v=v: w.d.submit(w.pm, v, {"reason": "Q3 goes to onboarding"}, team_id=w.team) for v in forms],
    )
    ok(replies)
    settled(w)
    assert count(w, RequestDecision) == 1
    refused = [r for r in replies if r.json.get("response_action") == "errors"]
    assert len(refused) == 1 and "not yet" in refused[0].json["errors"]["reason"]
    for rep in w.reps:
        assert len([t for t in texts_to(w, rep) if "Q3 goes to onboarding" in t]) == 1


@pytest.mark.parametrize("mode", MODES)
def test_shipped_submitted_twice_thanks_once_and_sends_one_summary(world, mode):
    w = world
    rid = logged_twice(w)
    view = decision_form(w, rid, "req_shipped")
    note = {"note": "Reports > Export > CSV"}
    ok(send(mode, [lambda: w.d.submit(w.pm, view, note, team_id=w.team)] * 2))
    settled(w)
    assert count(w, RequestDecision) == 1
    for rep in w.reps:
        assert len([t for t in texts_to(w, rep) if "finally shipped" in t]) == 1
    assert len([t for t in texts_to(w, w.pm) if "thanked" in t]) == 1


def test_two_shipped_forms_submitted_at_once_make_one_decision(world):
    w = world
    rid = logged_twice(w)
    forms = [decision_form(w, rid, "req_shipped"), decision_form(w, rid, "req_shipped")]
    replies = send(
        "at_once", [lambda v=v: w.d.submit(w.pm, v, {"note": "Out now"}, team_id=w.team) for v in forms]
    )
    ok(replies)
    settled(w)
    assert count(w, RequestDecision) == 1
    assert len([r for r in replies if r.json.get("response_action") == "errors"]) == 1
    for rep in w.reps:
        assert len([t for t in texts_to(w, rep) if "finally shipped" in t]) == 1
    assert len([t for t in texts_to(w, w.pm) if "thanked" in t]) == 1
