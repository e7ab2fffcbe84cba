"""Peer 1:1s: /oneonone and /agenda in-process, the agenda the clock posts to the group DM, Done and Add."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from bot.clock import run_due
from bot.payloads import buttons_in
from handlers.commands.oneonone import CadenceError, parse_cadence
from handlers.digest_builder import QUESTIONS
from handlers.text import from_slack
from storage import people, schedule
from storage.models import (
    AgendaItem,
    FeatureRequest,
    Occurrence,
    OneOnOne,
    Person,
    ProductArea,
    Workspace,
    utcnow,
)
from tests.handlers.test_digest import blob, make_pm

GROUP = "G" + "".join(sorted(["UPM", "USAM"]))


def setup_oneonone(bolt) -> OneOnOne:
    make_pm(bolt)
    bolt.fake.add_user("USAM", name="Sam Sales", tz="Europe/London")
    d = bolt.driver
    d.command("UPM", "/digest", "off")  # only agendas in these tests
    d.command("UPM", "/focus", "Reporting: Self-serve dashboards for finance teams")
    reply = d.command("UPM", "/oneonone", "<@USAM|sam> every 6 weeks on Tuesday")
    assert "Set up your peer 1:1 with <@USAM>: every 6 weeks on Tuesday" in reply.text, reply.text
    with Session(bolt.deps.engine) as s:
        return s.exec(select(OneOnOne)).one()


def seed_stakeholder_history(engine, meeting: OneOnOne, now: datetime) -> None:
    with Session(engine) as s:
        ws = s.exec(select(Workspace)).first()
        sam = s.exec(select(Person).where(Person.slack_user_id == "USAM")).one()
        area = s.exec(select(ProductArea).where(ProductArea.name == "Reporting")).one()

        def request(title, status="open", **kw):
            r = FeatureRequest(workspace_id=ws.id, area_id=area.id, title=title, status=status, **kw)
            s.add(r)
            s.flush()
            return r

        def occ(r, days_ago, by=sam):
            s.add(
                Occurrence(
                    workspace_id=ws.id,
                    request_id=r.id,
                    logged_by_id=by.id,
                    text=r.title,
                    customer="Acme",
                    created_at=now - timedelta(days=days_ago),
                )
            )

        csv = request("CSV export <!here>")
        occ(csv, 3)
        occ(csv, 5)
        shipped = request(
            "Scheduled PDF reports",
            status="shipped",
            status_changed_at=now - timedelta(days=4),
            shipped_note="Live for everyone on the Pro plan",
        )
        occ(shipped, 60)
        not_yet = request(
            "Custom fiscal calendars", status="not_yet", status_reason="Needs the new ledger first"
        )
        occ(not_yet, 70)
        other = people.ensure_person(session=s, workspace=ws, slack_user_id="UOTHER", name="Olga")
        occ(request("Someone else's request"), 2, by=other)
        s.commit()


def test_oneonone_command_validates_and_lists(bolt):
    make_pm(bolt)
    d = bolt.driver
    refused = d.command("USAM", "/oneonone", "<@UPM|pat> every 4 weeks")
    assert "Only PMs" in refused.text and "every 4 weeks" in refused.text
    too_long = d.command("UPM", "/oneonone", "<@USAM|sam> every 13 weeks on Tuesday")
    assert "1–12 weeks" in too_long.text and "You typed: `@sam every 13 weeks on Tuesday`" in too_long.text
    nobody = d.command("UPM", "/oneonone", "sam every 6 weeks")
    assert "Mention one person" in nobody.text and "sam every 6 weeks" in nobody.text
    assert "someone else" in d.command("UPM", "/oneonone", "<@UPM|me> weekly").text
    assert "don't know" in d.command("UPM", "/oneonone", "<@USAM|sam> every 6 weeks on Funday").text

    made = d.command("UPM", "/oneonone", "<@USAM|sam>")  # defaults: every 6 weeks on Tuesday
    assert "every 6 weeks on Tuesday" in made.text and "Next: *<!date^" in made.text
    assert "Next: *Tue" in from_slack(made.text)  # what a client that can't render the token shows
    updated = d.command("UPM", "/oneonone", "<@USAM|sam> every four weeks on thursdays")
    assert "Updated" in updated.text and "every 4 weeks on Thursday" in updated.text
    with Session(bolt.deps.engine) as s:
        row = s.exec(select(OneOnOne)).one()
        assert (row.cadence_weeks, row.weekday, row.next_meeting.weekday()) == (4, 3, 3)
        assert row.next_meeting > utcnow().date() - timedelta(days=1)
    listed = d.command("UPM", "/oneonone", "list")
    assert "<@USAM>: every 4 weeks on Thursday" in listed.text
    assert "<@UPM> (they run it)" in d.command("USAM", "/oneonone", "").text
    assert "Cancelled" in d.command("UPM", "/oneonone", "cancel <@USAM|sam>").text
    assert "no 1:1" in d.command("UPM", "/oneonone", "cancel <@USAM|sam>").text
    assert "no peer 1:1" in d.command("USAM", "/agenda", "<@UPM|pat> anything").text


def test_agenda_posted_once_to_the_group_dm_with_everything(bolt):
    meeting = setup_oneonone(bolt)
    d, fake = bolt.driver, bolt.fake
    added = d.command("USAM", "/agenda", "<@UPM|pat> Talk about the Acme renewal <!channel>")
    assert "Added to your 1:1 with <@UPM>" in added.text
    d.command("UPM", "/agenda", "<@USAM|sam> Q1 roadmap preview")
    listing = d.command("UPM", "/agenda", "<@USAM|sam>")
    assert "Acme renewal @channel" in listing.text and "Q1 roadmap preview" in listing.text
    assert "Mention who" in d.command("UPM", "/agenda", "just some words").text

    due = schedule.agenda_at(meeting.next_meeting, "America/New_York")
    assert due.astimezone(schedule.zone("America/New_York")).hour == 9
    assert schedule.working_day_before(meeting.next_meeting) == meeting.next_meeting - timedelta(
        days=1
    )  # Monday
    seed_stakeholder_history(bolt.deps.engine, meeting, due)

    assert run_due(bolt.deps, due - timedelta(minutes=1)) == 0
    assert run_due(bolt.deps, due) == 1
    assert run_due(bolt.deps, due + timedelta(hours=3)) == 0
    bolt.deps.worker.drain()
    opened = fake.calls_to("conversations.open")
    assert opened and opened[0].args["users"] == "UPM,USAM"
    posts = fake.posts_to(GROUP)
    assert len(posts) == 1
    text = blob(posts[0])
    assert "Peer 1:1 agenda" in text and "<@UPM>" in text and "<@USAM>" in text
    assert "CSV export &lt;!here&gt;" in text and "logged 2×" in text and "2/5 in 30 days" in text
    assert "Scheduled PDF reports" in text and "Thank you, <@USAM>" in text and "Pro plan" in text
    assert "Custom fiscal calendars" in text and "Needs the new ledger first" in text
    assert "Self-serve dashboards for finance teams" in text
    assert "Someone else's request" not in text
    assert "Talk about the Acme renewal @channel" in text and "<!channel>" not in text
    assert all(q in text for q in QUESTIONS[:3]) and QUESTIONS[3] not in text
    buttons = buttons_in(posts[0].args["blocks"])
    done = [b for b in buttons if b["action_id"] == "agenda_done"]
    assert len(done) == 2
    add = next(b for b in buttons if b["action_id"] == "agenda_add")

    # Either person can mark an item done; someone else cannot.
    message = {
        "ts": posts[0].response["ts"],
        "text": posts[0].args["text"],
        "blocks": posts[0].args["blocks"],
    }
    d.click("UOTHER", done[0], channel=GROUP, message=message)
    assert "Only the two people" in fake.calls_to("chat.postEphemeral")[-1].args["text"]
    d.click("USAM", done[0], channel=GROUP, message=message)
    update = fake.calls_to("chat.update")[-1]
    assert "~" in json.dumps(update.args["blocks"]) and "done (<@USAM>)" in json.dumps(update.args["blocks"])
    with Session(bolt.deps.engine) as s:
        items = s.exec(select(AgendaItem).order_by(AgendaItem.id)).all()
        assert items[0].done and items[0].done_by_id is not None and not items[1].done

    # "Add to agenda" opens a form; the item is stored for this meeting and shown in the group DM.
    d.click("UPM", add, channel=GROUP, message=message)
    view = d.last_view()
    assert view["callback_id"] == "agenda_add"
    assert d.submit("UPM", view, {"item": ""}).json["response_action"] == "errors"
    d.submit("UPM", view, {"item": "Intro to their VP of Finance"})
    assert "Intro to their VP of Finance" in blob(fake.posts_to(GROUP)[-1])

    # After the meeting day, the next meeting is 6 weeks on; undone items carry over; questions rotate.
    after = due + timedelta(days=2)
    assert run_due(bolt.deps, after) == 0
    with Session(bolt.deps.engine) as s:
        row = s.get(OneOnOne, meeting.id)
        assert row.last_meeting == meeting.next_meeting
        assert row.next_meeting == meeting.next_meeting + timedelta(weeks=6)
        assert row.question_index == 3
    next_due = schedule.agenda_at(meeting.next_meeting + timedelta(weeks=6), "America/New_York")
    assert run_due(bolt.deps, next_due) == 1
    bolt.deps.worker.drain()
    second = blob(fake.posts_to(GROUP)[-1])
    assert "Carried over from last time" in second and "Q1 roadmap preview" in second
    assert "Intro to their VP of Finance" in second and "Acme renewal" not in second
    assert QUESTIONS[3] in second and QUESTIONS[0] not in second
    assert "Nothing new logged" in second  # nothing since the last 1:1
    assert "Scheduled PDF reports" not in second  # thanked once

    # Cancelled: nothing more.
    d.command("UPM", "/oneonone", "cancel <@USAM|sam>")
    assert run_due(bolt.deps, next_due + timedelta(weeks=6)) == 0


def test_parse_cadence():
    assert parse_cadence("every 6 weeks on Tuesday") == (6, 1)
    assert parse_cadence("") == (6, 1)
    assert parse_cadence("weekly on fri") == (1, 4)
    assert parse_cadence("every other week on Mon") == (2, 0)
    assert parse_cadence("8w thursday") == (8, 3)
    for bad in ("every 0 weeks", "every 13 weeks", "sometimes"):
        try:
            parse_cadence(bad)
        except CadenceError:
            continue
        raise AssertionError(bad)


def test_meeting_dates():
    assert schedule.working_day_before(date(2026, 11, 30)) == date(2026, 11, 27)  # Monday -> Friday
    assert schedule.working_day_before(date(2026, 12, 1)) == date(2026, 11, 30)
    assert schedule.working_day_before(date(2026, 12, 6)) == date(2026, 12, 4)  # Sunday -> Friday
