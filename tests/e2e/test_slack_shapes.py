"""Payloads in the exact shapes Slack sends (tests/fixtures/slack/, each naming where its shape comes from),
signed and replayed over HTTP against the web process on SQLite and PostgreSQL: Slack Connect and org-wide
installs keep one workspace and the message's author, every event delivery is answered 200 before Slack
gives up (a slowed-down Slack included), retries act once, Slack's errors never become a 5xx."""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, select

from bot.driver import HttpDriver, Reply
from bot.fake_slack import FakeSlack
from bot.payloads import buttons_in, sign, state_values
from storage.db import make_engine
from storage.models import HandledPayload, Occurrence, Person, Workspace
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
# Slack gives up on an answer after 3 seconds; this leaves room for a loaded test machine.
DEADLINE = 2.5
CONTENT_TYPES = {
    "interactive": "application/x-www-form-urlencoded",
    "form": "application/x-www-form-urlencoded",
    "json": "application/json",
}


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    assert data.get("_source"), f"{name}.json must say where its shape comes from"
    return data


def replay(
    d: HttpDriver, name: str, body: dict | None = None, headers: dict | None = None
) -> tuple[Reply, float]:
    """Send a fixture (or `body`, a variant of it) signed as Slack would; returns the reply and how long
    the app took to answer."""
    f = fixture(name)
    body = f["body"] if body is None else body
    kind = f["content_type"]
    if kind == "interactive":
        raw = urlencode({"payload": json.dumps(body)})
    elif kind == "form":
        raw = urlencode(body)
    else:
        raw = json.dumps(body)
    started = time.monotonic()
    reply = d.send(raw, CONTENT_TYPES[kind], {**sign(SIGNING_SECRET, raw), **(headers or {})})
    return reply, time.monotonic() - started


def as_submitted(name: str, view: dict, answers: dict) -> dict:
    """A view_submission fixture carrying the form the bot actually opened, filled in."""
    body = copy.deepcopy(fixture(name)["body"])
    live = {k: view[k] for k in ("id", "hash", "blocks", "private_metadata", "callback_id") if k in view}
    body["view"] = {**body["view"], **live, "state": {"values": state_values(view, answers)}}
    return body


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path, migrated_sqlite) -> str:
    if request.param == "postgres":
        request.getfixturevalue("pg_engine")  # emptied tables
        return request.getfixturevalue("pg_server_url")
    return migrated_sqlite(tmp_path / "shapes.db")


@contextmanager
def installed(db_url: str, tmp_path: Path, **install: Any) -> Iterator[SimpleNamespace]:
    """The web process for one installation (`FakeSlack(**install)` is what its token's auth.test says)."""
    fake = FakeSlack(**install).start()
    log = tmp_path / f"server-{install.get('team_id') or install.get('enterprise_id')}.log"
    proc, base = start_server(db_url, fake, log)
    engine = make_engine(db_url)
    try:
        yield SimpleNamespace(
            d=HttpDriver(base, fake, SIGNING_SECRET), fake=fake, engine=engine, base=base, log=log
        )
    finally:
        stop_server(proc)
        engine.dispose()
        fake.stop()


def workspaces(engine) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return sorted((w.team_id, w.enterprise_id) for w in s.exec(select(Workspace)))


def person(engine, user_id: str) -> Person:
    with Session(engine) as s:
        return s.exec(select(Person).where(Person.slack_user_id == user_id)).one()


def occurrences(engine) -> list[Occurrence]:
    with Session(engine) as s:
        return list(s.exec(select(Occurrence)))


def ok_in_time(reply: Reply, took: float, bound: float = DEADLINE) -> None:
    assert reply.status == 200, reply.body
    assert took < bound, f"answered after {took:.2f}s"


def refuse_dm_to(user: str):
    """Slack won't let the bot DM someone from the other organisation."""

    def rule(method: str, args: dict) -> tuple[int, dict, dict] | None:
        if method == "chat.postMessage" and args.get("channel") == user:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        return None

    return rule


