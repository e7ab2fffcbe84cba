"""The App Home tab per role, its buttons, the Messages tab, status notes to everyone who asked, and the
customer typeahead and merge, through the real app (in-process, SQLite) and the fake Slack Web API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.fake_slack import TEAM_ID
from bot.payloads import buttons_in
from storage import outbox, people
from storage import requests as store
from storage.db import session_scope
from storage.models import Occurrence, ProductArea, ThresholdCrossing

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture
def seeded(bolt, clock):
    """UPM owns Reporting (rule 3 in 30 days); Ana logged CSV export twice (Acme, Acme Corp: one customer
    typed two ways), Bo once (Initech), which made it cross; Cy logged Excel download once."""
    clock.set(NOW)
    d = bolt.driver
    d.command("UADMIN", "/partnerbot", "help")  # the first person in the workspace is its admin
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    d.command("UPM", "/focus", "Reporting: self-serve onboarding")
    d.command("UPM", "/threshold", "Reporting 3 in 30 days")
    d.command("UADMIN", "/partnerbot", "pm add <@UADMIN|root>")
    with session_scope(bolt.deps.engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        people.ensure_area(session=s, workspace_id=ws.id, name="Billing")  # nobody owns it
        area = people.get_area(session=s, workspace_id=ws.id, name="Reporting")
        who = {
            u: people.ensure_person(session=s, workspace=ws, slack_user_id=u, name=u[1:].title())
            for u in ("UANA", "UBO", "UCY")
        }
        csv = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
        excel = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="Excel download")

        def log(req, user, customer, days_ago, cents=None, **kw):
            occ = store.record_occurrence(
                session=s,
                request=req,
                logged_by_id=who[user].id,
                text=req.title,
                customer=customer,
                amount_cents=cents,
                currency="USD" if cents else "",
                **kw,
            )
            occ.created_at = NOW - timedelta(days=days_ago)
            s.add(occ)
            return occ

        log(csv, "UANA", "Acme", 20, 4_000_000, frequency="weekly", root_problem="month end")
        log(csv, "UANA", "Acme Corp", 10, 4_000_000)
        last = log(csv, "UBO", "Initech", 5, 10_000_000)
        log(excel, "UCY", "Umbrella", 2)
        s.add(
            ThresholdCrossing(
                workspace_id=ws.id,
                request_id=csv.id,
                rule="count",
                window_key="w1",
                occurrence_id=last.id,
                crossed_at=NOW - timedelta(days=5),
            )
        )
        s.flush()
        ids = {"csv": csv.id, "excel": excel.id, "area": area.id}
    return ids


def open_home(bolt, user: str) -> dict:
    fake = bolt.fake
    before = len(fake.calls_to("views.publish"))
    reply = bolt.driver.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"})
    assert reply.status == 200
    published = fake.calls_to("views.publish")[before:]
    assert published, fake.summary()
    call = published[-1]
    assert call.args["user_id"] == user
    view = call.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    return view


def text_of(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_a_pm_sees_areas_waiting_requests_stakeholders_and_a_chart(bolt, seeded):
    view = open_home(bolt, "UPM")
    text = text_of(view)
    assert "Your product areas" in text and "self-serve onboarding" in text and "3× in 30 days" in text
    actions = {(b["action_id"], b["value"]) for b in buttons_in(view["blocks"])}
    assert ("home_edit_focus", str(seeded["area"])) in actions and (
        "home_edit_rules",
        str(seeded["area"]),
    ) in actions
    # The crossed request waits for a decision, with the buttons to make it.
    assert f"#{seeded['csv']} CSV export" in text and "Waiting for your decision" in text
    assert ("req_planned", str(seeded["csv"])) in actions and ("req_shipped", str(seeded["csv"])) in actions
    # Partnership figures per stakeholder: Ana logged 2 and answered 3 of 12 follow-ups (customer twice,
    # amount twice, frequency and root problem once: 6 of 12 → 50%).
    assert "<@UANA> — 2 logged · 50% of follow-ups answered · 1 reached the rule · 0 shipped" in text
    assert "<@UBO> — 1 logged" in text and "<@UCY> — 1 logged" in text
    # "Acme" and "Acme Corp" are offered for a merge.
    assert any(a == "customer_merge" for a, _ in actions)
    # The chart was drawn, uploaded once and shown.
    images = [b for b in view["blocks"] if b["type"] == "image"]
    assert len(images) == 1
    file_id = images[0]["slack_file"]["id"]
    assert bolt.fake.files[file_id]["complete"] and bolt.fake.files[file_id]["data"].startswith(b"\x89PNG")
    open_home(bolt, "UPM")
    assert len(bolt.fake.calls_to("files.completeUploadExternal")) == 1  # at most once a day


def test_a_stakeholder_sees_their_requests_against_the_rule_and_how_the_pm_works(bolt, seeded):
    view = open_home(bolt, "UANA")
    text = text_of(view)
    assert "Your requests" in text and "CSV export" in text and "open* — no decision yet" in text
    assert "3 of 3 in 30 days toward the rule" in text
    assert "How Reporting works* — PM: <@UPM>" in text and "not “no”" in text
    actions = {b["action_id"] for b in buttons_in(view["blocks"])}
    assert {"home_log_request", "rules_suggest"} <= actions
    assert "req_planned" not in actions and "home_edit_focus" not in actions  # nothing to decide here
    # Logging from Home opens the request form.
    log = next(b for b in buttons_in(view["blocks"]) if b["action_id"] == "home_log_request")
    bolt.driver.click("UANA", log, view=view)
    assert bolt.driver.last_view()["callback_id"] == "request_modal"


def test_an_admin_sees_pms_unowned_areas_and_who_could_not_be_reached(bolt, seeded):
    with session_scope(bolt.deps.engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        outbox.enqueue(
            session=s,
            key="thanks:x:1",
            payload={"channel": "UGONE", "text": "hi"},
            workspace_id=ws.id,
            kind="thanks",
            report_label="the thank-you for “CSV export” to <@UGONE>",
        )
        s.flush()
        (held,) = outbox.claim_due(session=s, worker_id="test-worker")
        assert outbox.mark_failed(session=s, row_id=held.id, token=held.claim_token, error="user_disabled")
    text = text_of(open_home(bolt, "UADMIN"))
    assert "Admin: PMs and areas" in text and "<@UPM> — *Reporting*" in text
    assert "Areas without an owner" in text and "*Billing*" in text
    assert "Delivery problems" in text and "to <@UGONE>" in text and "user_disabled" in text


def test_edit_rules_from_home_changes_the_area_and_refreshes_home(bolt, seeded):
    d = bolt.driver
    view = open_home(bolt, "UPM")
    edit = next(b for b in buttons_in(view["blocks"]) if b["action_id"] == "home_edit_rules")
    d.click("UPM", edit, view=view)
    form = d.last_view()
    reply = d.submit("UPM", form, {"count": "four", "days": "30"})
    assert reply.json["response_action"] == "errors" and "four" in reply.json["errors"]["count"]
    d.submit("UPM", form, {"count": "4", "days": "14", "amount": "$500k"})
    with Session(bolt.deps.engine) as s:
        area = s.get(ProductArea, seeded["area"])
        assert (area.threshold_count, area.threshold_days, area.threshold_amount_cents) == (4, 14, 50_000_000)
    latest = bolt.fake.calls_to("views.publish")[-1].args
    assert latest["user_id"] == "UPM" and "4× in 14 days" in json.dumps(latest["view"], ensure_ascii=False)
    # A non-PM (and another area's PM) is refused, and nothing changes.
    d.click("UCY", edit, view=view)
    assert "Only PMs can set thresholds" in bolt.fake.posts_to("UCY")[-1].args["text"]
    d.command("UADMIN", "/partnerbot", "pm add <@UCY|cy> Billing")
    d.click("UCY", edit, view=view)
    assert "belongs to <@UPM>" in bolt.fake.posts_to("UCY")[-1].args["text"]
    with Session(bolt.deps.engine) as s:
        assert s.get(ProductArea, seeded["area"]).threshold_count == 4


def test_planned_and_reopened_reach_everyone_who_asked_once_each(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    view = open_home(bolt, "UPM")
    planned = next(
        b
        for b in buttons_in(view["blocks"])
        if b["action_id"] == "req_planned" and b["value"] == str(seeded["csv"])
    )
    d.click("UPM", planned, view=view)
    d.click("UPM", planned, view=view)  # a second click: already planned, nobody told twice

    def notes(user, word):
        return [c for c in fake.posts_to(user) if word in c.args.get("text", "")]

    assert len(notes("UANA", "Planned")) == 1 and len(notes("UBO", "Planned")) == 1  # Ana logged it twice
    assert notes("UCY", "Planned") == []
    assert "I told the 2 people who asked" in json.dumps(
        [c.args for c in fake.calls_to("chat.postEphemeral")], ensure_ascii=False
    )
    # Their Home shows it planned.
    homes = [c.args for c in fake.calls_to("views.publish") if c.args["user_id"] == "UANA"]
    assert homes and "*planned*" in json.dumps(homes[-1]["view"], ensure_ascii=False)
    # The refreshed Home offers Reopen on it now.
    pm_home = [c.args for c in fake.calls_to("views.publish") if c.args["user_id"] == "UPM"][-1]["view"]
    pm_home = json.loads(pm_home) if isinstance(pm_home, str) else pm_home
    reopen = {"type": "button", "action_id": "req_reopen", "value": str(seeded["csv"])}
    d.click("UPM", reopen, view=view)
    assert len(notes("UANA", "Reopened")) == 1 and len(notes("UBO", "Reopened")) == 1
    with Session(bolt.deps.engine) as s:
        keys = [r.key for r in s.exec(select(outbox.Outbox)).all() if r.key.startswith("status:")]
        assert len(keys) == len(set(keys)) == 4


def test_a_dm_to_the_bot_gets_help_and_an_offer_to_log_it(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    message = fake.add_message("UANA", user="UANA", text="Globex wants SSO with Okta")
    d.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "DUANA",
            "user": "UANA",
            "text": message["text"],
            "ts": message["ts"],
        }
    )
    reply = fake.posts_to("UANA")[-1].args
    assert "/request" in json.dumps(
        reply["blocks"], ensure_ascii=False
    ) and "Globex wants SSO with Okta" in json.dumps(reply["blocks"])
    # The bot's own messages (and edits) are not answered.
    d.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "DUANA",
            "bot_id": "BBOT",
            "text": "x",
            "ts": "1.2",
        }
    )
    d.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel_type": "im",
            "channel": "DUANA",
            "ts": "1.3",
        }
    )
    assert fake.posts_to("UANA")[-1].args == reply
    offer = next(b for b in buttons_in(reply["blocks"]) if b["action_id"] == "dm_log_request")
    d.click("UANA", offer, channel="DUANA")
    form = d.last_view()
    request_block = next(b for b in form["blocks"] if b.get("block_id") == "request")
    assert request_block["element"]["initial_value"] == "Globex wants SSO with Okta"
    # Someone else's click on Ana's offer opens nothing.
    opened = len(d.opened_views())
    d.click("UBO", offer, channel="DUANA")
    assert len(d.opened_views()) == opened


def test_the_customer_field_is_a_typeahead_and_a_merge_counts_one_customer_once(bolt, seeded):
    d = bolt.driver
    d.command("UBO", "/request", "Scheduled exports")
    form = d.last_view()
    options = d.suggest("UBO", form, "customer", "acme")
    labels = [o["text"]["text"] for o in options]
    assert labels[:2] == ["Acme", "Acme Corp"] or labels[:2] == ["Acme Corp", "Acme"]
    assert d.suggest("UBO", form, "customer", "initec")[0]["value"] == "Initech"
    assert d.suggest("UBO", form, "customer", "Hooli")[-1]["text"]["text"] == "New customer: Hooli"
    with Session(bolt.deps.engine) as s:
        before = store.request_stats(session=s, request_id=seeded["csv"])
    assert (before.customer_count, before.money) == (3, {"USD": 18_000_000})  # Acme's $40k counted twice
    view = open_home(bolt, "UPM")
    merge = next(b for b in buttons_in(view["blocks"]) if b["action_id"] == "customer_merge")
    assert json.loads(merge["value"]) in ({"k": "Acme", "f": "Acme Corp"}, {"k": "Acme Corp", "f": "Acme"})
    d.click("UPM", merge, view=view)
    keep = json.loads(merge["value"])["k"]
    with Session(bolt.deps.engine) as s:
        after = store.request_stats(session=s, request_id=seeded["csv"])
        names = {o.customer for o in s.exec(select(Occurrence)).all()}
    assert (after.customer_count, after.money) == (2, {"USD": 14_000_000})
    assert keep in names and ({"Acme", "Acme Corp"} - {keep}) & names == set()
    assert "now counts as" in bolt.fake.posts_to("UPM")[-1].args["text"]
    # From now on, the old name typed in the form is the merged customer; the Home offers no merge.
    fold = json.loads(merge["value"])["f"]
    assert d.suggest("UBO", form, "customer", fold)[0]["value"] == keep
    reply = d.submit("UBO", form, {"customer": fold, "area": str(seeded["area"])})
    if reply.json.get("response_action") == "update":  # "Same thing?": it is new
        d.submit("UBO", bolt.fake.remember_view(reply.json["view"], form["id"]), {"choice": "new"})
    with Session(bolt.deps.engine) as s:
        newest = s.exec(select(Occurrence).order_by(Occurrence.id.desc())).first()
        assert newest.customer == keep
    assert not any(b["action_id"] == "customer_merge" for b in buttons_in(open_home(bolt, "UPM")["blocks"]))
    # Only PMs and admins merge.
    d.click("UCY", merge, view=view)
    assert "Only PMs and admins" in bolt.fake.posts_to("UCY")[-1].args["text"]


def test_the_first_request_in_an_area_brings_its_how_i_work_card_once(bolt, seeded):
    d, fake = bolt.driver, bolt.fake
    for text in ("Scheduled exports", "Dark mode for dashboards"):
        d.command("UDEE", "/request", text)
        form = d.last_view()
        reply = d.submit("UDEE", form, {"customer": "Hooli", "area": str(seeded["area"])})
        if reply.json.get("response_action") == "update":
            d.submit("UDEE", fake.remember_view(reply.json["view"], form["id"]), {"choice": "new"})
    cards = [c for c in fake.posts_to("UDEE") if c.args.get("text") == "How Reporting works"]
    assert len(cards) == 1
    card = json.dumps(cards[0].args["blocks"], ensure_ascii=False)
    assert "PM: <@UPM>" in card and "self-serve onboarding" in card and "3× in 30 days" in card
    assert "not “no”" in card
    # "Suggest a change to these rules" reaches the PM (no 1:1 between them: by DM).
    suggest = next(b for b in buttons_in(cards[0].args["blocks"]) if b["action_id"] == "rules_suggest")
    d.click("UDEE", suggest, channel="DUDEE")
    d.submit("UDEE", d.last_view(), {"suggestion": "Count churn-risk requests double"})
    assert "Count churn-risk requests double" in json.dumps(fake.posts_to("UPM")[-1].args, ensure_ascii=False)
    # Their Home was refreshed with what they logged.
    homes = [c.args for c in fake.calls_to("views.publish") if c.args["user_id"] == "UDEE"]
    assert homes and "Dark mode for dashboards" in json.dumps(homes[-1]["view"], ensure_ascii=False)


def test_a_new_customer_name_too_long_for_slack_is_refused_not_cut(bolt, seeded):
    from handlers.views.request_modal_builder import CUSTOMER_TOO_LONG

    d = bolt.driver
    d.command("UBO", "/request", "Scheduled exports")
    form = d.last_view()
    long_name = "Globex International Holdings " * 7  # 210 characters: more than an option's value keeps
    offered = d.suggest("UBO", form, "customer", long_name)[-1]
    assert offered["value"] == CUSTOMER_TOO_LONG and "Too long" in offered["text"]["text"]
    reply = d.submit("UBO", form, {"customer": CUSTOMER_TOO_LONG, "area": str(seeded["area"])})
    assert reply.json["response_action"] == "errors" and "150 characters" in reply.json["errors"]["customer"]
    with Session(bolt.deps.engine) as s:
        assert all(o.text != "Scheduled exports" for o in s.exec(select(Occurrence)).all())


def test_home_lists_show_each_linked_issues_status_in_one_query_and_ping_nobody(bolt, seeded):
    from sqlalchemy import event

    from tests.handlers.test_digest import link_issue, section_of

    engine = bolt.deps.engine
    link_issue(
        engine,
        seeded["csv"],
        key="acme/app#12",
        title="<!channel> CSV export",
        state="done",
        state_label="<!everyone> Shipped",
    )
    link_issue(engine, seeded["csv"], key="acme/web#3", state="started", state_label="In progress")
    with session_scope(engine) as s:
        area = s.get(ProductArea, seeded["area"])
        area.threshold_count = 1  # Excel download (1 of 1, not crossed) is now listed as close, unlinked
        s.add(area)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    renders = len(bolt.fake.calls_to("views.publish"))
    event.listen(engine, "before_cursor_execute", count)
    try:
        pm_view = open_home(bolt, "UPM")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # The PM's waiting list: both issues beside the request, in `/requests #N`'s words, escaped.
    waiting = section_of(pm_view["blocks"], f"#{seeded['csv']} CSV export")
    assert (
        "_Issue:_ GitHub <https://github.com/acme/app/issues/12|acme/app#12> “&lt;!channel&gt; CSV export” "
        "— *done* (&lt;!everyone&gt; Shipped)"
    ) in waiting
    assert "_Issue:_ GitHub <https://github.com/acme/web/issues/3|acme/web#3> — *in progress*" in waiting
    # The close one has no link: nothing extra.
    close = section_of(pm_view["blocks"], f"#{seeded['excel']} Excel download")
    assert "Close to the rule" in text_of(pm_view) and "Issue:" not in close
    blob = text_of(pm_view)
    assert "<!channel>" not in blob and "<!everyone>" not in blob
    # One query per render for the links of every request the Home lists (opening Home renders it at once,
    # then again with the area's chart).
    renders = len(bolt.fake.calls_to("views.publish")) - renders
    assert renders == 2
    assert sum("issue_link" in q for q in statements) == renders

    # A stakeholder sees it on their own requests; one who asked for an unlinked request sees nothing extra.
    mine = text_of(open_home(bolt, "UANA"))
    assert "acme/app#12> “&lt;!channel&gt; CSV export” — *done* (&lt;!everyone&gt; Shipped)" in mine
    assert "<!channel>" not in mine
    cy = text_of(open_home(bolt, "UCY"))
    assert "Excel download" in cy and "Issue:" not in cy
