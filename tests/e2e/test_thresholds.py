"""Issue 3 end to end over signed HTTP: repeats, thresholds, "not yet" replies, alerts, workspaces apart."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from bot.driver import HttpDriver
from bot.fake_slack import FakeSlack
from bot.payloads import buttons_in
from storage.models import FeatureRequest, Occurrence, ProductArea, ThresholdCrossing, Workspace
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server


def log(d, user, text, answers=None, *, same_as=None, team_id=None):
    """Log a request like a user: /request, fill the form, and answer the "same thing?" step if shown.
    Returns the repeat-step view when one was shown (else None)."""
    before = len(d.opened_views())
    d.command(user, "/request", text, team_id=team_id)
    view = d.fake.wait_for(lambda: d.opened_views()[before:])[-1]
    reply = d.submit(user, view, answers or {}, team_id=team_id)
    assert reply.status == 200, reply.body
    step = reply.json.get("view") if reply.json.get("response_action") == "update" else None
    if step is not None:
        options = step["blocks"][1]["element"]["options"]
        if same_as is None:
            choice = "new"
        else:
            choice = next(o["value"] for o in options if same_as.lower() in o["text"]["text"].lower())
        second = d.submit(user, step, {"choice": choice}, team_id=team_id)
        assert second.status == 200 and not second.json.get("errors"), second.body
    return step


def texts_to(fake, user) -> list[str]:
    return [json.dumps(c.args, ensure_ascii=False) for c in fake.posts_to(user)]


def alerts_to(fake, user) -> list[str]:
    return [t for t in texts_to(fake, user) if "Threshold crossed" in t]


def receipts(fake, user) -> list[str]:
    return [t for t in texts_to(fake, user) if "Logged for" in t]


def wait_receipts(fake, user, n):
    return fake.wait_for(lambda: len(receipts(fake, user)) >= n and receipts(fake, user))


def make_pm(d, admin="U0ADMIN", pm="U0PM", area="General", team_id=None):
    reply = d.command(admin, "/partnerbot", f"pm add <@{pm}|pm> {area}", team_id=team_id)
    assert "now a PM" in reply.text, reply.text


def test_paraphrase_is_suggested_and_confirmed_as_the_same_request(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    assert log(d, "U1REP", "Export reports to CSV", {"customer": "Acme", "amount": "$40k"}) is None
    step = log(d, "U2CSM", "need csv export of the report", {"customer": "Globex"}, same_as="Export reports")
    text = json.dumps(step, ensure_ascii=False)
    assert "Export reports to CSV" in text and "heard 1×" in text and "$40k" in text
    with Session(server.engine) as s:
        requests = s.exec(select(FeatureRequest)).all()
        occs = s.exec(select(Occurrence)).all()
    assert len(requests) == 1 and len(occs) == 2 and {o.request_id for o in occs} == {requests[0].id}
    mine = wait_receipts(fake, "U2CSM", 1)[0]
    assert "heard 2×" in mine and "2 customers" in mine and "3 more" in mine and "Not yet" in mine

    # "It's new" keeps a look-alike apart.
    log(d, "U3AE", "Import users from a CSV file", {"customer": "Initech"}, same_as=None)
    with Session(server.engine) as s:
        assert len(s.exec(select(FeatureRequest)).all()) == 2


def test_count_threshold_crosses_exactly_once_and_the_pm_gets_every_occurrence(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    assert "3× in 30 days" in d.command("U0PM", "/threshold", "General 3 in 30 days").text
    d.command("U0PM", "/focus", "General: onboarding speed for new accounts")
    customers = ["Acme", "Globex", "Initech", "Umbrella", "Hooli"]
    for i, customer in enumerate(customers):
        user = f"U{i + 1}REP"
        log(
            d,
            user,
            "SAML single sign-on with Okta",
            {"customer": customer, "root_problem": f"IT policy {i}", "impacts": ["lost_deal"]},
            same_as=None if i == 0 else "SAML",
        )
        wait_receipts(fake, user, 1)
    fake.wait_for(lambda: alerts_to(fake, "U0PM"))
    with Session(server.engine) as s:
        assert len(s.exec(select(ThresholdCrossing)).all()) == 1
        assert len(s.exec(select(Occurrence)).all()) == 5
    alerts = alerts_to(fake, "U0PM")
    assert len(alerts) == 1  # not again at occurrence 4 and 5
    for customer in customers[:3]:
        assert customer in alerts[0]
    assert "IT policy 2" in alerts[0] and "lost deal" in alerts[0] and "req_shipped" in alerts[0]
    first = receipts(fake, "U1REP")[0]
    assert "Not yet" in first and "2 more" in first and "onboarding speed" in first
    crossing_receipt = receipts(fake, "U3REP")[0]
    assert "reached the threshold" in crossing_receipt and "<@U0PM>" in crossing_receipt
    assert "already with" in receipts(fake, "U5REP")[0]


def test_money_rule_fires_immediately_on_one_big_customer(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    d.command("U0PM", "/threshold", "General over $100k")
    log(d, "U1REP", "Audit log API", {"customer": "Small Co", "amount": "$20k"})
    assert alerts_to(fake, "U0PM") == []
    log(
        d,
        "U2REP",
        "Audit log API for SIEM export",
        {"customer": "MegaBank", "amount": "$1.2M"},
        same_as="Audit",
    )
    alert = fake.wait_for(lambda: alerts_to(fake, "U0PM"))[0]
    assert "MegaBank" in alert and "$1.2M" in alert and "a customer over $100k" in alert
    receipt = wait_receipts(fake, "U2REP", 1)[0]
    assert "right away" in receipt and "MegaBank" in receipt


def test_digest_mode_holds_count_alerts_but_not_money_alerts(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    assert (
        "in your digest"
        in d.command("U0PM", "/threshold", "General 2 in 30 days over $500k alerts digest").text
    )
    log(d, "U1REP", "Dark mode", {"customer": "A"})
    log(d, "U2REP", "Dark mode please", {"customer": "B"}, same_as="Dark mode")
    wait_receipts(fake, "U2REP", 1)
    with Session(server.engine) as s:
        assert len(s.exec(select(ThresholdCrossing)).all()) == 1  # recorded for the digest
    assert alerts_to(fake, "U0PM") == []
    log(d, "U3REP", "Dark mode UI", {"customer": "C", "amount": "$600k"}, same_as="Dark mode")
    fake.wait_for(lambda: alerts_to(fake, "U0PM"))


def test_threshold_is_for_pms_and_bad_input_is_explained(server):
    d = server.driver
    make_pm(d)
    refusal = d.command("U7REP", "/threshold", "General 2 in 10 days")
    assert "Only PMs" in refusal.text and "General 2 in 10 days" in refusal.text
    shown = d.command("U7REP", "/threshold", "")
    assert "General" in shown.text and "5× in 30 days" in shown.text
    assert "couldn't read" in d.command("U0PM", "/threshold", "General over lots").text
    assert "no area called" in d.command("U0PM", "/threshold", "Nowhere 3 in 30 days").text
    assert "between 1 and" in d.command("U0PM", "/threshold", "General 0 in 30 days").text
    assert "didn't understand" in d.command("U0PM", "/threshold", "General sometimes").text


def test_reset_lets_the_pm_be_alerted_again(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    d.command("U0PM", "/threshold", "General 2 in 30 days")
    log(d, "U1REP", "Webhooks for invoices", {"customer": "A"})
    log(d, "U2REP", "Invoice webhooks", {"customer": "B"}, same_as="Webhooks")
    alert = fake.wait_for(
        lambda: (
            fake.posts_to("U0PM")
            and [c for c in fake.posts_to("U0PM") if "Threshold crossed" in json.dumps(c.args)]
        )
    )[0]
    reset = next(b for b in buttons_in(alert.args["blocks"]) if b["action_id"] == "req_reset_threshold")
    d.click("U1REP", reset, channel=alert.response["channel"], message={"ts": alert.response["ts"]})
    fake.wait_for(lambda: [c for c in fake.calls_to("chat.postEphemeral") if "Only PMs" in c.args["text"]])
    d.click("U0PM", reset, channel=alert.response["channel"], message={"ts": alert.response["ts"]})
    fake.wait_for(lambda: [c for c in fake.calls_to("chat.postEphemeral") if "Reset" in c.args["text"]])
    log(d, "U3REP", "webhooks when an invoice is paid", {"customer": "C"}, same_as="Webhooks")
    fake.wait_for(lambda: len(alerts_to(fake, "U0PM")) == 2)


def test_two_workspaces_never_count_or_show_each_others_requests(server, tmp_path):
    """Two installations (each bot token is one) on one database: the server under test is workspace
    T0PARTNER's, a second one serves TBETA."""
    d, fake = server.driver, server.fake
    beta_fake = FakeSlack(team_id="TBETA").start()
    proc, base = start_server(server.url, beta_fake, tmp_path / "beta.log")
    try:
        beta = HttpDriver(base, beta_fake, SIGNING_SECRET, team_id="TBETA")
        make_pm(d, admin="UA0", pm="UAPM")
        make_pm(beta, admin="UB0", pm="UBPM")
        d.command("UAPM", "/threshold", "General 2 in 30 days")
        beta.command("UBPM", "/threshold", "General 2 in 30 days")
        log(d, "UA1", "Gantt chart view for projects", {"customer": "AlphaCo"})
        step = log(beta, "UB1", "Gantt chart view for projects", {"customer": "BetaCo"})
        assert step is None  # the same words in another workspace are not suggested
        wait_receipts(beta_fake, "UB1", 1)
        assert alerts_to(fake, "UAPM") == [] and alerts_to(beta_fake, "UBPM") == []
        assert "heard 1×" in receipts(beta_fake, "UB1")[0]
    finally:
        stop_server(proc)
        beta_fake.stop()
    with Session(server.engine) as s:
        requests = s.exec(select(FeatureRequest)).all()
        assert len(requests) == 2 and len({r.workspace_id for r in requests}) == 2
        teams = {w.team_id for w in s.exec(select(Workspace)).all()}
        assert teams == {"T0PARTNER", "TBETA"}


