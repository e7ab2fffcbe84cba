"""The admin's lifecycle through the real app (in-process, SQLite) and on both databases: uninstall parks
every send and a reinstall resumes them, Slack refusing the token parks them too, user_change refreshes a
person (a deactivated PM's areas go to the admins), `/partnerbot export` uploads CSV + JSON files,
`/partnerbot erase @user` after a confirmation, and the retention period."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.clock import drop_old_text
from bot.fake_slack import TEAM_ID
from bot.payloads import buttons_in
from storage import lifecycle, outbox, people
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, Occurrence, Outbox, Person, Workspace

T = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def seeded(bolt, clock):
    """UADMIN (the first user, so an admin) made UPM the PM of Reporting; Ana logged 'CSV export' twice,
    Bo once."""
    clock.set(T)
    d = bolt.driver
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    with session_scope(bolt.deps.engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        area = people.get_area(session=s, workspace_id=ws.id, name="Reporting")
        ana = people.ensure_person(session=s, workspace=ws, slack_user_id="UANA", name="Ana")
        bo = people.ensure_person(session=s, workspace=ws, slack_user_id="UBO", name="Bo")
        mine = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="Ana's own words")
        shared = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
        store.record_occurrence(
            session=s, request=mine, logged_by_id=ana.id, text="Ana's own words", customer="Acme"
        )
        store.record_occurrence(
            session=s, request=shared, logged_by_id=ana.id, text="they want CSV, says Ana", customer="Globex"
        )
        store.record_occurrence(
            session=s, request=shared, logged_by_id=bo.id, text="CSV please", customer="Initech"
        )
        workspace_id = ws.id
    return workspace_id


def statuses(engine, prefix: str) -> list[str]:
    with session_scope(engine) as s:
        return [
            r.status for r in s.exec(select(Outbox).where(Outbox.key.startswith(prefix)).order_by(Outbox.id))
        ]


def test_uninstall_parks_every_send_and_a_payload_from_the_workspace_again_resumes_them(bolt, seeded):
    d, engine = bolt.driver, bolt.deps.engine
    with session_scope(engine) as s:
        outbox.enqueue(
            session=s,
            key="t:before",
            payload={"channel": "UPM", "text": "queued before"},
            workspace_id=seeded,
        )
    bolt.deps.worker.drain()
    assert statuses(engine, "t:") == ["sent"]
    with session_scope(engine) as s:
        outbox.enqueue(
            session=s,
            key="t:pending",
            payload={"channel": "UPM", "text": "waiting when the app went"},
            workspace_id=seeded,
            not_before=T + timedelta(minutes=5),
        )
    d.event({"type": "app_uninstalled"})
    d.event({"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}})  # its pair: never a reinstall
    assert statuses(engine, "t:") == ["sent", "parked"]
    with session_scope(engine) as s:
        assert s.get(Workspace, seeded).parked_reason == "tokens_revoked"
        # Queued while the app is gone (a digest, say): parked at once.
        outbox.enqueue(
            session=s, key="t:after", payload={"channel": "UPM", "text": "while gone"}, workspace_id=seeded
        )
    assert statuses(engine, "t:") == ["sent", "parked", "parked"]
    bolt.deps.worker.drain()
    assert not [c for c in bolt.fake.posts_to("UPM") if "while gone" in json.dumps(c.args)]

    d.command("UADMIN", "/partnerbot", "pm list")  # the app is installed there again
    bolt.deps.worker.drain()
    assert statuses(engine, "t:") == ["sent", "pending", "sent"]  # the one not yet due waits its turn
    assert [c for c in bolt.fake.posts_to("UPM") if "while gone" in json.dumps(c.args)]
    with session_scope(engine) as s:
        assert s.get(Workspace, seeded).parked_at is None


def test_slack_refusing_the_token_parks_the_workspace_instead_of_retrying(bolt, seeded):
    def refused(method, args):
        return (200, {}, {"ok": False, "error": "token_revoked"}) if method == "chat.postMessage" else None

    bolt.fake.failure_rules.append(refused)
    with session_scope(bolt.deps.engine) as s:
        for n in range(2):
            outbox.enqueue(
                session=s, key=f"t:{n}", payload={"channel": "UPM", "text": f"m{n}"}, workspace_id=seeded
            )
    bolt.deps.worker.drain()
    assert statuses(bolt.deps.engine, "t:") == ["parked", "parked"]
    assert len(bolt.fake.calls_to("chat.postMessage")) == 1  # one refusal, then nothing more
    assert bolt.deps.worker.stats["parked"] == 1


def test_user_change_refreshes_the_person_and_flags_a_deactivated_pms_areas_once(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    change = {
        "type": "user_change",
        "event_ts": "1772463600.000100",
        "user": {
            "id": "UPM",
            "deleted": True,
            "tz": "Europe/Berlin",
            "profile": {"display_name": "Pat Moved", "real_name": "Pat M"},
        },
    }
    d.event(change)
    d.event({**change, "event_ts": "1772463700.000100"})  # another profile edit, still deactivated
    d.event({**change, "user": {**change["user"], "id": "UNEVERSEEN"}})
    with session_scope(bolt.deps.engine) as s:
        pm = people.get_person(session=s, workspace_id=seeded, slack_user_id="UPM")
        assert (pm.name, pm.tz, pm.deactivated) == ("Pat Moved", "Europe/Berlin", True)
        assert people.get_person(session=s, workspace_id=seeded, slack_user_id="UNEVERSEEN") is None
    told = [c for c in fake.posts_to("UADMIN") if "deactivated" in c.args["text"]]
    assert len(told) == 1 and "*Reporting*" in told[0].args["text"] and "<@UPM>" in told[0].args["text"]


def test_an_admin_exports_the_workspace_as_csv_and_json_files_in_their_dm(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    assert "Only an admin" in d.command("UANA", "/partnerbot", "export").text
    assert "Preparing the export" in d.command("UADMIN", "/partnerbot", "export").text
    fake.wait_for(lambda: len([f for f in fake.files.values() if f["complete"]]) == 4)
    files = {f["filename"]: f["data"].decode() for f in fake.files.values()}
    occurrences = list(csv.DictReader(io.StringIO(files["partnerbot-occurrences.csv"])))
    assert sorted(o["customer"] for o in occurrences) == ["Acme", "Globex", "Initech"]
    assert {o["logged_by"] for o in occurrences} == {"UANA (Ana)", "UBO (Bo)"}
    requests = list(csv.DictReader(io.StringIO(files["partnerbot-requests.csv"])))
    assert sorted(r["title"] for r in requests) == ["Ana's own words", "CSV export"]
    exported = json.loads(files["partnerbot-export.json"])
    assert set(exported) == {"requests", "occurrences", "decisions"} and len(exported["occurrences"]) == 3
    complete = fake.calls_to("files.completeUploadExternal")
    assert len(complete) == 1 and complete[0].args.get("channel_id")  # shared into the admin's DM


def test_erase_asks_first_then_removes_the_persons_words_and_name_but_keeps_the_counts(bolt, seeded):
    d, engine = bolt.driver, bolt.deps.engine
    asked = d.command("UADMIN", "/partnerbot", "erase <@UANA|ana>").json
    erase, cancel = buttons_in(asked["blocks"])
    with session_scope(engine) as s:
        assert s.exec(select(Person).where(Person.slack_user_id == "UANA")).one().name == "Ana"  # only asked
    d.click("UBO", erase)  # not an admin: nothing happens
    with session_scope(engine) as s:
        assert s.exec(select(Person).where(Person.slack_user_id == "UANA")).one().name == "Ana"
    d.click("UADMIN", erase)
    with session_scope(engine) as s:
        assert s.exec(select(Person).where(Person.slack_user_id == "UANA")).first() is None
        occurrences = s.exec(select(Occurrence).order_by(Occurrence.id)).all()
        assert [o.text for o in occurrences] == ["[erased]", "[erased]", "CSV please"]
        assert [o.customer for o in occurrences] == ["Acme", "Globex", "Initech"]  # the counts stay
        titles = sorted(r.title for r in s.exec(select(FeatureRequest)))
        assert titles == ["CSV export", "[erased]"]  # a title only her words made goes too
    told = [c for c in bolt.fake.posts_to("UADMIN") if "Erased" in c.args["text"]]
    assert len(told) == 1 and "2 logged request(s)" in told[0].args["text"]


def test_retention_empties_old_words_once_an_hour(bolt, seeded, clock):
    engine = bolt.deps.engine
    with session_scope(engine) as s:
        old = s.exec(select(Occurrence).where(Occurrence.customer == "Acme")).one()
        old.created_at = T - timedelta(days=100)
        old.source_text = "the original message"
        s.add(old)
    bolt.deps.settings = dataclasses.replace(bolt.deps.settings, retention_days=90)
    assert drop_old_text(bolt.deps, T) == 1
    assert drop_old_text(bolt.deps, T + timedelta(minutes=1)) == 0  # the next hour's job
    with session_scope(engine) as s:
        rows = {o.customer: (o.text, o.source_text) for o in s.exec(select(Occurrence))}
    assert rows["Acme"] == ("", "") and rows["Globex"][0] == "they want CSV, says Ana"


def test_park_and_resume_on_both_databases(engine, clock):
    clock.set(T)
    with session_scope(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T0PARK")
        other = people.ensure_workspace(session=s, team_id="T0OTHER")
        for key, workspace in (("a", ws), ("b", ws), ("c", other)):
            outbox.enqueue(
                session=s, key=key, payload={"channel": "U1", "text": key}, workspace_id=workspace.id
            )
    with session_scope(engine) as s:
        ws = lifecycle.parked_workspace(session=s, team_id="T0PARK") or people.ensure_workspace(
            session=s, team_id="T0PARK"
        )
        assert lifecycle.park(session=s, workspace=ws, reason="app_uninstalled") == 2
    with session_scope(engine) as s:
        assert outbox.claim_due(session=s, worker_id="w", now=T + timedelta(minutes=1)) != []
        assert [r.key for r in s.exec(select(Outbox).where(Outbox.status == "sending"))] == ["c"]
    with session_scope(engine) as s:
        ws = lifecycle.parked_workspace(session=s, team_id="T0PARK")
        assert lifecycle.resume(session=s, workspace=ws) == 2
        assert outbox.counts(session=s) == {"pending": 2, "sending": 1}
