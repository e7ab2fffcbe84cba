"""Issue 13 end to end: the issue tracker closes the loop. Over signed Slack HTTP a PM links requests to
GitHub / Linear / Jira issues (*Link issue…*); the trackers' webhooks (signed as each documents, sent by a
local fake) then mark the requests planned, offer the PM "Shipped — thank everyone?" or *Not yet…*, and
never thank anyone by themselves. Forged and replayed deliveries get 401 and change nothing; a repeated
delivery changes nothing either."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from sqlmodel import Session, select

from bot.fake_slack import TEAM_ID
from bot.payloads import buttons_in
from storage import people
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, IssueLink, Outbox, TrackerDelivery, utcnow
from tests.e2e.conftest import stop_server
from tests.e2e.test_close_the_loop import thanks_keys
from tests.e2e.test_connect import serve
from tests.integrations.fake_trackers import FakeTrackers, github_webhook, jira_webhook, linear_webhook

SECRET = "whsec-e2e"


@pytest.fixture
def trackers():
    fake = FakeTrackers().start()
    yield fake
    fake.stop()


@pytest.fixture(params=["sqlite"])
def server(request, tmp_path, fake_slack, trackers):
    url = ""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_server_url")
        request.getfixturevalue("pg_engine")  # emptied tables
    proc, s = serve(tmp_path, fake_slack, trackers, url=url)
    try:
        yield s
    finally:
        stop_server(proc)
        s.engine.dispose()


def seed(engine, title, n) -> int:
    with session_scope(engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        area = people.get_area(session=s, workspace_id=ws.id, name="Reporting")
        req = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=title)
        for i in range(n):
            person = people.ensure_person(
                session=s, workspace=ws, slack_user_id=f"U{i:03d}REP", name=f"Rep {i}"
            )
            store.record_occurrence(
                session=s, request=req, logged_by_id=person.id, text=title, customer=f"Customer {i}"
            )
        return req.id


def connect(d, kind, answers):
    before = len(d.opened_views())
    d.command("UADMIN", "/partnerbot", f"connect {kind}")
    view = d.opened_views()[before:][-1]
    reply = d.submit("UADMIN", view, answers)
    assert reply.json.get("response_action") == "update", reply.body


def link(d, rid, url, user="UPM"):
    """*Link issue…* on `/requests #rid`, then the URL submitted: the form's answer."""
    listing = d.command(user, "/requests", f"#{rid}").json["blocks"]
    button = next(b for b in buttons_in(listing) if b["action_id"] == "req_link_issue")
    before = len(d.opened_views())
    d.click(user, button, channel="C0GENERAL")
    view = d.fake.wait_for(lambda: d.opened_views()[before:])[-1]
    assert view["callback_id"] == "link_issue"
    return d.submit(user, view, {"url": url})


