"""Operating the web process: one JSON log line per Slack payload (team, user, listener, latency,
outcome), /healthz with the outbox and the clock's heartbeat, and Prometheus /metrics summed over
gunicorn's workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

from sqlmodel import Session, select

from bot.fake_slack import TEAM_ID
from storage import outbox
from storage.models import ClockHeartbeat
from tests.e2e.conftest import ROOT


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def payload_lines(log_text: str) -> list[dict]:
    lines = []
    for line in log_text.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "listener" in record:
                lines.append(record)
    return lines


def test_each_payload_is_one_json_line_and_counted_in_metrics(server):
    trigger = "13345224609.738474920.8088930838d88f008e0"
    first = server.driver.command("U0ADMIN", "/partnerbot", "help", trigger_id=trigger)
    again = server.driver.command("U0ADMIN", "/partnerbot", "help", trigger_id=trigger)  # Slack's retry
    assert first.status == again.status == 200
    lines = payload_lines(server.log.read_text())
    assert [(r["listener"], r["outcome"]) for r in lines][-2:] == [
        ("partnerbot_command", "done"),
        ("partnerbot_command", "duplicate"),
    ], lines
    line = lines[-2]
    assert (line["team_id"], line["user"], line["kind"], line["level"]) == (
        TEAM_ID,
        "U0ADMIN",
        "command",
        "INFO",
    )
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    status, page = get(server.base + "/metrics")
    assert status == 200
    assert 'partnerbot_request_seconds_count{kind="command",outcome="done"} 1.0' in page
    assert 'partnerbot_request_seconds_count{kind="command",outcome="duplicate"} 1.0' in page


def test_healthz_shows_the_outbox_and_goes_503_when_the_clock_falls_silent(server):
    with Session(server.engine) as s:
        outbox.enqueue(
            session=s,
            key="op:1",
            payload={"channel": "U0X", "text": "later"},
            not_before=datetime(2030, 1, 1, tzinfo=UTC),
        )
        s.commit()
    status, body = get(server.base + "/healthz")
    report = json.loads(body)
    # One web process with no clock ever run against its database is healthy.
    assert status == 200 and report["clock"] == {"last_beat": None}
    assert report["outbox"]["backlog"] == 1 and report["outbox"]["parked"] == 0

    # A clock ran once (its heartbeat is its own, at its own time): healthy.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN="xoxb-e2e", SLACK_API_URL=server.fake.api_url, DATABASE_URL=server.url)
    ran = subprocess.run(
        [sys.executable, "-m", "bot", "clock", "--once"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    status, body = get(server.base + "/healthz")
    assert status == 200 and json.loads(body)["clock"]["last_beat"] is not None

    # Its last beat long ago: the clock has stopped, and the platform should hear it.
    with Session(server.engine) as s:
        beat = s.exec(select(ClockHeartbeat)).one()
        beat.beat_at = datetime(2020, 1, 1, tzinfo=UTC)
        s.add(beat)
        s.commit()
    status, body = get(server.base + "/healthz")
    assert status == 503 and "silent" in json.loads(body)["clock"]["problem"]
