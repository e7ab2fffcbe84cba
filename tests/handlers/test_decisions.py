"""PM decisions through the real app (in-process, SQLite): buttons, forms, thank-yous, "not yet" notes,
merges, `/requests` and `/requests mine`, and refusals for non-PMs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.fake_slack import TEAM_ID
from bot.payloads import buttons_in
from storage import people
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, Outbox, ProductArea, ThresholdCrossing, utcnow


@pytest.fixture
def seeded(bolt):
    """Admin makes UPM the PM of Reporting; Ana and Bo logged 'CSV export', Cy logged 'Excel download'."""
    d = bolt.driver
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    d.command("UPM", "/focus", "Reporting: self-serve onboarding")
    ids = {}
    with session_scope(bolt.deps.engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        area = people.get_area(session=s, workspace_id=ws.id, name="Reporting")
        who = {
            u: people.ensure_person(session=s, workspace=ws, slack_user_id=u, name=u[1:].title())
            for u in ("UANA", "UBO", "UCY")
        }
        csv = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
        excel = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="Excel download")

        def log(req, user, customer, days_ago, **kw):
            occ = store.record_occurrence(
                session=s, request=req, logged_by_id=who[user].id, text=req.title, customer=customer, **kw
            )
            occ.created_at = utcnow() - timedelta(days=days_ago)
            s.add(occ)

        log(
            csv,
            "UANA",
            "Acme",
            40,
            channel_id="CSALES",
            message_ts="1700000001.000100",
            amount_cents=4_000_000,
        )
        log(csv, "UANA", "Globex", 10)
        log(csv, "UBO", "Initech", 5)
        log(
            excel,
            "UCY",
            "Umbrella",
            2,
            channel_id="CCS",
            message_ts="1700000002.000200",
            thread_ts="1700000000.000050",
        )
        s.flush()
        ids = {"csv": csv.id, "excel": excel.id}
    return ids


def texts(fake, user) -> list[str]:
    return [json.dumps(c.args, ensure_ascii=False) for c in fake.posts_to(user)]


def button(blocks, action_id, value):
    return next(b for b in buttons_in(blocks) if b["action_id"] == action_id and b["value"] == str(value))


def pm_listing(d, area="Reporting"):
    reply = d.command("UPM", "/requests", area)
    assert reply.status == 200
    return reply.json["blocks"]


def open_form(bolt, user, action_id, request_id):
    d = bolt.driver
    before = len(d.opened_views())
    d.click(user, button(pm_listing(d), action_id, request_id), channel="C0GENERAL")
    views = d.opened_views()[before:]
    assert views, bolt.fake.summary()
    return views[-1]


def test_requests_lists_an_area_with_counts_customers_money_and_buttons_for_pms(bolt, seeded):
    d = bolt.driver
    blocks = pm_listing(d)
    text = json.dumps(blocks, ensure_ascii=False)
    assert "*Reporting* (<@UPM>) — 2 requests" in text and "self-serve onboarding" in text
    assert f"#{seeded['csv']} CSV export" in text and "heard 3×" in text and "3 customers" in text
    assert "$40k" in text and "*Acme*, *Globex* and *Initech*" in text
    assert button(blocks, "req_shipped", seeded["csv"]) and button(blocks, "req_merge", seeded["excel"])
    # A requester sees the same list without buttons, and is told why.
    other = d.command("UANA", "/requests", "reporting").json["blocks"]
    assert not buttons_in(other) and "<@UPM> decides on these" in json.dumps(other)
    # Unknown areas and empty areas say so, echoing what was typed.
    unknown = d.command("UANA", "/requests", "Billing <!channel>")
    assert "no area called “Billing @channel”" in unknown.text and "(areas: Reporting)" in unknown.text
    d.command("UPM", "/focus", "Billing: invoices")
    assert "No requests in *Billing*" in d.command("UANA", "/requests", "Billing").text
    assert "Requests by area" in d.command("UANA", "/requests").text


def test_long_lists_are_capped_and_say_how_many_more(bolt, seeded):
    with session_scope(bolt.deps.engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        area = people.get_area(session=s, workspace_id=ws.id, name="Reporting")
        for i in range(20):
            store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=f"Idea {i}")
    blocks = pm_listing(bolt.driver)
    assert len(blocks) <= 50
    assert "…and 7 more (showing 15" in json.dumps(blocks, ensure_ascii=False)


def test_non_pms_are_refused_and_nothing_changes(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    blocks = pm_listing(d)
    for action_id in ("req_shipped", "req_planned", "req_merge"):
        d.click("UANA", button(blocks, action_id, seeded["csv"]), channel="C0GENERAL")
    refusals = [c.args["text"] for c in fake.calls_to("chat.postEphemeral") if c.args["user"] == "UANA"]
    assert len(refusals) == 3 and all("Only PMs can" in t for t in refusals)
    assert (
        "*Shipped…* on" in refusals[0] and "CSV export" in refusals[0] and "/partnerbot pm add" in refusals[0]
    )
    assert not fake.calls_to("views.open")
    # A form opened by a PM and submitted by someone who is not one is refused too.
    view = open_form(bolt, "UPM", "req_shipped", seeded["csv"])
    reply = d.submit("UANA", view, {})
    assert reply.json["response_action"] == "errors" and "Only PMs" in json.dumps(reply.json["errors"])
    with Session(bolt.deps.engine) as s:
        assert s.get(FeatureRequest, seeded["csv"]).status == "open"


def test_shipped_thanks_each_requester_once_in_their_thread_or_by_dm(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    view = open_form(bolt, "UPM", "req_shipped", seeded["csv"])
    assert "2 people across 3 accounts get a thank-you" in json.dumps(view)
    bad = d.submit("UPM", view, {"link": "docs page"})
    assert bad.json["response_action"] == "errors" and "You typed: docs page" in bad.json["errors"]["link"]
    reply = d.submit("UPM", view, {"note": "Reports > Export > CSV", "link": "https://docs.example.com/csv"})
    assert reply.status == 200 and not reply.json.get("errors")
    # Ana: one thank-you, in the thread of her first message, listing both her customers.
    in_thread = [c for c in fake.posts_to("CSALES")]
    assert len(in_thread) == 1 and in_thread[0].args["thread_ts"] == "1700000001.000100"
    ana = json.dumps(in_thread[0].args, ensure_ascii=False)
    assert "<@UANA> Yes, we finally shipped the thing you raised on" in ana
    assert "for *Acme* and *Globex* (and 1 more time since)" in ana
    assert "Reports &gt; Export &gt; CSV" in ana and "https://docs.example.com/csv" in ana
    assert (
        "A note you can forward to your customer" in ana and "> Good news: CSV export is now available" in ana
    )
    assert not fake.posts_to("UANA")
    # Bo had no thread: by DM.
    bo = texts(fake, "UBO")
    assert len(bo) == 1 and "for *Initech*" in bo[0]
    assert not texts(fake, "UCY")  # asked for something else
    summary = texts(fake, "UPM")[-1]
    assert (
        "thanked 2 people across 3 accounts" in summary and "1 in their original thread, 1 by DM" in summary
    )
    with Session(bolt.deps.engine) as s:
        req = s.get(FeatureRequest, seeded["csv"])
        assert (req.status, req.shipped_note, req.shipped_link) == (
            "shipped",
            "Reports > Export > CSV",
            "https://docs.example.com/csv",
        )
        assert req.status_by_id is not None and req.status_changed_at is not None
    # Reopened and shipped again: nobody is thanked twice.
    d.click("UPM", button(pm_listing(d), "req_reopen", seeded["csv"]), channel="C0GENERAL")
    view = open_form(bolt, "UPM", "req_shipped", seeded["csv"])
    d.submit("UPM", view, {})
    # (Each of them hears that it was reopened, once: the note is not a second thank-you.)
    thanks = [t for t in texts(fake, "UBO") if "we finally shipped" in t]
    assert len(fake.posts_to("CSALES")) == 1 and len(thanks) == 1
    assert sum("reopened" in t for t in texts(fake, "UBO")) == 1
    assert "2 thanked earlier, not again" in texts(fake, "UPM")[-1]


def test_not_yet_reason_reaches_everyone_who_asked_and_again_for_a_new_decision(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    view = open_form(bolt, "UPM", "req_not_yet", seeded["csv"])
    assert "self-serve onboarding" in json.dumps(view)
    empty = d.submit("UPM", view, {"reason": "   "})
    assert empty.json["response_action"] == "errors"
    d.submit("UPM", view, {"reason": "Onboarding first <!channel>; we revisit in Q3"})
    for user in ("UANA", "UBO"):
        notes = [t for t in texts(fake, user) if "not yet" in t]
        assert len(notes) == 1, user
        assert "Onboarding first &lt;!channel&gt;; we revisit in Q3" in notes[0]
        assert "self-serve onboarding" in notes[0] and "counted (it" in notes[0]
    assert "<!channel>" not in fake.all_text().replace("Onboarding first <!channel>; we revisit in Q3", "")
    assert "told 2 people who asked" in texts(fake, "UPM")[-1]
    with Session(bolt.deps.engine) as s:
        req = s.get(FeatureRequest, seeded["csv"])
        assert req.status == "not_yet" and req.status_reason.startswith("Onboarding first")
    # A later, different "not yet" is news: everyone hears it once more.
    view = open_form(bolt, "UPM", "req_not_yet", seeded["csv"])
    d.submit("UPM", view, {"reason": "Still onboarding"})
    assert len([t for t in texts(fake, "UANA") if "not yet" in t]) == 2
    mine = d.command("UANA", "/requests", "mine")
    assert "*not yet*: Still onboarding" in json.dumps(mine.json["blocks"])


def test_merge_moves_occurrences_and_shipping_thanks_requesters_of_both(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    view = open_form(bolt, "UPM", "req_merge", seeded["excel"])
    target = next(b for b in view["blocks"] if b.get("block_id") == "target")
    assert [o["value"] for o in target["element"]["options"]] == [str(seeded["csv"])]
    assert "CSV export (3×)" in target["element"]["options"][0]["text"]["text"]
    wrong = d.submit("UPM", view, {"number": "999"})
    assert "no request #999" in wrong.json["errors"]["number"]
    itself = d.submit("UPM", view, {"number": f"#{seeded['excel']}"})
    assert "itself" in itself.json["errors"]["number"]
    d.submit("UPM", view, {"target": str(seeded["csv"])})
    assert "4 occurrences" not in texts(fake, "UPM")[-1] and "1 occurrence moved" in texts(fake, "UPM")[-1]
    assert "heard 4×" in texts(fake, "UPM")[-1]
    with Session(bolt.deps.engine) as s:
        excel = s.get(FeatureRequest, seeded["excel"])
        assert excel.status == "merged" and excel.merged_into_id == seeded["csv"]
    listing = json.dumps(pm_listing(d))
    assert "1 merged into others" in listing and "Excel download" not in listing
    view = open_form(bolt, "UPM", "req_shipped", seeded["csv"])
    d.submit("UPM", view, {})
    cy = [c for c in fake.posts_to("CCS")]
    assert (
        len(cy) == 1
        and cy[0].args["thread_ts"] == "1700000000.000050"
        and "Umbrella" in json.dumps(cy[0].args)
    )
    assert "thanked 3 people across 4 accounts" in texts(fake, "UPM")[-1]
    # Buttons on the merged request point the PM to where it went.
    d.click("UPM", {"action_id": "req_planned", "value": str(seeded["excel"])}, channel="C0GENERAL")
    assert f"act on #{seeded['csv']} instead" in fake.calls_to("chat.postEphemeral")[-1].args["text"]


def test_planned_updates_the_alert_message_and_mine_shows_it(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    from handlers.blocks import request_action_buttons

    posted = d.app.client.chat_postMessage(
        channel="UPM",
        text="alert",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "x"}},
            request_action_buttons(seeded["csv"]),
        ],
    )
    message = {"ts": posted["ts"], "text": "alert", "blocks": posted["message"]["blocks"]}
    d.click(
        "UPM",
        button(message["blocks"], "req_planned", seeded["csv"]),
        channel=posted["channel"],
        message=message,
    )
    assert "Marked #" in fake.calls_to("chat.postEphemeral")[-1].args["text"]
    update = fake.calls_to("chat.update")[-1].args
    ids = [e["action_id"] for b in update["blocks"] if b.get("type") == "actions" for e in b["elements"]]
    assert "req_reopen" in ids and "Marked *planned* by <@UPM>" in json.dumps(update)
    d.click(
        "UPM",
        button(message["blocks"], "req_planned", seeded["csv"]),
        channel=posted["channel"],
        message=message,
    )
    assert "already planned" in fake.calls_to("chat.postEphemeral")[-1].args["text"]
    mine = json.dumps(d.command("UBO", "/requests", "mine").json["blocks"], ensure_ascii=False)
    assert "CSV export* (Reporting) — *planned*" in mine and "for *Initech*" in mine
    assert "You haven't logged any requests" in d.command("UNEW", "/requests", "mine").text
    with Session(bolt.deps.engine) as s:
        assert not s.exec(select(Outbox).where(Outbox.key.startswith("thanks"))).all()


def test_a_pm_may_not_run_or_act_on_another_pms_area_until_it_is_released(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    assert "owns *Billing*" in d.command("UADMIN", "/partnerbot", "pm add <@UQUINN|quinn> Billing").text
    refused = d.command("UQUINN", "/threshold", "Reporting 10 in 30 days").text
    assert "belongs to <@UPM>" in refused and "Reporting 10 in 30 days" in refused
    refused = d.command("UQUINN", "/focus", "Reporting: something else").text
    assert "belongs to <@UPM>" in refused and "Reporting: something else" in refused
    d.click("UQUINN", {"action_id": "req_planned", "value": str(seeded["csv"])}, channel="C0GENERAL")
    assert "belongs to <@UPM>" in fake.calls_to("chat.postEphemeral")[-1].args["text"]
    d.click("UQUINN", {"action_id": "req_reset_threshold", "value": str(seeded["csv"])}, channel="C0GENERAL")
    assert "belongs to <@UPM>" in fake.calls_to("chat.postEphemeral")[-1].args["text"]
    with Session(bolt.deps.engine) as s:
        area = s.exec(select(ProductArea).where(ProductArea.name == "Reporting")).one()
        assert (area.focus, area.threshold_count) == ("self-serve onboarding", 5)
        assert s.get(FeatureRequest, seeded["csv"]).status == "open"

    # Removing the owner releases the area: it says so, and any PM may then act on it.
    removed = d.command("UADMIN", "/partnerbot", "pm remove <@UPM|pat>").text
    assert "*Reporting* now has no owner" in removed
    assert "now: 10× in 30 days" in d.command("UQUINN", "/threshold", "Reporting 10 in 30 days").text
    d.click("UQUINN", {"action_id": "req_planned", "value": str(seeded["csv"])}, channel="C0GENERAL")
    with Session(bolt.deps.engine) as s:
        assert s.get(FeatureRequest, seeded["csv"]).status == "planned"
        assert s.exec(select(ProductArea).where(ProductArea.name == "Reporting")).one().pm_id is None


def test_asking_for_what_already_shipped_tells_the_pm_and_hands_over_the_note(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    view = open_form(bolt, "UPM", "req_shipped", seeded["csv"])
    d.submit("UPM", view, {"link": "https://docs.example.com/csv"})
    before_pm = len(texts(fake, "UPM"))
    d.command("UDEE", "/request", "CSV export")
    form = d.opened_views()[-1]
    step = d.submit("UDEE", form, {"customer": "Hooli"}).json["view"]
    choice = next(
        o["value"] for o in step["blocks"][1]["element"]["options"] if "CSV export" in o["text"]["text"]
    )
    d.submit("UDEE", step, {"choice": choice})
    receipt = next(t for t in texts(fake, "UDEE") if "Logged for" in t)
    assert "already shipped" in receipt and "https://docs.example.com/csv" in receipt
    assert "A note you can forward to your customer" in receipt
    told = texts(fake, "UPM")[before_pm:]
    assert any("Customers still ask for *CSV export*" in t and "Hooli" in t and "<@UDEE>" in t for t in told)


def test_not_yet_and_shipped_from_a_form_update_the_message_they_were_clicked_in(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    from handlers.blocks import request_action_buttons

    posted = d.app.client.chat_postMessage(
        channel="UPM", text="alert", blocks=[request_action_buttons(seeded["csv"])]
    )
    message = {"ts": posted["ts"], "text": "alert", "blocks": posted["message"]["blocks"]}
    before = len(d.opened_views())
    d.click(
        "UPM",
        button(message["blocks"], "req_not_yet", seeded["csv"]),
        channel=posted["channel"],
        message=message,
    )
    form = d.opened_views()[before:][-1]
    d.submit("UPM", form, {"reason": "Onboarding first"})
    update = fake.calls_to("chat.update")[-1].args
    assert update["ts"] == posted["ts"] and "Marked *not yet* by <@UPM>" in json.dumps(update)
    ids = [e["action_id"] for b in update["blocks"] if b.get("type") == "actions" for e in b["elements"]]
    assert "req_reopen" in ids


def test_requests_number_lists_every_occurrence_with_their_own_words(bolt, seeded):
    d = bolt.driver
    with session_scope(bolt.deps.engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        rep = people.ensure_person(session=s, workspace=ws, slack_user_id="UMANY", name="Many")
        csv = s.get(FeatureRequest, seeded["csv"])
        for i in range(60):
            store.record_occurrence(
                session=s,
                request=csv,
                logged_by_id=rep.id,
                text=f"dashboard data out as CSV, variant {i}",
                customer=f"Customer {i}",
                root_problem=f"root problem number {i} " + "x" * 120,
                impact_detail="renewal in March at risk" if i == 59 else "",
            )
    reply = d.command("UPM", "/requests", f"#{seeded['csv']}")
    shown = json.dumps(reply.json["blocks"], ensure_ascii=False)
    assert len(reply.json["blocks"]) <= 50 and all(
        len(b["text"]["text"]) <= 3000 for b in reply.json["blocks"] if b["type"] == "section"
    )
    for i in (0, 30, 59):  # every one, none clipped away between blocks
        assert f"root problem number {i} " in shown and f"variant {i}" in shown
    assert "renewal in March at risk" in shown and "Acme" in shown  # the seeded ones too
    assert any(b["type"] == "actions" for b in reply.json["blocks"])  # the owning PM can act here
    rep_view = d.command("UANA", "/requests", f"{seeded['csv']}").json["blocks"]
    assert not any(b["type"] == "actions" for b in rep_view)
    assert "There is no request #99999" in d.command("UPM", "/requests", "#99999").text


def test_the_alert_lists_each_occurrence_whole_across_blocks():
    from datetime import UTC, datetime

    from handlers.standing import alert_blocks
    from storage.models import Occurrence, Person, ProductArea, ThresholdCrossing
    from storage.requests import RequestStats
    from storage.thresholds import Standing

    area = ProductArea(id=1, workspace_id=1, name="Reporting", name_key="reporting")
    request = FeatureRequest(id=5, workspace_id=1, area_id=1, title="CSV export")
    who = {i: Person(id=i, workspace_id=1, slack_user_id=f"U{i}") for i in range(25)}
    occs = [
        Occurrence(
            id=i,
            workspace_id=1,
            request_id=5,
            logged_by_id=i,
            text=f"spreadsheet download {i}",
            customer=f"C{i}",
            root_problem=f"problem {i} " + "y" * 150,
            focus_tie=f"tie {i}",
            created_at=datetime(2026, 11, 2, tzinfo=UTC),
        )
        for i in range(25)
    ]
    stats = RequestStats(count=25, customers={f"c{i}" for i in range(25)})
    standing = Standing(request_id=5, count=25, threshold=5, days=30, window=stats, total=stats)
    built = alert_blocks(
        request=request,
        area=area,
        standing=standing,
        crossings=[ThresholdCrossing(rule="count", request_id=5)],
        occurrences=occs,
        people=who,
    )
    text = json.dumps(built)
    for i in range(5, 25):  # the newest 20, each with its root problem and focus tie
        assert f"problem {i} " in text and f"tie {i}" in text and f"spreadsheet download {i}" in text
    assert "/requests #5" in text


def test_merging_into_a_not_yet_request_tells_the_newcomers_why_and_weighs_the_threshold(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    assert "3× in 30 days" in d.command("UPM", "/threshold", "Reporting 3 per 30 days").text
    view = open_form(bolt, "UPM", "req_not_yet", seeded["csv"])
    d.submit("UPM", view, {"reason": "Onboarding first this quarter"})
    assert len(texts(fake, "UANA")) == 1 and len(texts(fake, "UBO")) == 1 and not texts(fake, "UCY")
    view = open_form(bolt, "UPM", "req_merge", seeded["excel"])
    d.submit("UPM", view, {"target": str(seeded["csv"])})
    summary = texts(fake, "UPM")[-1]
    assert "over the threshold" in summary and "told the 1 person who hadn't heard why" in summary
    cy = texts(fake, "UCY") + [json.dumps(c.args, ensure_ascii=False) for c in fake.posts_to("CCS")]
    assert len(cy) == 1 and "Onboarding first this quarter" in cy[0]
    assert len(texts(fake, "UANA")) == 1 and len(texts(fake, "UBO")) == 1  # not told twice
    with Session(bolt.deps.engine) as s:
        assert [c.rule for c in s.exec(select(ThresholdCrossing))] == ["count"]
    assert "2 in 4 weeks" not in d.command("UPM", "/threshold", "Reporting 2 in 4 weeks").text
    assert "2× in 28 days" in d.command("UPM", "/threshold", "Reporting").text


def test_handing_an_area_to_another_pm_says_so_and_tells_both(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    d.command("UADMIN", "/partnerbot", "pm add <@UQUINN|quinn>")
    reply = d.command("UADMIN", "/partnerbot", "pm add <@UQUINN|quinn> Reporting").text
    assert "<@UQUINN> now owns *Reporting* (it was <@UPM>'s; I've let them know)" in reply
    bolt.deps.worker.drain()
    assert any("handed *Reporting* over to <@UQUINN>" in t for t in texts(fake, "UPM"))
    welcomes = [t for t in texts(fake, "UQUINN") if "made you" in t]
    assert len(welcomes) == 2 and "the PM of *Reporting*" in welcomes[-1]
    assert (
        "isn't a PM, so nothing changed" in d.command("UADMIN", "/partnerbot", "pm remove <@UANA|ana>").text
    )


def test_split_off_moves_a_mistaken_repeat_to_a_request_of_its_own(bolt, seeded):
    """Cy confirmed 'Same as: CSV export' for a different need; the PM splits it off again."""
    d, fake = bolt.driver, bolt.fake
    with session_scope(bolt.deps.engine) as s:
        csv = s.get(FeatureRequest, seeded["csv"])
        cy = people.ensure_person(
            session=s, workspace=people.ensure_workspace(session=s, team_id=TEAM_ID), slack_user_id="UCY"
        )
        wrong = store.record_occurrence(
            session=s,
            request=csv,
            logged_by_id=cy.id,
            text="PDF of the dashboard for the board",
            customer="Hooli",
        )
        wrong_id = wrong.id
    # A request heard once has nothing to split off.
    d.click("UPM", button(pm_listing(d), "req_split", seeded["excel"]), channel="C0GENERAL")
    assert "nothing to split off" in fake.calls_to("chat.postEphemeral")[-1].args["text"]
    view = open_form(bolt, "UPM", "req_split", seeded["csv"])
    options = next(b for b in view["blocks"] if b.get("block_id") == "occurrence")["element"]["options"]
    assert len(options) == 4 and options[0]["value"] == str(wrong_id)  # newest first
    assert "Cy · Hooli: “PDF of the dashboard for the board”" in options[0]["text"]["text"]
    assert "heard 4×" in json.dumps(view["blocks"], ensure_ascii=False)
    # Anyone but the area's PM is refused, and nothing moves.
    assert "Only PMs" in d.submit("UANA", view, {"occurrence": str(wrong_id)}).json["errors"]["occurrence"]
    assert d.submit("UPM", view, {}).json["errors"]["occurrence"] == "Pick the occurrence to split off."
    reply = d.submit("UPM", view, {"occurrence": str(wrong_id)})
    assert reply.status == 200 and not (reply.json or {}).get("errors")
    with Session(bolt.deps.engine) as s:
        new = s.exec(
            select(FeatureRequest).where(FeatureRequest.title == "PDF of the dashboard for the board")
        ).one()
        assert new.area_id == s.get(FeatureRequest, seeded["csv"]).area_id and new.status == "open"
        assert [o.id for o in store.occurrences_of(session=s, request_id=new.id)] == [wrong_id]
        assert len(store.occurrences_of(session=s, request_id=seeded["csv"])) == 3
    summary = texts(fake, "UPM")[-1]
    assert f"into a request of its own, #{new.id}" in summary and "is now heard 3×" in summary
    note = texts(fake, "UCY")[-1]
    assert "it's a different need from *CSV export*" in note and f"#{new.id}" in note and "Hooli" in note
    # The same form submitted again (a double click) is answered and does nothing; another form for the
    # same occurrence (opened before the split) is told it moved.
    told = len(texts(fake, "UPM"))
    again = d.submit("UPM", view, {"occurrence": str(wrong_id)})
    assert again.status == 200 and not again.json.get("errors") and len(texts(fake, "UPM")) == told
    stale = d.submit("UPM", {**view, "hash": "an-older-form"}, {"occurrence": str(wrong_id)})
    assert "isn't part of" in stale.json["errors"]["occurrence"]
    with Session(bolt.deps.engine) as s:
        assert len(s.exec(select(FeatureRequest)).all()) == 3