def test_a_slack_connect_shortcut_and_its_form_keep_one_workspace_and_the_author(db_url, tmp_path):
    with installed(db_url, tmp_path, team_id="T0INSTALLED") as it:
        d, fake = it.d, it.fake
        fake.add_user("W0KAZ", name="Kaz", team_id="T0OTHERSIDE")
        fake.add_user("W0CUSTOMER", name="Cora Customer", team_id="T0OTHERSIDE")
        fake.add_user("U0REP", name="Rae Rep")
        # Slack is rate-limiting views.open once: the listener's client waits the second and tries again.
        limited = []

        def views_open_limited_once(method: str, args: dict):
            if method == "views.open" and not limited:
                limited.append(args)
                return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
            return None

        fake.failure_rules.append(views_open_limited_once)
        reply, took = replay(d, "connect_message_shortcut")
        ok_in_time(reply, took, bound=3.0)  # the wait Slack asked for is in it
        assert limited
        view = d.last_view()
        assert "SAML single sign-on" in json.dumps(view)
        body = as_submitted("connect_view_submission", view, {"customer": "Acme"})
        reply, took = replay(d, "connect_view_submission", body)
        ok_in_time(reply, took)
        assert not reply.json.get("errors"), reply.body
        # The same form submitted again (Slack's double send): nothing more.
        assert replay(d, "connect_view_submission", body)[0].status == 200

        assert workspaces(it.engine) == [("T0INSTALLED", "")]
        [occ] = occurrences(it.engine)
        kaz, cora = person(it.engine, "W0KAZ"), person(it.engine, "W0CUSTOMER")
        assert occ.source == "shortcut" and occ.channel_id == "C0SHARED" and "C0SHARED" in occ.permalink
        assert occ.logged_by_id == kaz.id and occ.raised_by_id == cora.id and occ.customer == "Acme"
        for external in (kaz, cora):
            assert external.external and external.home_team_id == "T0OTHERSIDE"
            assert not external.is_admin and not external.is_pm
        # The receipt tells Kaz it's logged, not how often or for how much the organisation heard it.
        receipt = fake.wait_for(lambda: [c for c in fake.posts_to("W0KAZ") if "Logged for" in c.text_blob()])
        assert "heard" not in receipt[0].text_blob()
        assert "from another organisation" in d.command("W0KAZ", "/requests", "#1").text

        # The installing organisation's first person is its admin, and sees the repeat check as usual.
        d.command("U0REP", "/request", "We need SAML single sign-on before the renewal")
        step = d.submit("U0REP", d.last_view(), {"customer": "Globex"}).json
        assert step.get("response_action") == "update" and "SAML" in json.dumps(step["view"])
        rep = person(it.engine, "U0REP")
        assert rep.is_admin and not rep.external and rep.home_team_id == "T0INSTALLED"
        assert workspaces(it.engine) == [("T0INSTALLED", "")]


