"""What a new user tripped over (issue 12, item 9), through the real app: buttons only for those who may act,
echoes of what the person saw, request numbers that aren't, plurals, "already a PM", the message link's place."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.payloads import buttons_in
from handlers.standing import occurrence_line
from handlers.views.decision_modals import shipped_modal
from storage.models import FeatureRequest, Occurrence, Person
from storage.requests import RequestStats
from tests.handlers.test_decisions import open_form, seeded, texts  # noqa: F401 (fixture)


def test_requests_shows_decision_buttons_only_to_the_pm_who_may_act(bolt, seeded):  # noqa: F811
    d = bolt.driver
    assert "owns *Billing*" in d.command("UADMIN", "/partnerbot", "pm add <@UPM2|quinn> Billing").text
    theirs = d.command("UPM2", "/requests", "Reporting").json["blocks"]
    assert not buttons_in(theirs)
    assert "<@UPM> decides on these" in json.dumps(theirs), theirs
    assert len([b for b in theirs if b["type"] == "section"]) == 3  # the header and both requests, all listed
    own = d.command("UPM", "/requests", "Reporting").json["blocks"]
    assert {b["value"] for b in buttons_in(own) if b["action_id"] == "req_shipped"} == {
        str(seeded["csv"]),
        str(seeded["excel"]),
    }


def test_refusals_echo_what_the_person_saw_not_slacks_markup(bolt, seeded):  # noqa: F811
    reply = bolt.driver.command("UANA", "/oneonone", "<@UPRIYA|priya> every 4 weeks")
    assert "Only PMs can set up peer 1:1s" in reply.text
    assert "You typed: `@priya every 4 weeks`" in reply.text and "UPRIYA" not in reply.text
    focus = bolt.driver.command("UANA", "/focus", "Reporting: <@UPRIYA|priya> wants dashboards")
    assert "You typed: `Reporting: @priya wants dashboards`" in focus.text


def test_a_hash_that_is_not_a_number_is_not_called_an_area(bolt, seeded):  # noqa: F811
    reply = bolt.driver.command("UANA", "/requests", "#abc")
    assert "“#abc” isn't a request number" in reply.text and "/requests #12" in reply.text
    assert "no area called" not in reply.text
    assert "There is no request #999 here" in bolt.driver.command("UANA", "/requests", "#999").text


def test_making_someone_a_pm_twice_says_nothing_changed(bolt, seeded):  # noqa: F811
    d, fake = bolt.driver, bolt.fake
    dms_before = len(fake.posts_to("UPM"))
    again = d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat>")
    assert "<@UPM> is already a PM, so nothing changed" in again.text and "is now a PM" not in again.text
    owned = d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting")
    assert "<@UPM> already owns *Reporting*, so nothing changed" in owned.text
    assert len(fake.posts_to("UPM")) == dms_before  # no second welcome
    d.command("UADMIN", "/partnerbot", "admin add <@UANA|ana>")
    assert "already an admin" in d.command("UADMIN", "/partnerbot", "admin add <@UANA|ana>").text


def test_not_yet_notes_and_the_shipped_form_agree_in_number(bolt, seeded):  # noqa: F811
    d, fake = bolt.driver, bolt.fake
    view = open_form(bolt, "UPM", "req_not_yet", seeded["csv"])
    d.submit("UPM", view, {"reason": "Onboarding first"})
    bo = [t for t in texts(fake, "UBO") if "not yet" in t]  # Bo logged it once, Ana twice
    ana = [t for t in texts(fake, "UANA") if "not yet" in t]
    assert "your 1 occurrence stays counted" in bo[0], bo
    assert "your 2 occurrences stay counted" in ana[0], ana
    one = shipped_modal(
        request=FeatureRequest(id=7, workspace_id=1, area_id=1, title="Excel download"),
        stats=RequestStats(count=1, customers={"acme"}, requesters={3}),
        meta={},
    )
    assert "1 person across 1 account gets a thank-you" in json.dumps(one, ensure_ascii=False)


def test_who_asked_sets_the_message_link_off_from_the_facts_before_it():
    occ = Occurrence(
        id=1,
        workspace_id=1,
        request_id=1,
        logged_by_id=1,
        text="CSV export",
        customer="Acme",
        permalink="https://example.slack.com/archives/C1/p1",
        created_at=datetime(2026, 3, 2, 15, tzinfo=UTC),
    )
    line = occurrence_line(occ, Person(id=1, workspace_id=1, slack_user_id="UANA"), "CSV export")
    assert line.endswith("*Acme* · <https://example.slack.com/archives/C1/p1|message>"), line
