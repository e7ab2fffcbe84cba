"""Unsigned, forged and malformed requests over real HTTP: 401, nothing stored, nobody messaged, and the
attacker's text never reaches the logs."""

from __future__ import annotations

import time
import urllib.request

import pytest
from sqlmodel import Session, select

from bot import payloads
from storage.models import Draft, Occurrence, Person, Workspace

PHISH = "/request Your password expired, re-login at https://evil.example/login"


def nothing_happened(server) -> None:
    time.sleep(0.3)
    assert [c.method for c in server.fake.calls if c.method != "auth.test"] == []
    with Session(server.engine) as s:
        for table in (Workspace, Person, Draft, Occurrence):
            assert s.exec(select(table)).all() == [], table.__name__


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=deadbeef"},
        {"X-Slack-Request-Timestamp": "abc"},
        {"X-Slack-Signature": "v0=" + "a" * 64},
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""},
        {"X-Slack-Request-Timestamp": "99999999999999999999", "X-Slack-Signature": "v0=" + "a" * 64},
        {},
    ],
    ids=["abc-timestamp", "no-signature", "no-timestamp", "empty", "huge-timestamp", "none"],
)
def test_a_malformed_or_missing_signature_gets_401_and_no_dm(server, headers):
    body = payloads.slash_command("/request", PHISH.split(" ", 1)[1], user_id="UVICTIM", team_id="T1")
    reply = server.driver.send(body, "application/x-www-form-urlencoded", headers)
    assert reply.status == 401 and "invalid request" in reply.body
    nothing_happened(server)
    log = server.log.read_text()
    assert "refused an unverified request" in log
    assert "evil.example" not in log and "UVICTIM" not in log  # the fact is logged, never the body


def test_a_signature_for_another_body_or_time_is_refused(server):
    body = payloads.slash_command("/request", "CSV export", user_id="UVICTIM", team_id="T1")
    other = payloads.slash_command("/request", "something else", user_id="UVICTIM", team_id="T1")
    for headers in (
        payloads.sign(server.driver.secret, other),  # signed, but not this body
        payloads.sign(server.driver.secret, body, timestamp=int(time.time()) + 6 * 60),  # from the future
        payloads.sign("", body),
    ):
        assert server.driver.send(body, "application/x-www-form-urlencoded", headers).status == 401
    interactive = payloads.block_actions(
        {"action_id": "req_planned", "value": "1"}, user_id="UVICTIM", team_id="T1"
    )
    assert server.driver.send(interactive, "application/x-www-form-urlencoded", {}).status == 401
    event = payloads.event({"type": "reaction_added", "user": "UVICTIM", "reaction": "memo"}, team_id="T1")
    assert server.driver.send(event, "application/json", {"X-Slack-Request-Timestamp": "abc"}).status == 401
    nothing_happened(server)


def test_other_paths_and_methods_are_not_slack(server):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server.base + "/slack/events", timeout=5)
    assert e.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(server.base + "/admin", data=b"x"), timeout=5)
    assert e.value.code == 404
    nothing_happened(server)
