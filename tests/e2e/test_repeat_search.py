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
from tests.e2e.test_thresholds import log, make_pm, texts_to, wait_receipts


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


def logged_view_of(fake, form) -> dict:
    """The view the form became once logged as new (views.update of the form's own id)."""
    calls = [
        c
        for c in fake.calls_to("views.update")
        if c.args.get("view_id") == form["id"] and c.response.get("ok")
    ]
    return calls[-1].response["view"]


def pick(d, user, view, value) -> None:
    """Pick an option of the logged view's search (Slack sends block_actions at once)."""
    element = {"type": "external_select", "action_id": "logged_same_as", "block_id": "logged_search"}
    selected = {"text": {"type": "plain_text", "text": "picked"}, "value": value}
    reply = d.click(user, {**element, "selected_option": selected}, view=view)
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_a_repeat_logged_as_new_is_found_from_the_logged_view_and_counted_there(server):
    d, fake, engine = server.driver, server.fake, server.engine
    make_pm(d)
    reply = d.command("U0PM", "/threshold", "General 2 in 30 days")
    assert "2×" in reply.text, reply.text
    # The workspace's first request: nothing to find yet, so its logged view offers no search.
    d.command("U1REP", "/request", "SCIM user provisioning for Okta")
    first = fake.wait_for(lambda: d.opened_views())[-1]
    assert d.submit("U1REP", first, {"customer": "Acme"}).status == 200
    fake.wait_for(lambda: [c for c in fake.calls_to("views.update") if c.args.get("view_id") == first["id"]])
    first_logged = logged_view_of(fake, first)
    assert "Logged for" in json.dumps(first_logged["blocks"])
    assert not [b for b in first_logged["blocks"] if b.get("block_id") == "logged_search"]
    assert not first_logged.get("private_metadata")
    scim = request_id(engine, "SCIM user provisioning for Okta")

    # Worded with none of its words: no "Same thing?" step, the request is logged as new.
    typed = "Cut off leavers the day HR marks them gone"
    before = len(d.opened_views())
    d.command("U2CSM", "/request", typed)
    form = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    reply = d.submit("U2CSM", form, {"customer": "Globex", "amount": "$90k"})
    assert reply.status == 200 and not reply.body, reply.body  # logged: the form says so
    new = request_id(engine, typed)
    view = logged_view_of(fake, form)
    text = json.dumps(view["blocks"])
    assert "Logged for" in text and "Asked for before" in text
    search = next(b for b in view["blocks"] if b.get("block_id") == "logged_search")
    assert search["accessory"]["type"] == "external_select"

    # The search offers the earlier request, never the one just logged; nothing for anyone else.
    options = d.suggest("U2CSM", view, "logged_search", "okta")
    assert [o["value"] for o in options] == [f"req:{scim}"]
    assert d.suggest("U2CSM", view, "logged_search", "leavers") == []
    assert d.suggest("U9OTHER", view, "logged_search", "okta") == []

    # A forged pick, or someone else's click with this view, moves nothing.
    pick(d, "U2CSM", view, "req:99999999")
    shown = fake.wait_for(lambda: logged_view_of(fake, form) if logged_view_of(fake, form) != view else None)
    assert "isn't a request I offered" in json.dumps(shown["blocks"])
    pick(d, "U9OTHER", shown, f"req:{scim}")
    assert [o.request_id for o in occurrences_of(engine, scim)] == [scim]

    # The requester's pick: their request is counted with the earlier one.
    shown = logged_view_of(fake, form)
    pick(d, "U2CSM", shown, f"req:{scim}")
    counted = fake.wait_for(
        lambda: (v := logged_view_of(fake, form)) and "Counted with" in json.dumps(v["blocks"]) and v
    )
    assert f"#{scim}" in json.dumps(counted["blocks"]) and "SCIM user provisioning" in json.dumps(
        counted["blocks"]
    )
    occs = occurrences_of(engine, scim)
    assert [o.text for o in occs] == ["SCIM user provisioning for Okta", typed]
    assert occs[1].customer == "Globex" and occs[1].amount_cents == 9_000_000
    with Session(engine) as s:
        moved = s.get(FeatureRequest, new)
        assert moved.status == "merged" and moved.merged_into_id == scim
    # Heard twice now: the PM's rule of 2 fires, once.
    alerts = fake.wait_for(lambda: [t for t in texts_to(fake, "U0PM") if "Threshold crossed" in t])
    assert len(alerts) == 1 and "SCIM user provisioning for Okta" in alerts[0]

    # The same pick again (a second click) moves nothing more.
    pick(d, "U2CSM", counted, f"req:{scim}")
    fake.wait_for(lambda: len(fake.calls_to("views.update")) >= 4)
    assert len(occurrences_of(engine, scim)) == 2
    assert len([t for t in texts_to(fake, "U0PM") if "Threshold crossed" in t]) == 1
