"""The 1:1 agenda opens with the partnership figures since the last meeting, and offers a one-click
cadence change when the stakeholder's activity rose a lot."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.clock import run_due
from bot.payloads import buttons_in
from storage import schedule
from storage.models import FeatureRequest, OneOnOne, Person, ProductArea, Workspace
from storage.requests import record_occurrence
from tests.handlers.test_digest import blob
from tests.handlers.test_oneonone import GROUP, setup_oneonone


def test_the_agenda_says_what_happened_since_the_last_1to1_and_suggests_meeting_more_often(bolt):
    meeting = setup_oneonone(bolt)
    d, fake = bolt.driver, bolt.fake
    due = schedule.agenda_at(meeting.next_meeting, "America/New_York")
    with Session(bolt.deps.engine) as s:
        ws = s.exec(select(Workspace)).first()
        sam = s.exec(select(Person).where(Person.slack_user_id == "USAM")).one()
        area = s.exec(select(ProductArea).where(ProductArea.name == "Reporting")).one()
        request = FeatureRequest(workspace_id=ws.id, area_id=area.id, title="CSV export")
        s.add(request)
        s.flush()
        # 5 in the last six weeks (customer and frequency answered on each), 1 in the six weeks before.
        for days_ago in (2, 5, 9, 16, 30, 50):
            occ = record_occurrence(
                session=s,
                request=request,
                logged_by_id=sam.id,
                text="CSV",
                customer="Acme",
                frequency="weekly",
            )
            occ.created_at = due - timedelta(days=days_ago)
            s.add(occ)
        s.commit()
    assert run_due(bolt.deps, due) == 1
    bolt.deps.worker.drain()
    post = fake.posts_to(GROUP)[-1]
    text = blob(post)
    # Since the last 1:1 (none yet: the six weeks before the first): 5 logged, 10 of 30 answers.
    assert "*Since your last 1:1:* <@USAM> logged 5 requests, answered 33% of the follow-ups" in text
    assert "0 reached the rule and 0 shipped" in text
    assert "Activity rose from 1 to 5" in text
    assert text.index("Since your last 1:1") < text.index("What <@USAM> logged since last time")
    cadence = next(b for b in buttons_in(post.args["blocks"]) if b["action_id"] == "oneonone_cadence")
    assert cadence["text"]["text"] == "Meet every 3 weeks"
    message = {"ts": post.response["ts"], "text": post.args["text"], "blocks": post.args["blocks"]}
    d.click("UOTHER", cadence, channel=GROUP, message=message)
    with Session(bolt.deps.engine) as s:
        assert s.get(OneOnOne, meeting.id).cadence_weeks == 6  # only the two of them may change it
    d.click("USAM", cadence, channel=GROUP, message=message)
    with Session(bolt.deps.engine) as s:
        assert s.get(OneOnOne, meeting.id).cadence_weeks == 3
    assert "from every 6 weeks to every 3 weeks" in blob(fake.posts_to(GROUP)[-1])
