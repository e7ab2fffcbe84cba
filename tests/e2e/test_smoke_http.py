"""The HTTP mode answers Slack's signed requests and refuses forged or stale ones."""

from __future__ import annotations

import time
import urllib.request

from sqlmodel import Session, select

from bot import payloads
from storage.models import Draft, Occurrence


def test_healthz_reports_database(server):
    with urllib.request.urlopen(server.base + "/healthz", timeout=5) as r:
        assert r.status == 200
        assert b'"database": "ok"' in r.read()


def test_forged_and_stale_signatures_are_refused_and_write_nothing(server):
    body = payloads.slash_command("/request", "CSV export", user_id="U1", team_id="T1")
    forged = payloads.sign("not-the-secret", body)
    assert server.driver.send(body, "application/x-www-form-urlencoded", forged).status == 401
    stale = payloads.sign(server.driver.secret, body, timestamp=int(time.time()) - 6 * 60)
    assert server.driver.send(body, "application/x-www-form-urlencoded", stale).status == 401
    assert server.driver.send(body, "application/x-www-form-urlencoded", {}).status == 401
    time.sleep(0.3)
    assert [c.method for c in server.fake.calls if c.method.startswith(("views.", "chat."))] == []
    with Session(server.engine) as s:
        assert s.exec(select(Draft)).all() == []
        assert s.exec(select(Occurrence)).all() == []
