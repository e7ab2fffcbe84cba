"""Issue 13 part 2 end to end over signed Slack HTTP: the CRM supplies the money. An admin connects HubSpot
or Salesforce (a local fake of each API on loopback); the request form's customer typeahead offers the
CRM's accounts with their value and owner; picking one stores the CRM id and amount on the occurrence, the
money rule fires from that amount, and two names for one CRM account count once. A CRM that is down or slow
never blocks logging (the clock fetches the amount later); a forged pick is refused."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from bot.clock import refresh_crm
from storage import requests as store
from storage.db import make_engine
from storage.models import Occurrence, Outbox, ThresholdCrossing
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_thresholds import alerts_to, receipts, wait_receipts
from tests.integrations.conftest import SECRET_KEY
from tests.integrations.fake_crm import FakeCrm

ACME = "101"
SF_ACME = "001000000000001AAA"
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def crm():
    fake = FakeCrm().start()
    fake.hubspot_tokens.update(
        {
            "pat-good": {"crm.objects.companies.read", "crm.objects.owners.read"},
            "pat-narrow": {"crm.objects.contacts.read"},
        }
    )
    fake.companies[ACME] = {"name": "Acme Corp", "annualrevenue": "1200000", "hubspot_owner_id": "7"}
    fake.companies["102"] = {"name": "Acme Widgets", "annualrevenue": None}
    fake.owners["7"] = {"firstName": "Dana", "lastName": "Seller", "email": "dana@example.com"}
    fake.salesforce_tokens.update({"sf-good": True, "sf-noapi": False})
    fake.accounts[SF_ACME] = {"Id": SF_ACME, "Name": "Globex", "AnnualRevenue": 2500000.0, "Owner": "Sam Rep"}
    yield fake
    fake.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def server(request, tmp_path, fake_slack, crm, monkeypatch, migrated_sqlite):
    if request.param == "sqlite":
        url = migrated_sqlite(tmp_path / "e2e.db")
    else:
        url = request.getfixturevalue("pg_server_url")
        request.getfixturevalue("pg_engine")  # emptied tables
    env = {"PARTNERBOT_HUBSPOT_API_URL": crm.base, "PARTNERBOT_SECRET_KEY": SECRET_KEY}
    # The clock runs in this process in these tests: it reads the same key and CRM address.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    proc, base = start_server(url, fake_slack, tmp_path / "server.log", extra_env=env)
    from bot.driver import HttpDriver

    engine = make_engine(url)
    try:
        yield SimpleNamespace(
            fake=fake_slack, engine=engine, driver=HttpDriver(base, fake_slack, SIGNING_SECRET), crm=crm
        )
    finally:
        stop_server(proc)
        engine.dispose()


def connect(d, kind, answers):
    before = len(d.opened_views())
    d.command("UADMIN", "/partnerbot", f"connect {kind}")
    view = d.opened_views()[before:][-1]
    return view, d.submit("UADMIN", view, answers)


def open_form(d, user, text):
    before = len(d.opened_views())
    d.command(user, "/request", text)
    return d.fake.wait_for(lambda: d.opened_views()[before:])[-1]


def submit(d, user, view, answers, *, same_as=None):
    reply = d.submit(user, view, answers)
    assert reply.status == 200, reply.body
    if reply.json.get("response_action") == "update":  # "the same as …?" step
        step = reply.json["view"]
        options = step["blocks"][1]["element"]["options"]
        choice = (
            next(o["value"] for o in options if same_as and same_as in o["text"]["text"])
            if same_as
            else "new"
        )
        second = d.submit(user, step, {"choice": choice})
        assert second.status == 200 and not second.json.get("errors"), second.body
    return reply


def occurrences(engine) -> list[Occurrence]:
    with Session(engine) as s:
        return list(s.exec(select(Occurrence).order_by(Occurrence.id)).all())


def test_hubspot_account_picked_in_the_form_brings_its_money_and_counts_once(server):
    d, fake, crm = server.driver, server.fake, server.crm
    assert "now a PM" in d.command("UADMIN", "/partnerbot", "pm add <@U0PM|pm> General").text
    # Connect: the form names what is wrong in one line, next to the token.
    view, reply = connect(d, "hubspot", {"token": "pat-typo"})
    assert "HubSpot refused the token (401)" in reply.json["errors"]["token"]
    reply = d.submit("UADMIN", view, {"token": "pat-narrow"})
    assert "crm.objects.companies.read" in reply.json["errors"]["token"]
    reply = d.submit("UADMIN", view, {"token": "pat-good"})
    assert reply.json["response_action"] == "update" and "Connected *HubSpot*" in json.dumps(reply.json)
    assert "worth $1M or more" in d.command("U0PM", "/threshold", "General over $1M").text

    # The typeahead offers the CRM's accounts with value and owner.
    form = open_form(d, "U1REP", "Audit log API")
    options = d.suggest("U1REP", form, "customer", "acme")
    labels = [o["text"]["text"] for o in options]
    assert "Acme Corp · $1.2M ARR · owner Dana Seller" in labels and "Acme Widgets" in labels
    picked = next(o for o in options if o["text"]["text"].startswith("Acme Corp"))
    assert picked["value"] == f"crm:hubspot:{ACME}:Acme Corp"
    searched = json.loads(crm.calls_to("/crm/v3/objects/companies/search")[-1].body)
    assert searched["query"] == "acme"

    # Picked with no amount typed: the CRM's amount is stored and the money rule fires from it.
    submit(d, "U1REP", form, {"customer": picked["value"]})
    [occ] = occurrences(server.engine)
    assert (occ.customer, occ.crm_ref, occ.crm_verified) == ("Acme Corp", f"hubspot:{ACME}", True)
    assert (occ.amount_cents, occ.currency, occ.amount_from_crm) == (120_000_000, "USD", True)
    alert = fake.wait_for(lambda: alerts_to(fake, "U0PM"))[0]
    assert "Acme Corp" in alert and "$1.2M" in alert

    # The account is renamed in HubSpot; another rep picks it under the new name and types an amount
    # (what is typed wins). Two names, one CRM account: one customer, its money once, no second alert.
    crm.companies[ACME]["name"] = "ACME Corporation"
    form = open_form(d, "U2REP", "Audit log API for the SIEM")
    renamed = next(
        o for o in d.suggest("U2REP", form, "customer", "acme") if "ACME Corporation" in o["text"]["text"]
    )
    submit(d, "U2REP", form, {"customer": renamed["value"], "amount": "$50k"}, same_as="Audit log API")
    first, second = occurrences(server.engine)
    assert second.request_id == first.request_id and second.customer == "ACME Corporation"
    assert (second.crm_ref, second.amount_cents, second.amount_from_crm) == (
        f"hubspot:{ACME}",
        5_000_000,
        False,
    )
    with Session(server.engine) as s:
        stats = store.request_stats(session=s, request_id=first.request_id)
        crossings = s.exec(select(ThresholdCrossing)).all()
    assert stats.customer_count == 1 and stats.money == {"USD": 120_000_000}
    assert [c.rule for c in crossings] == ["amount"]
    receipt = wait_receipts(fake, "U2REP", 1)[0]
    assert "from 1 customer ($1.2M)" in receipt
    assert len(alerts_to(fake, "U0PM")) == 1

    # A forged pick is refused with the form kept open; nothing is stored.
    form = open_form(d, "U3REP", "Bulk export")
    reply = d.submit("U3REP", form, {"customer": "crm:hubspot:999:Initech"})
    assert "has no account with that id" in reply.json["errors"]["customer"]
    reply = d.submit("U3REP", form, {"customer": "crm:hubspot:12ab:Initech"})
    assert "shape I never write" in reply.json["errors"]["customer"]
    assert len(occurrences(server.engine)) == 2


def test_a_crm_down_or_slow_never_blocks_logging_and_the_clock_fetches_the_amount_later(server):
    d, crm = server.driver, server.crm
    d.command("UADMIN", "/partnerbot", "pm add <@U0PM|pm> General")
    d.command("U0PM", "/threshold", "General over $1M")
    assert connect(d, "hubspot", {"token": "pat-good"})[1].json["response_action"] == "update"
    form = open_form(d, "U1REP", "SSO for contractors")
    submit(d, "U1REP", form, {"customer": "Acme Corp"})  # typed before: now a known customer
    form = open_form(d, "U2REP", "Dark mode")
    picked = next(o for o in d.suggest("U2REP", form, "customer", "acme") if o["value"].startswith("crm:"))

    crm.fail_status = 500
    options = d.suggest("U2REP", form, "customer", "acme")
    assert [o["value"] for o in options][:1] == ["Acme Corp"]  # our own customers, no CRM account
    assert not any(o["value"].startswith("crm:") for o in options)
    crm.fail_status, crm.delay = 0, 1.5
    started = time.monotonic()
    options = d.suggest("U2REP", form, "customer", "acme")
    assert time.monotonic() - started < 2.5  # the CRM got 1 s of Slack's 3
    assert not any(o["value"].startswith("crm:") for o in options) and options[0]["value"] == "Acme Corp"

    # Submitted while HubSpot is slower than the form may wait: logged, the pick kept unconfirmed.
    crm.delay = 2.5
    submit(d, "U2REP", form, {"customer": picked["value"]})
    crm.delay = 0
    pending = occurrences(server.engine)[-1]
    assert (pending.crm_ref, pending.crm_verified, pending.amount_cents) == (f"hubspot:{ACME}", False, None)
    assert pending.customer == "Acme Corp"

    # The clock confirms it and fetches the amount once HubSpot answers; one call per account.
    crm.fail_status = 429
    deps = SimpleNamespace(engine=server.engine, extras={}, kick=lambda: None)
    assert refresh_crm(deps, LATER) == 0
    crm.fail_status = 0
    reads = len(crm.calls_to(f"/crm/v3/objects/companies/{ACME}"))
    assert refresh_crm(deps, LATER) == 0  # not yet due again (hourly)
    assert refresh_crm(deps, LATER.replace(hour=2)) == 1
    assert len(crm.calls_to(f"/crm/v3/objects/companies/{ACME}")) == reads + 1
    done = occurrences(server.engine)[-1]
    assert (done.crm_verified, done.amount_cents, done.amount_from_crm) == (True, 120_000_000, True)
    # Now over the $1M money rule: the PM's alert is queued, once (the next passes queue none).
    with Session(server.engine) as s:
        queued = s.exec(select(Outbox).where(Outbox.kind == "threshold_alert")).all()
    assert len(queued) == 1 and "Dark mode" in queued[0].payload
    # HubSpot's value changes: the CRM-filled amount follows on a later pass; a typed one would not.
    crm.companies[ACME]["annualrevenue"] = "1500000"
    assert refresh_crm(deps, LATER.replace(hour=9)) == 1
    assert occurrences(server.engine)[-1].amount_cents == 150_000_000
    with Session(server.engine) as s:
        assert len(s.exec(select(Outbox).where(Outbox.kind == "threshold_alert")).all()) == 1


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_salesforce_accounts_in_the_form(server):
    d, fake, crm = server.driver, server.fake, server.crm
    d.command("UADMIN", "/partnerbot", "pm add <@U0PM|pm> General")
    view, reply = connect(d, "salesforce", {"instance_url": crm.base, "access_token": "nope"})
    assert "Salesforce refused the token (401)" in reply.json["errors"]["access_token"]
    reply = d.submit("UADMIN", view, {"instance_url": crm.base, "access_token": "sf-noapi"})
    assert "API Enabled" in reply.json["errors"]["access_token"]
    login = {"instance_url": crm.base, "username": "pat@example.com", "password": "pw", "security_token": "X"}
    reply = d.submit("UADMIN", view, login)
    assert "refused the username, password or security token" in reply.json["errors"]["password"]
    reply = d.submit("UADMIN", view, {"instance_url": crm.base})
    assert "Give an access token, or the username" in reply.json["errors"]["access_token"]
    reply = d.submit("UADMIN", view, {"instance_url": "http://127.0.0.1:1", "access_token": "sf-good"})
    assert "Can't reach 127.0.0.1:1" in reply.json["errors"]["instance_url"]
    reply = d.submit("UADMIN", view, {"instance_url": crm.base, "access_token": "sf-good"})
    assert reply.json["response_action"] == "update", reply.body
    d.command("U0PM", "/threshold", "General over $2M")

    form = open_form(d, "U1REP", "Usage-based billing")
    options = d.suggest("U1REP", form, "customer", "glob")
    picked = next(o for o in options if o["value"].startswith("crm:"))
    assert picked["text"]["text"] == "Globex · $2.5M ARR · owner Sam Rep"
    assert "FROM Account WHERE Name LIKE" in crm.calls_to("/services/data/")[-1].query.replace("+", " ")
    submit(d, "U1REP", form, {"customer": picked["value"]})
    [occ] = occurrences(server.engine)
    assert (occ.customer, occ.crm_ref, occ.amount_cents) == ("Globex", f"salesforce:{SF_ACME}", 250_000_000)
    alert = fake.wait_for(lambda: alerts_to(fake, "U0PM"))[0]
    assert "Globex" in alert and "$2.5M" in alert
    assert receipts(fake, "U1REP")