def test_a_slack_connect_reaction_is_answered_in_time_acted_on_once_and_offered_where_it_can_be(
    db_url, tmp_path
):
    retry_reasons = fixture("retry_reasons")["body"]["reasons"]
    with installed(db_url, tmp_path, team_id="T0INSTALLED") as it:
        d, fake = it.d, it.fake
        fake.add_user("W0KAZ", name="Kaz", team_id="T0OTHERSIDE")
        fake.add_user("W0CUSTOMER", name="Cora Customer", team_id="T0OTHERSIDE")
        fake.messages["C0SHARED"].append(
            {
                "type": "message",
                "ts": "1583636382.000300",
                "user": "W0CUSTOMER",
                "user_team": "T0OTHERSIDE",
                "text": "Can you export the audit log to our SIEM?",
            }
        )
        fake.failure_rules.append(refuse_dm_to("W0KAZ"))
        # A slow Slack: the offer's calls add up to well over Slack's 3 seconds.
        fake.delays = {"conversations.history": 1.0, "users.info": 0.5, "chat.postMessage": 1.0}

        ok_in_time(*replay(d, "connect_reaction_added"))
        for n, reason in enumerate(retry_reasons, start=1):
            headers = {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": reason}
            ok_in_time(*replay(d, "connect_reaction_added", headers=headers))

        def ephemeral_offers() -> list:
            return [c for c in fake.calls_to("chat.postEphemeral") if "Log as request" in c.text_blob()]

        offer = fake.wait_for(ephemeral_offers, timeout=15)[0]
        assert offer.args["channel"] == "C0SHARED" and offer.args["user"] == "W0KAZ"
        assert "audit log" in offer.text_blob()
        # The retries were all answered before the first offer was made: none of them read the message.
        assert len(fake.calls_to("conversations.history")) == 1 and len(ephemeral_offers()) == 1

        def settled() -> bool:  # marked done just after the answer (handlers/once.py)
            with Session(it.engine) as s:
                claim = s.exec(
                    select(HandledPayload).where(HandledPayload.key == "event:T0INSTALLED:Ev0CONNECT1")
                ).one()
                return claim.done_at is not None

        fake.wait_for(settled)

        # Clicked in the ephemeral message: Slack sends the container, not the message.
        fake.delays = {}
        click = copy.deepcopy(fixture("ephemeral_block_actions")["body"])
        blocks = (
            json.loads(offer.args["blocks"])
            if isinstance(offer.args["blocks"], str)
            else offer.args["blocks"]
        )
        click["actions"][0]["value"] = buttons_in(blocks)[0]["value"]
        assert "message" not in click
        ok_in_time(*replay(d, "ephemeral_block_actions", click))
        view = d.last_view()
        assert "audit log" in json.dumps(view)
        reply, _ = replay(
            d, "connect_view_submission", as_submitted("connect_view_submission", view, {"customer": "Acme"})
        )
        assert reply.status == 200 and not reply.json.get("errors"), reply.body
        [occ] = occurrences(it.engine)
        assert occ.source == "reaction" and occ.raised_by_id == person(it.engine, "W0CUSTOMER").id
        assert workspaces(it.engine) == [("T0INSTALLED", "")]


def test_an_org_wide_install_is_one_workspace_for_every_workspace_of_the_org(db_url, tmp_path):
    with installed(db_url, tmp_path, team_id="T0ORGA", enterprise_id="E0ORG", org_wide=True) as it:
        d, fake = it.d, it.fake
        fake.add_user("W0ANA", name="Ana", team_id="T0ORGA", enterprise_id="E0ORG")
        fake.add_user("W0BEN", name="Ben", team_id="T0ORGB", enterprise_id="E0ORG")
        ok_in_time(*replay(d, "orgwide_slash_command"))
        view = d.last_view()
        assert "Audit log export" in json.dumps(view)
        reply, took = replay(
            d,
            "orgwide_view_submission",
            as_submitted("orgwide_view_submission", view, {"customer": "Initech"}),
        )
        ok_in_time(reply, took)
        assert not reply.json.get("errors"), reply.body

        # A classic message (attachments only, from an integration) logged by its shortcut.
        ok_in_time(*replay(d, "classic_message_shortcut"))
        assert "data residency in the EU" in json.dumps(d.last_view())

        # Someone in another workspace of the org reacts: the same installation, the same people.
        fake.messages["C0ORGB"].append(
            {
                "type": "message",
                "ts": "1606810819.000800",
                "user": "W0ANA",
                "text": "Customers keep asking for SCIM",
            }
        )
        ok_in_time(*replay(d, "orgwide_reaction_added"))
        offer = fake.wait_for(
            lambda: [c for c in fake.posts_to("W0BEN") if "Log as request" in c.text_blob()]
        )
        assert "SCIM" in offer[0].text_blob()

        assert workspaces(it.engine) == [("", "E0ORG")]
        # Logged by the repeat check that runs after the form's answer (nothing stored to offer).
        [occ] = fake.wait_for(lambda: occurrences(it.engine))
        assert occ.customer == "Initech" and occ.logged_by_id == person(it.engine, "W0ANA").id
        ana = person(it.engine, "W0ANA")
        assert ana.is_admin and not ana.external and ana.home_team_id == "T0ORGA"


def test_an_enterprise_grid_workspace_install_keeps_its_enterprise(db_url, tmp_path):
    with installed(db_url, tmp_path, team_id="T0GRID", enterprise_id="E0GRID") as it:
        reply, took = replay(it.d, "grid_slash_command")
        ok_in_time(reply, took)
        assert "request" in reply.text.lower()
        assert workspaces(it.engine) == [("T0GRID", "E0GRID")]
        assert not person(it.engine, "W0GIL").external


def test_a_submission_with_response_urls_is_stored(db_url, tmp_path):
    with installed(db_url, tmp_path, team_id="T0INSTALLED") as it:
        it.d.command("U0REP", "/request", "Bulk edit of tags", team_id="T0INSTALLED")
        body = as_submitted("view_submission_response_urls", it.d.last_view(), {"customer": "Acme"})
        reply, took = replay(it.d, "view_submission_response_urls", body)
        ok_in_time(reply, took)
        assert "Checking for similar requests" in reply.body  # then logged after the answer
        logged = it.fake.wait_for(lambda: occurrences(it.engine))
        assert [o.customer for o in logged] == ["Acme"]


def test_slacks_housekeeping_and_unhandled_payloads_get_200(db_url, tmp_path):
    with installed(db_url, tmp_path, team_id="T0INSTALLED") as it:
        d, fake = it.d, it.fake
        ok_in_time(*replay(d, "ssl_check"))
        reply, took = replay(d, "url_verification")
        ok_in_time(reply, took)
        assert fixture("url_verification")["body"]["challenge"] in reply.body
        # Slack sends app_rate_limited without a subscription; its retry of the same notice counts once.
        for n in (0, 1):
            headers = {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"} if n else {}
            ok_in_time(*replay(d, "app_rate_limited", headers=headers))
        with urllib.request.urlopen(it.base + "/healthz", timeout=5) as r:
            health = json.loads(r.read())
        assert health["app_rate_limited"] == {"count": 1, "last_minute": "2018-02-12T20:37Z"}
        before = len(fake.calls)
        ok_in_time(*replay(d, "unhandled_event"))
        # An action nobody listens to (a link button's click) gets its 200 too.
        click = copy.deepcopy(fixture("ephemeral_block_actions")["body"])
        click["actions"][0]["action_id"] = "open_docs_link"
        ok_in_time(*replay(d, "ephemeral_block_actions", click))
        assert [c.method for c in fake.calls[before:] if c.method.startswith(("chat.", "views."))] == []
        assert "Slack is rate-limiting events for T0INSTALLED from 2018-02-12 20:37 UTC" in it.log.read_text()
