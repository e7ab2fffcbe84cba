"""The App Home tab and the Messages tab end to end: signed HTTP to the real gunicorn process, the Home
published to the fake Slack Web API (within Slack's block limit), its buttons acting, status notes once
per person and the customer typeahead — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from bot.payloads import buttons_in
from storage.models import Occurrence, ProductArea


def published(fake, user: str, after: int = 0) -> dict:
    calls = fake.wait_for(
        lambda: [c for c in fake.calls_to("views.publish")[after:] if c.args.get("user_id") == user]
    )
    view = calls[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    return view


def home(server, user: str) -> dict:
    before = len(server.fake.calls_to("views.publish"))
    reply = server.driver.event(
        {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
    )
    assert reply.status == 200
    return published(server.fake, user, before)


def choice_options(view: dict) -> list[dict]:
    return next(b for b in view["blocks"] if b.get("block_id") == "choice")["element"]["options"]


def log_request(d, user: str, text: str, customer: str, choose_new: bool = False) -> None:
    d.command(user, "/request", text)
    form = d.last_view()
    reply = d.submit(user, form, {"customer": customer, "amount": "$40k"})
    assert reply.status == 200, reply.body
    if reply.json.get("response_action") == "update":
        repeat = d.fake.remember_view(reply.json["view"], form["id"])
        choice = (
            "new" if choose_new else next(o["value"] for o in choice_options(repeat) if o["value"] != "new")
        )
        d.submit(user, repeat, {"choice": choice})


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_home_per_role_and_its_buttons_over_signed_http(server):
    d, fake = server.driver, server.fake
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    d.command("UPM", "/focus", "Reporting: month-end close")
    d.command("UPM", "/threshold", "Reporting 2 in 30 days")
    log_request(d, "USAM", "CSV export of the weekly report", "Acme Corp")
    # The typeahead offers the known customer; picking it counts one customer.
    d.command("ULEE", "/request", "Weekly report as a spreadsheet")
    form = d.last_view()
    assert d.suggest("ULEE", form, "customer", "acme")[0]["value"] == "Acme Corp"
    reply = d.submit("ULEE", form, {"customer": "Acme Corp", "amount": "$40k"})
    repeat = fake.remember_view(reply.json["view"], form["id"])
    same = next(o["value"] for o in choice_options(repeat) if o["value"] != "new")
    d.submit("ULEE", repeat, {"choice": same})

    pm_view = home(server, "UPM")
    text = json.dumps(pm_view["blocks"], ensure_ascii=False)
    assert "Waiting for your decision" in text and "heard 2× from 1 customer ($40k)" in text
    assert "<@ULEE> — 1 logged" in text and "<@USAM> — 1 logged" in text
    assert any(b["type"] == "image" for b in pm_view["blocks"])  # the chart, uploaded by the web process
    planned = next(b for b in buttons_in(pm_view["blocks"]) if b["action_id"] == "req_planned")
    before = len(fake.calls_to("views.publish"))
    assert d.click("UPM", planned, view=pm_view).status == 200
    assert d.click("UPM", planned, view=pm_view).status == 200  # a second click tells nobody twice
    for user in ("USAM", "ULEE"):
        fake.wait_for(lambda u=user: [c for c in fake.posts_to(u) if "Planned" in c.args.get("text", "")])
        # …and their Home is refreshed to show it planned.
        assert "*planned*" in json.dumps(published(fake, user, before), ensure_ascii=False)
    fake.wait_for(lambda: len(fake.calls_to("views.publish")) >= before + 3)
    for user in ("USAM", "ULEE"):
        assert len([c for c in fake.posts_to(user) if "Planned" in c.args.get("text", "")]) == 1

    # Edit focus from Home: a form, then the area changes.
    edit = next(b for b in buttons_in(pm_view["blocks"]) if b["action_id"] == "home_edit_focus")
    d.click("UPM", edit, view=pm_view)
    form = d.last_view()
    assert d.submit("UPM", form, {"focus": "self-serve dashboards"}).status == 200
    with Session(server.engine) as s:
        assert s.exec(select(ProductArea)).one().focus == "self-serve dashboards"

    # A stakeholder's Home and the admin's.
    sam = json.dumps(home(server, "USAM")["blocks"], ensure_ascii=False)
    assert "*planned*" in sam and "How Reporting works" in sam and "2 of 2 in 30 days" in sam
    admin = json.dumps(home(server, "UADMIN")["blocks"], ensure_ascii=False)
    assert "Admin: PMs and areas" in admin and "<@UPM> — *Reporting*" in admin

    # The Messages tab: a DM gets help and an offer that opens the form with the message.
    message = fake.add_message("USAM", user="USAM", text="Globex wants SSO")
    d.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "DUSAM",
            "user": "USAM",
            "text": "Globex wants SSO",
            "ts": message["ts"],
        }
    )
    offer_post = fake.wait_for(lambda: [c for c in fake.posts_to("USAM") if "Log this" in json.dumps(c.args)])
    offer = next(b for b in buttons_in(offer_post[-1].args["blocks"]) if b["action_id"] == "dm_log_request")
    d.click("USAM", offer, channel="DUSAM")
    opened = d.last_view()
    assert next(b for b in opened["blocks"] if b.get("block_id") == "request")["element"][
        "initial_value"
    ] == ("Globex wants SSO")
    with Session(server.engine) as s:
        assert {o.customer for o in s.exec(select(Occurrence)).all()} == {"Acme Corp"}


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_home_shows_a_linked_issues_status_over_signed_http(server):
    from storage.models import FeatureRequest, IssueLink

    d = server.driver
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting").text
    d.command("UPM", "/threshold", "Reporting 1 in 30 days")
    log_request(d, "USAM", "CSV export of the weekly report", "Acme Corp")
    log_request(d, "USAM", "Dark mode for the dashboards", "Globex", choose_new=True)
    with Session(server.engine) as s:
        requests = {r.title: r for r in s.exec(select(FeatureRequest)).all()}
        csv = requests["CSV export of the weekly report"]
        s.add(
            IssueLink(
                workspace_id=csv.workspace_id,
                request_id=csv.id,
                kind="github",
                issue_key="acme/app#12",
                url="https://github.com/acme/app/issues/12",
                title="<!here> weekly CSV",
                state="started",
                state_label="In review",
            )
        )
        s.commit()
        csv_id, dark_id = csv.id, requests["Dark mode for the dashboards"].id
    status = (
        "_Issue:_ GitHub <https://github.com/acme/app/issues/12|acme/app#12> “&lt;!here&gt; weekly CSV” "
        "— *in progress* (In review)"
    )
    for user in ("UPM", "USAM"):
        blocks = home(server, user)["blocks"]
        # One entry per listed request (a stakeholder's requests share a section, one "• " line each).
        texts = [t for b in blocks if b["type"] == "section" for t in b["text"]["text"].split("\n• ")]
        assert any(f"#{csv_id} CSV export" in t and status in t for t in texts), (user, texts)
        dark = [t for t in texts if f"#{dark_id} Dark mode" in t]
        assert dark and all("Issue:" not in t for t in dark), (user, dark)
        assert "<!here>" not in json.dumps(blocks)
