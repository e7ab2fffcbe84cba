"""Issue 2 end to end over signed HTTP: log a request, answer follow-ups, focus, PMs, help."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import Session, select

from bot.payloads import buttons_in
from storage.models import Draft, FeatureRequest, Occurrence, Person, ProductArea

PING = re.compile(r"<!(channel|here|everyone)")


def dm_posts(fake, user):
    return fake.posts_to(user)


def blocks_text(call) -> str:
    return json.dumps(call.args.get("blocks") or [], ensure_ascii=False) + call.args.get("text", "")


def occurrences(engine) -> list[Occurrence]:
    with Session(engine) as s:
        return list(s.exec(select(Occurrence).order_by(Occurrence.id)))


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_request_form_bad_amount_is_kept_then_stored_and_confirmed(server):
    d, fake = server.driver, server.fake
    reply = d.command("U1SALES", "/request", "CSV export of the weekly report")
    assert reply.status == 200
    view = fake.wait_for(lambda: d.opened_views())[-1]
    request_block = next(b for b in view["blocks"] if b.get("block_id") == "request")
    assert request_block["element"]["initial_value"] == "CSV export of the weekly report"
    answers = {
        "customer": "Acme Corp",
        "amount": "40 grand",
        "frequency": "weekly",
        "impacts": ["churn_risk"],
        "root_problem": "Finance rebuilds the report by hand every Monday",
    }
    bad = d.submit("U1SALES", view, answers)
    assert bad.json["response_action"] == "errors"
    assert "40 grand" in bad.json["errors"]["amount"] and "$40k" in bad.json["errors"]["amount"]
    assert occurrences(server.engine) == []  # nothing stored, and the form stays open with the answers

    good = d.submit("U1SALES", view, {**answers, "amount": "€40k"})
    assert good.status == 200 and good.body in ("", "{}") or good.json.get("response_action") != "errors"
    stored = fake.wait_for(lambda: occurrences(server.engine))
    occ = stored[0]
    assert occ.customer == "Acme Corp" and occ.amount_cents == 4_000_000 and occ.currency == "EUR"
    assert occ.frequency == "weekly" and occ.impacts == "churn_risk"
    assert occ.root_problem.startswith("Finance rebuilds") and occ.source == "command"
    confirmation = fake.wait_for(
        lambda: [c for c in dm_posts(fake, "U1SALES") if "Logged for" in blocks_text(c)]
    )
    text = blocks_text(confirmation[0])
    assert "CSV export of the weekly report" in text and "Acme Corp" in text and "€40k" in text
    assert "Not yet" in text and "4 more" in text  # below the default 5-in-30-days threshold


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_skipped_answers_are_asked_by_dm_and_answering_updates_the_request(server):
    d, fake = server.driver, server.fake
    d.command("U2CSM", "/request", "SSO with Okta")
    view = fake.wait_for(lambda: d.opened_views())[-1]
    d.submit("U2CSM", view, {"customer": "Globex"})
    followup = fake.wait_for(
        lambda: [c for c in dm_posts(fake, "U2CSM") if "A few questions" in blocks_text(c)]
    )[0]
    buttons = buttons_in(followup.args["blocks"])
    labels = [b["text"]["text"] for b in buttons]
    assert "Daily" in labels and "Lost deal" in labels and "Answer" in labels
    message = {"ts": followup.response["ts"], "text": "", "blocks": followup.args["blocks"]}
    channel = followup.response["channel"]
    # Two quick clicks at once (a double click) must not lose either answer.
    d.click(
        "U2CSM",
        next(b for b in buttons if b["text"]["text"] == "Lost deal"),
        channel=channel,
        message=message,
    )
    d.click(
        "U2CSM",
        next(b for b in buttons if b["text"]["text"] == "Support load"),
        channel=channel,
        message=message,
    )
    fake.wait_for(
        lambda: occurrences(server.engine)[0].impacts in ("lost_deal,support_load", "support_load,lost_deal")
    )
    fake.wait_for(lambda: len(fake.calls_to("chat.update")) == 2)
    # A click made after the others have landed shows every answer so far in the updated DM.
    d.click(
        "U2CSM", next(b for b in buttons if b["text"]["text"] == "Daily"), channel=channel, message=message
    )
    fake.wait_for(lambda: len(fake.calls_to("chat.update")) == 3)
    assert occurrences(server.engine)[0].frequency == "daily"
    # The DM is updated to show what is answered and what is left.
    updated = json.dumps(fake.calls_to("chat.update")[-1].args)
    assert "Support load" in updated and "Lost deal" in updated and "Daily" in updated

    # Someone else clicking a button in that DM changes nothing.
    d.click(
        "U9OTHER", next(b for b in buttons if b["text"]["text"] == "Weekly"), channel=channel, message=message
    )
    fake.wait_for(
        lambda: [c for c in fake.calls_to("chat.postEphemeral") if "someone else" in c.args["text"]]
    )
    assert occurrences(server.engine)[0].frequency == "daily"

    # A one-line answer through the *Answer* form, with a bad amount first.
    amount_button = next(b for b in buttons if b.get("value") and '"amount"' in b["value"])
    before = len(d.opened_views())
    d.click("U2CSM", amount_button, channel=channel, message=message)
    answer_view = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    bad = d.submit("U2CSM", answer_view, {"answer": "lots"})
    assert bad.json["response_action"] == "errors" and "lots" in bad.json["errors"]["answer"]
    d.submit("U2CSM", answer_view, {"answer": "$1.2M"})
    fake.wait_for(lambda: occurrences(server.engine)[0].amount_cents == 120_000_000)


def test_huge_request_with_channel_ping_is_stored_whole_and_echoed_safely(server):
    d, fake = server.driver, server.fake
    text = ("<!channel> please look: " + "the export times out on big accounts ünïcödé 🚀 " * 250)[:10_000]
    assert len(text) == 10_000
    d.command("U3AM", "/request", text)
    view = fake.wait_for(lambda: d.opened_views())[-1]
    field = next(b for b in view["blocks"] if b.get("block_id") == "request")["element"]
    assert len(field["initial_value"]) <= 3000  # Slack's input limit; the whole text is kept in the draft
    assert f"{len(text) - 2:,} characters" in json.dumps(view)  # "<!channel>" is stored as "@channel"
    d.submit("U3AM", view, {"customer": "Initech"})
    occ = fake.wait_for(lambda: occurrences(server.engine))[0]
    # Stored whole, as the person typed it: Slack's `<!channel>` markup is the words "@channel".
    assert occ.source_text == "@channel" + text[len("<!channel>") :]
    fake.wait_for(lambda: [c for c in dm_posts(fake, "U3AM") if "Logged for" in blocks_text(c)])
    sent = [c for c in fake.calls if c.method.startswith("chat.")]
    assert sent and not any(PING.search(json.dumps(c.args)) for c in sent)  # echoed, never pinging
    assert "@channel please look" in fake.all_text()


def test_slack_markup_in_a_command_is_stored_as_typed_and_never_pings(server):
    d, fake = server.driver, server.fake
    # What Slack sends for: "@channel P&L export <fast> for @bob, see docs"
    d.command(
        "U3AM",
        "/request",
        "<!channel> P&amp;L export &lt;fast&gt; for <@UBOB|bob>, see <https://x.test/p?a=1&amp;b=2|docs>",
    )
    view = fake.wait_for(lambda: d.opened_views())[-1]
    prefilled = next(b for b in view["blocks"] if b.get("block_id") == "request")["element"]["initial_value"]
    assert prefilled == "@channel P&L export <fast> for @bob, see docs (https://x.test/p?a=1&b=2)"
    d.submit("U3AM", view, {"customer": "R&D <Labs>"})
    occ = fake.wait_for(lambda: occurrences(server.engine))[0]
    assert occ.text == prefilled and occ.customer == "R&D <Labs>"
    receipt = fake.wait_for(lambda: [c for c in dm_posts(fake, "U3AM") if "Logged for" in blocks_text(c)])[0]
    shown = blocks_text(receipt)
    assert "P&amp;L export &lt;fast&gt; for @bob" in shown and "R&amp;D &lt;Labs&gt;" in shown
    assert not any(PING.search(json.dumps(c.args)) for c in fake.calls if c.method.startswith("chat."))


def test_message_shortcut_keeps_permalink_and_author(server):
    d, fake = server.driver, server.fake
    fake.add_user("U4AUTHOR", name="Casey Customer-Voice")
    message = {
        "text": "<@U4AUTHOR> here: customer asked again for a Salesforce sync &amp; HubSpot",
        "user": "U4AUTHOR",
        "ts": "1700000000.000100",
    }
    assert d.shortcut("U5LOGGER", message, channel="C0DEALS").status == 200
    view = fake.wait_for(lambda: d.opened_views())[-1]
    assert "Salesforce sync" in json.dumps(view) and "this message" in json.dumps(view)
    field = next(b for b in view["blocks"] if b.get("block_id") == "request")["element"]
    assert (
        field["initial_value"]
        == "@Casey Customer-Voice here: customer asked again for a Salesforce sync & HubSpot"
    )
    d.submit("U5LOGGER", view, {"customer": "Umbrella"})
    occ = fake.wait_for(lambda: occurrences(server.engine))[0]
    assert occ.source == "shortcut" and occ.channel_id == "C0DEALS" and occ.message_ts == "1700000000.000100"
    assert occ.permalink.startswith("https://") and "C0DEALS" in occ.permalink
    with Session(server.engine) as s:
        author = s.get(Person, occ.raised_by_id)
        logger = s.get(Person, occ.logged_by_id)
    assert author.slack_user_id == "U4AUTHOR" and author.name == "Casey Customer-Voice"
    assert logger.slack_user_id == "U5LOGGER"
    detail = json.dumps(d.command("U5LOGGER", "/requests", f"#{occ.request_id}").json)
    assert "<@U5LOGGER> (raised by <@U4AUTHOR>)" in detail and "*Umbrella*" in detail


def test_closing_the_form_sends_back_what_was_typed(server):
    d, fake = server.driver, server.fake
    d.command("U6REP", "/request", "Audit log export for SOC2")
    view = fake.wait_for(lambda: d.opened_views())[-1]
    d.close("U6REP", view, {"customer": "Hooli"})
    dm = fake.wait_for(lambda: dm_posts(fake, "U6REP"))
    assert "Audit log export for SOC2" in dm[0].args["text"] and "closed" in dm[0].args["text"]
    with Session(server.engine) as s:
        assert s.exec(select(Draft)).one().text == "Audit log export for SOC2"
    # One click opens the form again with every answer as it was; logging it then keeps them.
    reopen = next(b for b in buttons_in(dm[0].args["blocks"]) if b["action_id"] == "reopen_request")
    before = len(d.opened_views())
    d.click("U6REP", reopen, channel=dm[0].response["channel"], message={"ts": dm[0].response["ts"]})
    again = fake.wait_for(lambda: d.opened_views()[before:])[-1]
    customer = next(b for b in again["blocks"] if b.get("block_id") == "customer")["element"]
    assert customer["initial_option"]["value"] == "Hooli"  # the typeahead keeps the pick
    d.submit("U6REP", again, {"customer": "Hooli"})
    occ = fake.wait_for(lambda: occurrences(server.engine))[0]
    assert (occ.text, occ.customer) == ("Audit log export for SOC2", "Hooli")
    # Someone else's click on that button opens nothing.
    d.click("U9OTHER", reopen, channel=dm[0].response["channel"], message={"ts": dm[0].response["ts"]})
    fake.wait_for(
        lambda: [c for c in fake.calls_to("chat.postEphemeral") if "can't reopen" in c.args["text"]]
    )


def test_expired_trigger_still_keeps_the_request(server):
    d, fake = server.driver, server.fake
    d.command("U7REP", "/request", "Bulk edit of tags", trigger_id="expired-trigger")
    occ = fake.wait_for(lambda: occurrences(server.engine))[0]
    assert occ.text == "Bulk edit of tags"
    dm = fake.wait_for(lambda: [c for c in dm_posts(fake, "U7REP") if "Logged for" in blocks_text(c)])
    assert "didn't let me open the form" in blocks_text(dm[0])


def test_help_focus_and_pm_roles(server):
    d = server.driver
    for command, text in (("/request", "help"), ("/partnerbot", "help"), ("/partnerbot", "")):
        reply = d.command("U1ADMIN", command, text)
        assert "/request" in json.dumps(reply.json) and "/focus" in json.dumps(reply.json)
    # The first person to use the bot is the admin; others are refused PM commands.
    assert "Only PMs can set the focus" in d.command("U1ADMIN", "/focus", "Reporting: dashboards").text
    refusal = d.command("U2REP", "/partnerbot", "pm add <@U2REP|rep>")
    assert "Only an admin" in refusal.text and "pm add" in refusal.text
    assert "now a PM" in d.command("U1ADMIN", "/partnerbot", "pm add <@U3PM|pat> Reporting").text
    set_focus = d.command("U3PM", "/focus", "Reporting: self-serve dashboards for finance teams")
    assert "self-serve dashboards" in set_focus.text
    listing = d.command("U2REP", "/focus", "")
    assert (
        "Reporting" in listing.text and "self-serve dashboards" in listing.text and "<@U3PM>" in listing.text
    )
    assert "Only PMs" in d.command("U2REP", "/focus", "Reporting: something else").text
    no_mention = d.command("U1ADMIN", "/partnerbot", "pm add dana")
    assert "@-mention" in no_mention.text and "pm add dana" in no_mention.text
    server.fake.missing_users.add("U0GHOST")
    ghost = d.command("U1ADMIN", "/partnerbot", "pm add <@U0GHOST|ghost>")
    assert "doesn't know" in ghost.text
    with Session(server.engine) as s:
        area = s.exec(select(ProductArea).where(ProductArea.name == "Reporting")).one()
        pm = s.exec(select(Person).where(Person.slack_user_id == "U3PM")).one()
        assert area.focus == "self-serve dashboards for finance teams" and area.pm_id == pm.id and pm.is_pm
        ghost_row = s.exec(select(Person).where(Person.slack_user_id == "U0GHOST")).first()
        assert ghost_row is None or not ghost_row.is_pm


def test_focus_is_shown_in_the_form_and_areas_can_be_chosen(server):
    d, fake = server.driver, server.fake
    d.command("U1ADMIN", "/partnerbot", "pm add <@U1ADMIN|admin> Reporting")
    d.command("U1ADMIN", "/focus", "Reporting: month-end close for finance")
    d.command("U1ADMIN", "/focus", "Integrations: Salesforce and HubSpot")
    d.command("U2REP", "/request", "")
    view = fake.wait_for(lambda: d.opened_views())[-1]
    text = json.dumps(view)
    assert "month-end close for finance" in text and "Salesforce and HubSpot" in text
    area_block = next(b for b in view["blocks"] if b.get("block_id") == "area")
    integrations = next(
        o["value"] for o in area_block["element"]["options"] if o["text"]["text"] == "Integrations"
    )
    empty = d.submit("U2REP", view, {"request": ""})
    assert empty.json["errors"]["request"]
    d.submit("U2REP", view, {"request": "HubSpot deal sync", "area": integrations})
    occ = fake.wait_for(lambda: occurrences(server.engine))[0]
    with Session(server.engine) as s:
        assert s.get(ProductArea, s.get(FeatureRequest, occ.request_id).area_id).name == "Integrations"