def post(base, kind, headers, body) -> tuple[int, dict]:
    request = urllib.request.Request(f"{base}/integrations/{kind}", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def statuses(engine) -> dict[int, str]:
    with Session(engine) as s:
        return {r.id: r.status for r in s.exec(select(FeatureRequest))}


def outbox_keys(engine, prefix) -> list[str]:
    with Session(engine) as s:
        return sorted(r.key for r in s.exec(select(Outbox)) if r.key.startswith(prefix))


def dms(fake, user) -> list[dict]:
    return [c.args for c in fake.posts_to(user)]


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_github_issue_moves_plan_the_requests_and_closing_offers_the_thank_yous(server):
    d, fake, trackers = server.driver, server.fake, server.trackers
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    csv, excel, sso = (
        seed(server.engine, "CSV export", 3),
        seed(server.engine, "Excel export", 2),
        seed(server.engine, "SSO", 1),
    )
    issue = trackers.github_issue("acme", "app", 7, "Export reports")
    trackers.github_issue("acme", "app", 8, "SAML login")
    # Before GitHub is connected, the button says how; nothing is sent to GitHub.
    listing = d.command("UPM", "/requests", f"#{csv}").json["blocks"]
    d.click(
        "UPM", next(b for b in buttons_in(listing) if b["action_id"] == "req_link_issue"), channel="C0GENERAL"
    )
    fake.wait_for(
        lambda: [c for c in fake.calls_to("chat.postEphemeral") if "No issue tracker" in c.args["text"]]
    )
    assert trackers.calls == []
    trackers.github_tokens["ghp_good"] = "repo"
    connect(d, "github", {"token": "ghp_good", "webhook_secret": SECRET})

    # Someone who isn't a PM can't link; bad links are named, and what was typed is echoed back.
    d.click("U001REP", {"action_id": "req_link_issue", "value": str(csv)}, channel="C0GENERAL")
    fake.wait_for(
        lambda: [c for c in fake.calls_to("chat.postEphemeral") if "Only PMs can link" in c.args["text"]]
    )
    wrong = link(d, csv, "https://example.com/acme/7").json["errors"]["url"]
    assert "isn't a link to a GitHub, Linear or Jira issue" in wrong and "example.com/acme/7" in wrong
    assert (
        "Linear isn't connected"
        in link(d, csv, "https://linear.app/acme/issue/ENG-1/x").json["errors"]["url"]
    )
    assert "404" in link(d, csv, "https://github.com/acme/app/issues/99").json["errors"]["url"]
    reply = link(d, csv, "https://github.com/acme/app/issues/7")
    assert reply.json["response_action"] == "update", reply.body
    assert "acme/app#7" in json.dumps(reply.json["view"]) and "Export reports" in json.dumps(
        reply.json["view"]
    )
    assert (
        link(d, excel, "https://github.com/acme/app/issues/7#issuecomment-1").json["response_action"]
        == "update"
    )
    assert link(d, sso, "https://github.com/acme/app/issues/8").json["response_action"] == "update"
    assert statuses(server.engine) == {csv: "open", excel: "open", sso: "open"}
    assert "_Issue:_ GitHub" in json.dumps(d.command("UPM", "/requests", f"#{csv}").json)

    # A forged delivery (wrong secret) and an unsigned one: 401, nothing changes.
    issue.update(assignee={"login": "dev"}, assignees=[{"login": "dev"}])
    headers, body = github_webhook("not-the-secret", "assigned", issue)
    assert post(server.base, "github", headers, body)[0] == 401
    unsigned = {
        k: v for k, v in github_webhook(SECRET, "assigned", issue)[0].items() if k != "X-Hub-Signature-256"
    }
    assert post(server.base, "github", unsigned, body)[0] == 401
    assert statuses(server.engine)[csv] == "open"
    # Signed but unreadable: 400; not a POST: 405; not a tracker: 404.
    garbage = b"not json"
    signed = {
        **headers,
        "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), garbage, hashlib.sha256).hexdigest(),
    }
    assert post(server.base, "github", signed, garbage)[0] == 400
    assert post(server.base, "asana", headers, body)[0] == 404
    with pytest.raises(urllib.error.HTTPError) as get:
        urllib.request.urlopen(f"{server.base}/integrations/github", timeout=5)
    assert get.value.code == 405

    # Work starts: both requests linked to #7 are planned, everyone who asked hears it once.
    headers, body = github_webhook(SECRET, "assigned", issue, delivery="d-assigned")
    status, answer = post(server.base, "github", headers, body)
    assert status == 200 and answer["changed"] == 2, answer
    assert statuses(server.engine) == {csv: "planned", excel: "planned", sso: "open"}
    area_listing = json.dumps(d.command("UPM", "/requests", "Reporting").json)
    assert "_Issue:_ GitHub" in area_listing and "*in progress*" in area_listing
    assert post(server.base, "github", headers, body) == (200, {"ok": True, "duplicate": True})
    replay = {**headers, "X-GitHub-Delivery": "d-replayed"}
    assert post(server.base, "github", replay, body)[0] == 401
    fake.wait_for(
        lambda: all(any("planned" in m["text"].lower() for m in dms(fake, f"U{i:03d}REP")) for i in range(3))
    )
    notices = Counter(k.rsplit(":", 1)[0] for k in outbox_keys(server.engine, "status:"))
    assert len(notices) == 5 and set(notices.values()) == {1}  # 3 + 2 people, once each
    fake.wait_for(lambda: any("marked #" in m["text"] and "planned" in m["text"] for m in dms(fake, "UPM")))

    # Done: the PM is asked, nobody is thanked by the webhook itself.
    issue.update(state="closed", state_reason="completed")
    headers, body = github_webhook(SECRET, "closed", issue)
    assert post(server.base, "github", headers, body)[0] == 200
    offers = fake.wait_for(
        lambda: len(o := [m for m in dms(fake, "UPM") if "Shipped — thank everyone?" in m["text"]]) == 2 and o
    )
    assert {f"#{csv} " in o["text"] for o in offers} == {True, False}  # one per linked request
    time.sleep(1.0)
    assert len([m for m in dms(fake, "UPM") if "Shipped — thank everyone?" in m["text"]]) == 2
    assert thanks_keys(fake) == Counter() and statuses(server.engine)[csv] == "planned"
    offer = next(
        m for m in dms(fake, "UPM") if "Shipped — thank everyone?" in m["text"] and f"#{csv} " in m["text"]
    )
    button = buttons_in(offer["blocks"])[0]
    before = len(d.opened_views())
    d.click("UPM", button, channel=fake.dm_channel("UPM"), message={"ts": "1.1", "blocks": offer["blocks"]})
    form = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    prefilled = {
        b["block_id"]: b["element"].get("initial_value") for b in form["blocks"] if b["type"] == "input"
    }
    assert (
        prefilled["link"] == "https://github.com/acme/app/issues/7" and "Export reports" in prefilled["note"]
    )
    assert d.submit("UPM", form, {}).status == 200
    keys = fake.wait_for(lambda: len(thanks_keys(fake)) == 3 and thanks_keys(fake), timeout=20)
    assert set(keys.values()) == {1} and statuses(server.engine)[csv] == "shipped"
    assert "done" in json.dumps(d.command("UPM", "/requests", f"#{csv}").json)

    # Closed as not planned: *Not yet…* is offered instead, prefilled with why.
    trackers.github_issues[("acme", "app", 8)].update(state="closed", state_reason="not_planned")
    headers, body = github_webhook(SECRET, "closed", trackers.github_issues[("acme", "app", 8)])
    assert post(server.base, "github", headers, body)[0] == 200
    offer = fake.wait_for(
        lambda: [m for m in dms(fake, "UPM") if "closed as *closed (not planned)*" in m["text"]]
    )[0]
    button = buttons_in(offer["blocks"])[0]
    assert button["action_id"] == "issue_not_yet" and statuses(server.engine)[sso] == "open"
    before = len(d.opened_views())
    d.click("UPM", button, channel=fake.dm_channel("UPM"))
    form = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    assert form["callback_id"] == "decision_not_yet" and "not planned" in json.dumps(form)
    with Session(server.engine) as s:
        assert len(s.exec(select(IssueLink)).all()) == 3
        assert len(s.exec(select(TrackerDelivery)).all()) == 3  # assigned, closed #7, closed #8


def test_linear_and_jira_webhooks_are_verified_fresh_and_acted_on(server):
    d, fake, trackers = server.driver, server.fake, server.trackers
    d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting")
    a, b = seed(server.engine, "Dark mode", 2), seed(server.engine, "Audit log", 1)
    trackers.linear_keys["lin_api_ok"] = "Pat"
    trackers.jira_users[("pm@example.com", "jt")] = "Pat Jira"
    connect(d, "linear", {"api_key": "lin_api_ok", "webhook_secret": SECRET})
    connect(
        d,
        "jira",
        {"site": trackers.base, "email": "pm@example.com", "api_token": "jt", "webhook_secret": SECRET},
    )
    lin = trackers.linear_issue("ENG-12", "Dark mode")
    jira = trackers.jira_issue("OPS-3", "Audit log")
    assert link(d, a, lin["url"]).json["response_action"] == "update"
    assert link(d, b, f"{trackers.base}/browse/OPS-3").json["response_action"] == "update"
    now_ms = int(utcnow().timestamp() * 1000)

    lin["state"] = {"name": "In Progress", "type": "started"}
    headers, body = linear_webhook(SECRET, lin, at_ms=now_ms - 5 * 60_000)  # stale: a replay
    assert post(server.base, "linear", headers, body)[0] == 401
    headers, body = linear_webhook("wrong", lin, at_ms=now_ms)
    assert post(server.base, "linear", headers, body)[0] == 401
    assert statuses(server.engine)[a] == "open"
    headers, body = linear_webhook(SECRET, lin, at_ms=now_ms, delivery="lin-1")
    assert post(server.base, "linear", headers, body)[0] == 200
    assert post(server.base, "linear", headers, body)[1].get("duplicate") is True
    assert statuses(server.engine)[a] == "planned"

    jira["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    jira["fields"]["resolution"] = {"name": "Won't Do"}
    headers, body = jira_webhook(SECRET, jira, at_ms=now_ms - 60 * 60_000)
    assert post(server.base, "jira", headers, body)[0] == 401
    headers, body = jira_webhook(SECRET, jira, at_ms=now_ms, delivery="jira-1")
    assert post(server.base, "jira", headers, body)[0] == 200
    fake.wait_for(lambda: [m for m in dms(fake, "UPM") if "Won't Do" in m["text"] and "not yet" in m["text"]])
    lin["state"] = {"name": "Done", "type": "completed"}
    headers, body = linear_webhook(SECRET, lin, at_ms=now_ms + 1000)
    assert post(server.base, "linear", headers, body)[0] == 200
    fake.wait_for(lambda: [m for m in dms(fake, "UPM") if "Shipped — thank everyone?" in m["text"]])
    assert thanks_keys(fake) == Counter()
    assert statuses(server.engine) == {a: "planned", b: "open"}


def test_a_slow_or_limited_tracker_never_blocks_linking_and_the_pm_is_told(server):
    d, trackers = server.driver, server.trackers
    d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting")
    slow, limited, started = (
        seed(server.engine, "Slow one", 1),
        seed(server.engine, "Limited", 1),
        seed(server.engine, "Started", 2),
    )
    trackers.github_tokens["ghp_good"] = "repo"
    connect(d, "github", {"token": "ghp_good"})  # no webhook secret: polled
    trackers.github_issue("acme", "app", 1, "Slow")
    trackers.github_issue("acme", "app", 3, "Started", assignee="dev")
    trackers.delay = 2.5
    began = time.monotonic()
    reply = link(d, slow, "https://github.com/acme/app/issues/1")
    assert time.monotonic() - began < 6  # the click, the form and the submit, each within Slack's 3 s
    shown = json.dumps(reply.json["view"])
    assert "didn't answer within 2 s" in shown and "linked it anyway" in shown
    trackers.delay, trackers.fail_status = 0, 429
    shown = json.dumps(link(d, limited, "https://github.com/acme/app/issues/2").json["view"])
    assert "rate-limiting us for 30 s" in shown and "linked it anyway" in shown
    trackers.fail_status = 0
    shown = json.dumps(link(d, started, "https://github.com/acme/app/issues/3").json["view"])
    assert "marked the request *planned*" in shown
    assert statuses(server.engine) == {slow: "open", limited: "open", started: "planned"}
    with Session(server.engine) as s:
        assert {lnk.issue_key: lnk.state for lnk in s.exec(select(IssueLink))} == {
            "acme/app#1": "",
            "acme/app#2": "",
            "acme/app#3": "started",
        }
    assert "status not known yet" in json.dumps(d.command("UPM", "/requests", f"#{slow}").json)
    # A request is still logged and decided while the tracker is down.
    trackers.fail_status = 500
    d.click("UPM", {"action_id": "req_planned", "value": str(slow)}, channel="C0GENERAL")
    server.fake.wait_for(lambda: statuses(server.engine)[slow] == "planned")
