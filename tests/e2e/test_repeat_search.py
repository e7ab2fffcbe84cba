"""Issue 16 end to end over signed HTTP: the "Same thing?" step's search finds the request the matcher missed,
by the words of its title or of a phrasing confirmed as it; picking it logs a repeat of it; a forged pick is
refused on the field and loses nothing."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from storage import people
from storage import requests as store
from storage.models import Draft, FeatureRequest, Occurrence
from tests.e2e.test_thresholds import log, make_pm, wait_receipts


def open_step(d, user, text, answers):
    """/request, fill the form, submit: the "Same thing?" step the bot answers with."""
    before = len(d.opened_views())
    d.command(user, "/request", text)
    form = d.fake.wait_for(lambda: d.opened_views()[before:])[-1]
    reply = d.submit(user, form, answers)
    assert reply.status == 200 and reply.json.get("response_action") == "update", reply.body
    return reply.json["view"]


def request_id(engine, title) -> int:
    with Session(engine) as s:
        return s.exec(select(FeatureRequest.id).where(FeatureRequest.title == title)).one()


def occurrences_of(engine, rid) -> list[Occurrence]:
    with Session(engine) as s:
        return list(s.exec(select(Occurrence).where(Occurrence.request_id == rid).order_by(Occurrence.id)))


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_the_search_finds_the_missed_request_and_picking_it_logs_a_repeat(server):
    d, fake, engine = server.driver, server.fake, server.engine
    make_pm(d)
    log(d, "U1REP", "Export reports to CSV", {"customer": "Acme"})
    log(d, "U1REP", "Export invoices as PDF", {"customer": "Acme"}, same_as=None)
    log(d, "U1REP", "SCIM user provisioning for Okta", {"customer": "Acme"}, same_as=None)
    log(d, "U1REP", "Dark mode for dashboards", {"customer": "Acme"}, same_as=None)
    scim = request_id(engine, "SCIM user provisioning for Okta")
    with Session(engine) as s:  # a shipped request is not offered
        dark = s.exec(select(FeatureRequest).where(FeatureRequest.title == "Dark mode for dashboards")).one()
        dark.status = "shipped"
        s.add(dark)
        s.commit()

    # The matcher offers the export look-alikes; the requester knows it is the SCIM one.
    typed = "Export new hires from the HR system automatically"
    step = open_step(d, "U2CSM", typed, {"customer": "Globex", "amount": "$90k"})
    suggested = [o["value"] for o in step["blocks"][1]["element"]["options"]]
    assert f"req:{scim}" not in suggested
    search = next(b for b in step["blocks"] if b.get("block_id") == "search")
    assert search["type"] == "input" and search["optional"] is True
    assert search["element"]["type"] == "external_select"
    assert step["blocks"][1]["optional"] is True  # the search alone is enough

    # Typing part of a word, in any case, offers the request (its count shown), and only matching ones.
    for words in ("okt", "SCIM", "user prov"):
        options = d.suggest("U2CSM", step, "search", words)
        assert [o["value"] for o in options] == [f"req:{scim}"], (words, options)
        assert "heard 1×" in options[0]["text"]["text"] and "SCIM" in options[0]["text"]["text"]
    assert d.suggest("U2CSM", step, "search", "dark mode") == []  # shipped
    assert d.suggest("U2CSM", step, "search", '"<!channel> AND NEAR(*') == []  # words, never syntax
    # Someone else holding the view's metadata gets nothing.
    assert d.suggest("U9OTHER", step, "search", "scim") == []

    # Both the radio and the search set: the search wins (the radio can't be unticked in Slack).
    reply = d.submit("U2CSM", step, {"choice": suggested[0], "search": f"req:{scim}"})
    assert reply.status == 200 and not reply.json.get("errors"), reply.body
    occs = occurrences_of(engine, scim)
    assert len(occs) == 2 and occs[1].customer == "Globex" and occs[1].text == typed
    with Session(engine) as s:
        assert s.exec(select(FeatureRequest).where(FeatureRequest.title == typed)).all() == []
        assert s.exec(select(Draft).where(Draft.occurrence_id == occs[1].id)).one()
    receipt = wait_receipts(fake, "U2CSM", 1)[0]
    assert "SCIM user provisioning for Okta" in receipt and "heard 2×" in receipt

    # The same submission again (a double click) logs nothing more.
    again = d.submit("U2CSM", step, {"choice": suggested[0], "search": f"req:{scim}"})
    assert again.status == 200 and not again.json.get("errors")
    assert len(occurrences_of(engine, scim)) == 2

    # Its phrasing, now confirmed as the SCIM request, finds it too.
    step3 = open_step(d, "U3AE", "Export new joiners from Workday", {"customer": "Initech"})
    options = d.suggest("U3AE", step3, "search", "new hires HR sys")
    assert [o["value"] for o in options] == [f"req:{scim}"]
    assert "heard 2×" in options[0]["text"]["text"]


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_a_forged_or_stale_search_pick_gets_a_field_error_and_loses_nothing(server):
    d, fake, engine = server.driver, server.fake, server.engine
    make_pm(d)
    log(d, "U1REP", "Export reports to CSV", {"customer": "Acme"})
    log(d, "U1REP", "Dark mode for dashboards", {"customer": "Acme"}, same_as=None)
    with Session(engine) as s:  # another installation's workspace on the same database
        other = people.ensure_workspace(session=s, team_id="TBETA")
        them = people.ensure_person(session=s, workspace=other, slack_user_id="UB1")
        area = people.ensure_area(session=s, workspace_id=other.id, name="General")
        mine = store.create_request(
            session=s, workspace_id=other.id, area_id=area.id, title="Export reports to CSV for them"
        )
        store.record_occurrence(session=s, request=mine, logged_by_id=them.id, text=mine.title)
        theirs = mine.id
        s.commit()
    with Session(engine) as s:
        dark = s.exec(select(FeatureRequest).where(FeatureRequest.title == "Dark mode for dashboards")).one()
        dark.status, dark_id = "shipped", dark.id
        s.add(dark)
        s.commit()
    before = len(occurrences_of(engine, request_id(engine, "Export reports to CSV")))
    step = open_step(d, "U2CSM", "Export the reports as CSV files", {"customer": "Globex"})

    for value, says in [
        (f"req:{theirs}", "isn't a request I offered"),  # another workspace's
        ("req:987654321", "isn't a request I offered"),
        ("req:abc", "isn't a request I offered"),
        ("<!channel>", "isn't a request I offered"),
        (f"req:{dark_id}", "is shipped already"),
    ]:
        reply = d.submit("U2CSM", step, {"search": value})
        assert reply.status == 200, reply.body
        assert reply.json.get("response_action") == "errors", (value, reply.body)
        assert says in reply.json["errors"]["search"], (value, reply.body)
    with Session(engine) as s:
        assert s.exec(select(Draft).where(Draft.person_id.is_not(None))).all()
        assert all(d_.occurrence_id is None for d_ in s.exec(select(Draft)) if "reports as CSV" in d_.text)
    assert len(occurrences_of(engine, request_id(engine, "Export reports to CSV"))) == before
    assert "<!channel>" not in json.dumps([c.args for c in fake.calls_to("chat.postMessage")])

    # Neither answered: asked for one or the other.
    reply = d.submit("U2CSM", step, {})
    assert "search for it below" in reply.json["errors"]["choice"]

    # The form kept everything: a real pick then logs it.
    good = d.suggest("U2CSM", step, "search", "csv")
    assert [o["value"] for o in good] == [f"req:{request_id(engine, 'Export reports to CSV')}"]
    reply = d.submit("U2CSM", step, {"search": good[0]["value"]})
    assert not reply.json.get("errors"), reply.body
    assert len(occurrences_of(engine, request_id(engine, "Export reports to CSV"))) == before + 1