def test_an_amount_answered_later_by_dm_still_goes_to_the_pm_at_once(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    d.command("U0PM", "/threshold", "General over $100k")
    log(d, "U1REP", "Audit log API", {"customer": "MegaBank"})  # money skipped: "I'll ask again later"
    followup = fake.wait_for(
        lambda: [c for c in fake.posts_to("U1REP") if "A few questions" in c.args["text"]]
    )[0]
    amount_button = next(
        b for b in buttons_in(followup.args["blocks"]) if '"amount"' in (b.get("value") or "")
    )
    before = len(d.opened_views())
    d.click(
        "U1REP",
        amount_button,
        channel=followup.response["channel"],
        message={"ts": followup.response["ts"], "blocks": followup.args["blocks"]},
    )
    answer_view = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    assert alerts_to(fake, "U0PM") == []
    d.submit("U1REP", answer_view, {"answer": "$500k"})
    alert = fake.wait_for(lambda: alerts_to(fake, "U0PM"))[0]
    assert "MegaBank" in alert and "$500k" in alert and "a customer over $100k" in alert
    told = fake.wait_for(lambda: [t for t in texts_to(fake, "U1REP") if "goes to <@U0PM> right away" in t])
    assert "MegaBank" in told[0]
    with Session(server.engine) as s:
        assert [c.rule for c in s.exec(select(ThresholdCrossing)).all()] == ["amount"]


def test_the_money_rule_keeps_its_currency(server):
    d, fake = server.driver, server.fake
    make_pm(d)
    assert "€100k" in d.command("U0PM", "/threshold", "General over €100k").text
    assert "€100k" in d.command("U0PM", "/threshold", "").text  # shown as set, not as dollars
    log(d, "U1REP", "Invoices in Japanese", {"customer": "Tiny KK", "amount": "¥5M"})  # about $33k
    receipt = wait_receipts(fake, "U1REP", 1)[0]
    assert "isn't compared" in receipt and "JPY" in receipt
    log(
        d,
        "U2REP",
        "Invoices in Japanese please",
        {"customer": "Big GmbH", "amount": "€250k"},
        same_as="Invoices",
    )
    alert = fake.wait_for(lambda: alerts_to(fake, "U0PM"))[0]
    assert "Big GmbH" in alert and "€100k" in alert
    with Session(server.engine) as s:
        crossings = s.exec(select(ThresholdCrossing)).all()
    assert len(crossings) == 1  # the yen amount never fired it


def test_closing_the_same_thing_step_hands_back_every_answer(server):
    d, fake = server.driver, server.fake
    log(d, "U1REP", "Export reports to CSV", {"customer": "Acme"})
    before = len(d.opened_views())
    d.command("U2CSM", "/request", "csv export of reports please")
    view = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    answers = {
        "customer": "Globex",
        "amount": "$30k",
        "frequency": "weekly",
        "root_problem": "Finance rebuilds the report by hand",
        "impacts": ["churn_risk"],
    }
    step = d.submit("U2CSM", view, answers).json["view"]
    assert step["callback_id"] == "request_repeat"
    d.close("U2CSM", step, {})
    dm = fake.wait_for(lambda: [t for t in texts_to(fake, "U2CSM") if "closed the request form" in t])[0]
    for typed in (
        "csv export of reports please",
        "Globex",
        "$30k",
        "Weekly",
        "Finance rebuilds",
        "Churn risk",
    ):
        assert typed in dm
    with Session(server.engine) as s:
        assert len(s.exec(select(Occurrence)).all()) == 1  # nothing logged by closing


def test_a_repeat_filed_under_the_wrong_area_is_still_found_and_keeps_its_area(server):
    d, fake = server.driver, server.fake
    make_pm(d, area="Reporting")
    make_pm(d, pm="U0PM2", area="Billing")
    d.command("U1REP", "/request", "Export reports to CSV")
    view = fake.wait_for(lambda: d.opened_views())[-1]
    areas = {
        o["text"]["text"]: o["value"]
        for o in next(b for b in view["blocks"] if b.get("block_id") == "area")["element"]["options"]
    }
    d.submit("U1REP", view, {"customer": "Acme", "area": areas["Reporting"]})
    # Filed under Billing by mistake (Slack makes the area a required pick when there are several).
    step = log(
        d,
        "U2CSM",
        "need csv export of the report",
        {"customer": "Globex", "area": areas["Billing"]},
        same_as="Export reports",
    )
    assert "in Reporting" in json.dumps(step, ensure_ascii=False)
    with Session(server.engine) as s:
        requests = s.exec(select(FeatureRequest)).all()
        assert len(requests) == 1 and len(s.exec(select(Occurrence)).all()) == 2
        reporting = s.exec(select(ProductArea).where(ProductArea.name == "Reporting")).one()
        assert requests[0].area_id == reporting.id
