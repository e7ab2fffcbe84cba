"""The CRM layer without Slack: option values read back strictly, SOQL escaped, one CRM account counted
once, and each CRM's failures named in one line (against the local fake of both APIs)."""

from __future__ import annotations

import time

import pytest

from integrations.base import (
    BadCredentials,
    MissingScope,
    NotFound,
    RateLimited,
    ServiceError,
    TimedOut,
    Unreachable,
)
from integrations.crm import Account, BadOption, crm, option_value, parse_option
from integrations.salesforce import soql_literal
from storage.models import Occurrence
from storage.requests import stats_from_occurrences
from tests.integrations.fake_crm import FakeCrm

SF_ID = "001000000000001AAA"


@pytest.fixture
def fake(monkeypatch):
    f = FakeCrm().start()
    monkeypatch.setenv("PARTNERBOT_HUBSPOT_API_URL", f.base)
    f.hubspot_tokens["pat"] = {"crm.objects.companies.read"}
    f.companies["101"] = {"name": "Acme Corp", "annualrevenue": "250000.50", "hubspot_owner_id": "7"}
    f.salesforce_tokens["sf"] = True
    f.accounts[SF_ID] = {"Id": SF_ID, "Name": "O'Hare_100%", "AnnualRevenue": None, "Owner": "Sam"}
    yield f
    f.stop()


def test_option_values_round_trip_and_anything_else_is_refused():
    acme = Account("hubspot", "101", "Acme Corp", 100, "USD")
    assert parse_option(option_value(acme)).ref == "hubspot:101"
    assert parse_option("Acme Corp") is None  # a plain name, as typed
    long = Account("salesforce", SF_ID, "N" * 300, None, "USD")
    assert len(option_value(long)) == 150 and parse_option(option_value(long)).id == SF_ID
    for forged in (
        "crm:hubspot:12a:Acme",  # HubSpot ids are numbers
        "crm:salesforce:001:Acme",  # Salesforce ids are 15 or 18 characters
        "crm:jira:101:Acme",
        "crm:hubspot:101:",
        "crm:hubspot:101:   ",
        "crm:hubspot:101",
    ):
        with pytest.raises(BadOption):
            parse_option(forged)


def test_soql_literal_escapes_quotes_backslashes_and_wildcards():
    assert soql_literal("O'Hare\\_100%") == "O\\'Hare\\\\\\_100\\%"


def occ(i, customer, ref="", verified=False, cents=None):
    return Occurrence(
        id=i, workspace_id=1, request_id=1, logged_by_id=i, text="t", customer=customer,
        crm_ref=ref, crm_verified=verified, amount_cents=cents, currency="USD" if cents else "",
    )  # fmt: skip


def test_one_crm_account_under_two_names_counts_once_and_its_money_once():
    stats = stats_from_occurrences(
        [
            occ(1, "Acme Corp", "hubspot:101", True, 120_000_000),
            occ(2, "ACME Corporation", "hubspot:101", True, 5_000_000),
            occ(3, "acme corp", cents=1_000),  # typed, not picked: the name another pick linked
            occ(4, "Globex", "hubspot:202", False, 7_000),  # never confirmed: counted by its name
        ]
    )
    assert stats.customers == {"crm:hubspot:101", "globex"}
    assert stats.money == {"USD": 120_000_000 + 7_000}


def test_hubspot_reads_and_names_each_failure(fake):
    hs = crm("hubspot")
    [found] = hs.search_accounts({"token": "pat"}, "acme", limit=10, deadline=10)
    assert (found.id, found.amount_cents, found.owner) == ("101", 25_000_050, "")  # no owners scope: no owner
    with pytest.raises(NotFound):
        hs.get_account({"token": "pat"}, "999", deadline=10)
    with pytest.raises(BadCredentials):
        hs.get_account({"token": "nope"}, "101", deadline=10)
    fake.hubspot_tokens["narrow"] = set()
    with pytest.raises(MissingScope, match="crm.objects.companies.read"):
        hs.test_connection({"token": "narrow"})
    fake.fail_status = 429
    with pytest.raises(RateLimited, match="for 10 s"):
        hs.search_accounts({"token": "pat"}, "acme", limit=10, deadline=10)
    fake.fail_status, fake.delay = 0, 5.0
    started = time.monotonic()
    with pytest.raises(TimedOut):
        hs.search_accounts({"token": "pat"}, "acme", limit=10, deadline=0.5)
    assert time.monotonic() - started < 4.0  # not the 5 s the CRM takes


def test_salesforce_reads_and_names_each_failure(fake):
    sf = crm("salesforce")
    creds = {"instance_url": fake.base, "access_token": "sf", "currency": "eur"}
    [found] = sf.search_accounts(creds, "o'hare_100%", limit=5, deadline=10)
    assert (found.id, found.amount_cents, found.currency, found.owner) == (SF_ID, None, "EUR", "Sam")
    assert sf.get_account(creds, SF_ID, deadline=10).name == "O'Hare_100%"
    with pytest.raises(NotFound):
        sf.get_account(creds, "001000000000009AAA", deadline=10)
    with pytest.raises(NotFound):  # not an id at all: nothing is sent
        sf.get_account(creds, "x' OR Name != '", deadline=10)
    with pytest.raises(ServiceError, match="three letters") as bad:
        sf.test_connection({**creds, "currency": "euros"})
    assert bad.value.field == "currency"
    fake.fail_status = 503
    with pytest.raises(Unreachable, match="503"):
        sf.test_connection(creds)


def test_salesforce_logs_in_with_username_password_and_security_token_once(fake):
    sf = crm("salesforce")
    fake.salesforce_users[("pat@example.com", "s3cret&pw" + "TOKEN1")] = "sf-session"
    fake.salesforce_tokens["sf-session"] = True
    creds = {"instance_url": fake.base, "username": "pat@example.com", "password": "s3cret&pw"}
    with pytest.raises(BadCredentials, match="INVALID_LOGIN") as refused:
        sf.test_connection({**creds, "security_token": "WRONG"})
    assert refused.value.field == "password"
    with pytest.raises(ServiceError, match="access token, or the username") as neither:
        sf.test_connection({"instance_url": fake.base})
    assert neither.value.field == "access_token"
    creds["security_token"] = "TOKEN1"
    assert sf.test_connection(creds).startswith("Salesforce at 127.0.0.1")
    assert sf.get_account(creds, SF_ID, deadline=10).id == SF_ID
    assert len(fake.calls_to("/services/Soap/u/")) == 2  # the refused login, then one
    # The session expires: logged in again once, and the call still answers.
    fake.salesforce_tokens.pop("sf-session")
    fake.salesforce_users[("pat@example.com", "s3cret&pwTOKEN1")] = "sf-session-2"
    fake.salesforce_tokens["sf-session-2"] = True
    assert sf.get_account(creds, SF_ID, deadline=10).id == SF_ID
    assert len(fake.calls_to("/services/Soap/u/")) == 3


def test_a_reopened_form_keeps_the_crm_pick():
    from handlers.views.request_modal_builder import Answers, answers_as_values, customer_input

    values = answers_as_values(Answers(text="x", customer="Acme Corp", crm_ref="hubspot:101"))
    option = customer_input(values["customer"])["element"]["initial_option"]
    assert option["value"] == "crm:hubspot:101:Acme Corp" and option["text"]["text"] == "Acme Corp"
    assert parse_option(option["value"]).ref == "hubspot:101"
    plain = customer_input(answers_as_values(Answers(text="x", customer="Globex"))["customer"])
    assert plain["element"]["initial_option"]["value"] == "Globex"
