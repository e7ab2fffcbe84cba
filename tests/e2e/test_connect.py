"""Issue 13 end to end over signed HTTP: an admin connects a tracker from Slack. The connect form tests the
credentials against the tracker (a local fake of its API) and names what is wrong next to the field,
keeping what was typed; only an admin may connect; without PARTNERBOT_SECRET_KEY nothing is stored."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server
from tests.integrations.conftest import SECRET_KEY
from tests.integrations.fake_trackers import FakeTrackers


@pytest.fixture
def trackers():
    fake = FakeTrackers().start()
    yield fake
    fake.stop()


def serve(tmp_path, fake_slack, trackers, *, key: str | None = SECRET_KEY, url: str = ""):
    from bot.driver import HttpDriver

    url = url or f"sqlite:///{tmp_path / 'e2e.db'}"
    env = {
        "PARTNERBOT_GITHUB_API_URL": trackers.base,
        "PARTNERBOT_LINEAR_API_URL": trackers.base + "/graphql",
        "PARTNERBOT_PUBLIC_URL": "https://bot.example.com",
        "PARTNERBOT_SECRET_KEY": key or "",
    }
    proc, base = start_server(url, fake_slack, tmp_path / "server.log", extra_env=env)
    return proc, SimpleNamespace(
        base=base,
        fake=fake_slack,
        engine=make_engine(url),
        driver=HttpDriver(base, fake_slack, SIGNING_SECRET),
        trackers=trackers,
    )


@pytest.fixture
def server(tmp_path, fake_slack, trackers, migrated_sqlite):
    proc, s = serve(tmp_path, fake_slack, trackers, url=migrated_sqlite(tmp_path / "e2e.db"))
    try:
        yield s
    finally:
        stop_server(proc)
        s.engine.dispose()


def open_connect(d, user, kind):
    before = len(d.opened_views())
    reply = d.command(user, "/partnerbot", f"connect {kind}")
    assert reply.status == 200, reply.body
    views = d.opened_views()[before:]
    return reply, (views[-1] if views else None)


def test_an_admin_connects_github_after_the_form_names_what_was_wrong(server):
    d, _fake, trackers = server.driver, server.fake, server.trackers
    trackers.github_tokens.update({"ghp_good": "repo", "ghp_narrow": "read:user"})
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    # A PM who is not an admin can't.
    reply, view = open_connect(d, "UPM", "github")
    assert view is None and "Only an admin can connect services" in reply.text
    reply, view = open_connect(d, "UADMIN", "github")
    assert view["callback_id"] == "integration_connect"
    assert "https://bot.example.com/integrations/github" in json.dumps(view)
    typed = {"token": "ghp_wrong", "webhook_secret": "s3cret"}
    reply = d.submit("UADMIN", view, typed)
    assert reply.json["response_action"] == "errors"
    assert "refused the token" in reply.json["errors"]["token"]
    reply = d.submit("UADMIN", view, {**typed, "token": "ghp_narrow"})
    assert "missing the repo scope" in reply.json["errors"]["token"]
    reply = d.submit("UADMIN", view, {**typed, "token": "ghp_good", "api_url": "http://127.0.0.1:1"})
    assert "Can't reach 127.0.0.1:1" in reply.json["errors"]["token"]
    with server.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM connection")).scalar() == 0
    reply = d.submit("UADMIN", view, {**typed, "token": "ghp_good"})
    assert reply.json["response_action"] == "update", reply.body
    shown = json.dumps(reply.json["view"])
    assert "Connected *GitHub* as octo-pm" in shown and "https://bot.example.com/integrations/github" in shown
    with server.engine.connect() as c:
        rows = c.execute(text("SELECT kind, credentials FROM connection")).all()
    assert [r[0] for r in rows] == ["github"] and "ghp_good" not in rows[0][1] and "s3cret" not in rows[0][1]
    listing = d.command("UPM", "/partnerbot", "connections").text
    assert "*GitHub*" in listing and "webhooks" in listing and "ghp_good" not in listing
    # Reconnecting says it replaces; disconnecting forgets.
    _, again = open_connect(d, "UADMIN", "github")
    assert "already connected" in json.dumps(again)
    assert "only an admin" in d.command("UPM", "/partnerbot", "disconnect github").text.lower()
    assert "Disconnected GitHub" in d.command("UADMIN", "/partnerbot", "disconnect github").text
    with server.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM connection")).scalar() == 0
    assert "None yet" in d.command("UADMIN", "/partnerbot", "connections").text
    assert "one of `jira`" in d.command("UADMIN", "/partnerbot", "connect asana").text


def test_linear_and_jira_forms_test_their_own_credentials(server):
    d, trackers = server.driver, server.trackers
    trackers.linear_keys["lin_api_ok"] = "Pat"
    trackers.jira_users[("pm@example.com", "jt")] = "Pat Jira"
    d.command("UADMIN", "/partnerbot", "pm list")
    _, view = open_connect(d, "UADMIN", "linear")
    assert "AUTHENTICATION" not in d.submit("UADMIN", view, {"api_key": "bad"}).body
    assert "refused the API key" in d.submit("UADMIN", view, {"api_key": "bad"}).json["errors"]["api_key"]
    assert d.submit("UADMIN", view, {"api_key": "lin_api_ok"}).json["response_action"] == "update"
    _, view = open_connect(d, "UADMIN", "jira")
    jira = {"site": trackers.base, "email": "pm@example.com", "api_token": "nope"}
    assert "refused the token" in d.submit("UADMIN", view, jira).json["errors"]["api_token"]
    assert "https://" in d.submit("UADMIN", view, {**jira, "site": "example.com"}).json["errors"]["site"]
    trackers.delay = 2.5  # slower than a form may wait
    slow = d.submit("UADMIN", view, {**jira, "api_token": "jt"})
    assert "didn't answer within 2 s" in slow.json["errors"]["site"]
    trackers.delay = 0
    assert d.submit("UADMIN", view, {**jira, "api_token": "jt"}).json["response_action"] == "update"
    listing = d.command("UADMIN", "/partnerbot", "connections").text
    assert "*Linear*" in listing and "*Jira*" in listing and "checked every few minutes" in listing


def test_without_a_secret_key_connect_refuses_in_one_line(tmp_path, fake_slack, trackers):
    proc, s = serve(tmp_path, fake_slack, trackers, key=None)
    try:
        reply, view = open_connect(s.driver, "UADMIN", "github")
        assert view is None and "PARTNERBOT_SECRET_KEY" in reply.text and "\n" not in reply.text
    finally:
        stop_server(proc)
        s.engine.dispose()
