"""What an issue's change does to the requests linked to it, on SQLite and PostgreSQL: polling (for
connections without a webhook) against a local fake GitHub, each change acted on once even by two clocks
at once, and a slow, failing or rate-limiting tracker changes nothing and is noted on the connection."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from bot import clock as bot_clock
from handlers import issues as loop
from integrations import connections
from storage import decisions, issues, people
from storage import requests as store
from storage.models import Connection, FeatureRequest, IssueLink, Outbox, Person, TrackerDelivery, utcnow

WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def world(engine, trackers, secret_key, monkeypatch, clock):
    clock.set(WHEN)
    monkeypatch.setenv("PARTNERBOT_GITHUB_API_URL", trackers.base)
    trackers.github_tokens["t"] = "repo"
    issue = trackers.github_issue("acme", "app", 7, "Export reports")
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        pm = people.ensure_person(session=s, workspace=ws, slack_user_id="UPM", name="Pat")
        people.set_pm(session=s, person=pm, is_pm=True)
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting", pm=pm)
        area.pm_id = pm.id
        ids = []
        for title in ("CSV export", "Excel export"):
            req = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=title)
            for i in range(2):
                rep = people.ensure_person(session=s, workspace=ws, slack_user_id=f"UREP{i}", name=f"Rep {i}")
                store.record_occurrence(session=s, request=req, logged_by_id=rep.id, text=title)
            issues.link_issue(
                s, request=req, kind="github", key="acme/app#7", url=issue["html_url"], by_id=pm.id
            )
            ids.append(req.id)
        connections.save_connection(
            s, workspace_id=ws.id, kind="github", credentials={"token": "t"}, by_user_id=pm.id
        )
        s.commit()
        return SimpleNamespace(engine=engine, ws=ws.id, requests=ids, issue=issue, trackers=trackers)


def keys(engine, prefix=""):
    with Session(engine) as s:
        return sorted(r.key for r in s.exec(select(Outbox)) if r.key.startswith(prefix))


def statuses(engine):
    with Session(engine) as s:
        return [r.status for r in s.exec(select(FeatureRequest).order_by(FeatureRequest.id))]


def test_polling_plans_on_progress_and_offers_on_done_once_each(world):
    e = world.engine
    assert loop.poll_connection(e, workspace_id=world.ws, kind="github") == (1, 0)  # open: nothing to do
    world.trackers.github_issue("acme", "app", 7, "Export reports", assignee="dev")
    assert loop.poll_connection(e, workspace_id=world.ws, kind="github") == (1, 2)
    assert statuses(e) == ["planned", "planned"]
    assert len(keys(e, "status:")) == 4 and len(keys(e, "issue-planned:")) == 2
    assert loop.poll_connection(e, workspace_id=world.ws, kind="github") == (1, 0)
    world.trackers.github_issue("acme", "app", 7, "Export reports", state="closed", reason="completed")
    before = len(keys(e))

    results = []
    barrier = threading.Barrier(2)

    def poll():
        barrier.wait()
        results.append(loop.poll_connection(e, workspace_id=world.ws, kind="github"))

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(n for _, n in results) == [0, 2]  # two clocks, one acts
    assert len(keys(e, "issue-done:")) == 2 and len(keys(e)) == before + 2
    assert keys(e, "thanks:") == [] and statuses(e) == ["planned", "planned"]  # never thanks by itself
    with Session(e) as s:
        assert {(lnk.state, lnk.changes) for lnk in s.exec(select(IssueLink))} == {("done", 2)}
        assert s.exec(select(Connection)).one().last_error == ""


@pytest.mark.parametrize(
    ("delay", "status", "words"),
    [(1.0, 0, "didn't answer"), (0, 429, "rate-limiting"), (0, 500, "having trouble")],
)
def test_a_slow_or_failing_tracker_changes_nothing_and_is_noted(world, monkeypatch, delay, status, words):
    monkeypatch.setenv("PARTNERBOT_INTEGRATION_TIMEOUT", "0.3")
    world.trackers.github_issue("acme", "app", 7, "Export reports", assignee="dev")
    world.trackers.delay, world.trackers.fail_status = delay, status
    assert loop.poll_connection(world.engine, workspace_id=world.ws, kind="github") == (0, 0)
    assert statuses(world.engine) == ["open", "open"] and keys(world.engine) == []
    with Session(world.engine) as s:
        assert words in s.exec(select(Connection)).one().last_error


def test_the_clock_polls_connections_without_a_webhook_every_few_minutes(world):
    deps = SimpleNamespace(engine=world.engine, extras={}, kick=lambda: None)
    world.trackers.github_issue("acme", "app", 7, "Export reports", assignee="dev")
    assert bot_clock.poll_trackers(deps, WHEN) == 2
    world.trackers.github_issue("acme", "app", 7, "Export reports", state="closed", reason="not_planned")
    assert bot_clock.poll_trackers(deps, WHEN + timedelta(minutes=1)) == 0  # not yet due
    assert bot_clock.poll_trackers(deps, WHEN + timedelta(minutes=5)) == 2
    assert len(keys(world.engine, "issue-canceled:")) == 2
    # A connection with a webhook is left to its webhook.
    with Session(world.engine) as s:
        connections.save_connection(
            s,
            workspace_id=world.ws,
            kind="github",
            credentials={"token": "t", "webhook_secret": "w"},
            by_user_id=None,
        )
        s.commit()
    calls = len(world.trackers.calls)
    assert (
        bot_clock.poll_trackers(deps, WHEN + timedelta(minutes=10)) == 0
        and len(world.trackers.calls) == calls
    )
    # ...but asked hourly, for deliveries missed while the app was down.
    world.trackers.github_issue("acme", "app", 7, "Export reports", state="open")
    sent = keys(world.engine)
    assert bot_clock.poll_trackers(deps, WHEN + timedelta(minutes=61)) == 2  # reopened: noted, nothing sent
    assert len(world.trackers.calls) == calls + 1 and keys(world.engine) == sent


def test_deliveries_are_new_once_then_duplicate_by_id_or_replay_by_body(engine):
    with Session(engine) as s:
        sha = issues.body_digest(b"{}")
        assert (
            issues.claim_delivery(s, kind="github", delivery_id="d1", body_sha=sha, workspace_id=None)
            == "new"
        )
        assert (
            issues.claim_delivery(s, kind="github", delivery_id="d1", body_sha=sha, workspace_id=None)
            == "duplicate"
        )
        assert (
            issues.claim_delivery(s, kind="github", delivery_id="d2", body_sha=sha, workspace_id=None)
            == "replay"
        )
        assert (
            issues.claim_delivery(s, kind="linear", delivery_id="d1", body_sha=sha, workspace_id=None)
            == "new"
        )
        s.commit()
        assert len(s.exec(select(TrackerDelivery)).all()) == 2
        assert issues.prune_deliveries(s, now=utcnow() + issues.KEEP_DELIVERIES + timedelta(days=1)) == 2


def test_a_request_merged_into_another_linked_to_the_same_issue_is_acted_on_once(world):
    e = world.engine
    with Session(e) as s:
        source, target = (s.get(FeatureRequest, rid) for rid in world.requests)
        pm = s.exec(select(Connection)).one().created_by_id
        decisions.merge_requests(session=s, source=source, target=target, by=s.get(Person, pm))
        s.commit()
    world.trackers.github_issue("acme", "app", 7, "Export reports", assignee="dev")
    assert loop.poll_connection(e, workspace_id=world.ws, kind="github") == (1, 2)  # both links noted...
    assert statuses(e) == ["merged", "planned"]
    assert len(keys(e, "issue-planned:")) == 1  # ...the request they now are acted on once
