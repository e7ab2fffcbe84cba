"""Button values and `private_metadata` come back from the client: forged ones get a clear answer, never
a 500, change nothing, and another person's draft is never read, used or spent."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from bot.payloads import buttons_in
from handlers.views.decision_modals import MERGE, NOT_YET, SHIPPED, SPLIT
from handlers.views.repeat_builder import CALLBACK_ID as REPEAT_STEP
from handlers.views.request_modal_builder import CALLBACK_ID as REQUEST_FORM
from storage.models import AgendaItem, Draft, FeatureRequest, Occurrence, Outbox, RequestDecision

FORGED_METADATA = [
    "[1,2]",
    "null",
    '"x"',
    "not json",
    '{"o":"abc"}',
    '{"r":"abc"}',
    '{"draft":"abc"}',
    '{"r":"²","o":"²","draft":"²"}',
    '{"r":99999999999999999999999,"o":99999999999999999999999,"draft":99999999999999999999999}',
    '{"r":-1,"o":-1,"draft":-1}',
    '{"r":true,"o":true,"draft":true,"f":"customer"}',
    '{"o":1,"f":"__class__"}',
    "",
]
FORM_CALLBACKS = [
    REQUEST_FORM,
    REPEAT_STEP,
    "followup_answer",
    "agenda_add",
    NOT_YET,
    SHIPPED,
    MERGE,
    SPLIT,
    "link_issue",
    "integration_connect",
]
FORGED_VALUES = ["", "abc", "²", "-1", "1e3", "99999999999999999999999", "[1]", '{"o":"x"}', "null", "0"]
ACTIONS = [
    "followup_frequency_weekly",
    "followup_impact_churn_risk",
    "followup_answer_customer",
    "req_reset_threshold",
    "req_planned",
    "req_not_yet",
    "req_shipped",
    "req_merge",
    "req_split",
    "req_reopen",
    "agenda_done",
    "agenda_add",
    "reopen_request",
    "reaction_log_request",
    "req_link_issue",
    "issue_shipped",
    "issue_not_yet",
]
TYPED = "Keep what I typed: SSO for Acme"


def form(callback_id: str, metadata: str) -> dict:
    """A modal as a client could send it back: the bot's callback, any metadata, one typed field."""
    return {
        "id": "VFORGED",
        "hash": "1.abc",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "blocks": [
            {
                "type": "input",
                "block_id": "request",
                "element": {"type": "plain_text_input", "action_id": "value"},
                "label": {"type": "plain_text", "text": "x"},
            }
        ],
    }


def nothing_stored(engine) -> None:
    with Session(engine) as s:
        for table in (FeatureRequest, Occurrence, RequestDecision, AgendaItem):
            assert s.exec(select(table)).all() == [], table.__name__
        # Only the welcome note the set-up's `pm add` queued.
        assert [r.key.split(":")[0] for r in s.exec(select(Outbox))] in ([], ["pm-note"])


@pytest.mark.parametrize("callback_id", FORM_CALLBACKS)
def test_forged_form_metadata_keeps_the_form_open_with_a_clear_error(bolt, callback_id):
    d = bolt.driver
    d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting")  # a PM, so PM-only forms get as far
    for metadata in FORGED_METADATA:
        reply = d.submit("UPM", form(callback_id, metadata), {"request": TYPED})
        assert reply.status == 200, (metadata, reply.body)
        errors = reply.json.get("errors") or {}
        # Refused on purpose with a message on the form (the form's own checks may speak first), never
        # by accident: the generic apology would mean a listener crashed on the value.
        assert reply.json.get("response_action") == "errors" and errors, (metadata, reply.body)
        said = " ".join(errors.values())
        assert "went wrong" not in said, (metadata, said)
    nothing_stored(bolt.deps.engine)


@pytest.mark.parametrize("action_id", ACTIONS)
def test_forged_button_values_change_nothing_and_never_500(bolt, action_id):
    d = bolt.driver
    d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting")
    before = len(bolt.fake.calls)
    for value in FORGED_VALUES:
        reply = d.click("UPM", {"action_id": action_id, "value": value}, channel="C0GENERAL")
        assert reply.status == 200, (value, reply.body)
    nothing_stored(bolt.deps.engine)
    said = [json.dumps(c.args) for c in bolt.fake.calls[before:] if c.method.startswith("chat.")]
    assert all("something went wrong" not in s for s in said), said  # refused on purpose, not by accident


@pytest.mark.parametrize("callback_id", [REQUEST_FORM, REPEAT_STEP])
def test_forged_metadata_on_closing_a_form_sends_nothing_odd(bolt, callback_id):
    for metadata in FORGED_METADATA:
        reply = bolt.driver.close("UREP", form(callback_id, metadata), {"request": TYPED})
        assert reply.status == 200, (metadata, reply.body)
    for call in bolt.fake.posts_to("UREP"):
        assert "something went wrong" not in json.dumps(call.args)


def open_form(bolt, user: str, text: str) -> dict:
    bolt.driver.command(user, "/request", text)
    view = bolt.driver.last_view()
    assert json.loads(view["private_metadata"])["draft"]
    return view


def test_another_persons_draft_is_never_read_used_or_spent(bolt):
    d, fake = bolt.driver, bolt.fake
    victim_view = open_form(bolt, "UVICTIM", "Secret roadmap item for Initech")
    stolen_meta = victim_view["private_metadata"]

    # Closing a form that names the victim's draft: the forger is not handed the victim's text.
    d.close("UFORGER", form(REQUEST_FORM, stolen_meta), {})
    assert all("Secret roadmap" not in json.dumps(c.args) for c in fake.posts_to("UFORGER"))

    # Submitting one: refused, the draft stays the victim's and unused.
    own = open_form(bolt, "UFORGER", "My own words")
    forged = dict(own, private_metadata=stolen_meta)
    reply = d.submit("UFORGER", forged, {"request": "My own words"})
    assert reply.json.get("response_action") == "errors" and "never wrote" in json.dumps(reply.json)
    with Session(bolt.deps.engine) as s:
        assert s.exec(select(Occurrence)).all() == []
        drafts = {dr.text: dr for dr in s.exec(select(Draft))}
        assert drafts["Secret roadmap item for Initech"].occurrence_id is None

    # The victim's own submission still stores their request, with their text.
    reply = d.submit("UVICTIM", victim_view, {})
    assert reply.status == 200
    with Session(bolt.deps.engine) as s:
        stored = s.exec(select(Occurrence)).all()
        assert [o.text for o in stored] == ["Secret roadmap item for Initech"]
    assert any("Secret roadmap" in json.dumps(c.args) for c in fake.posts_to("UVICTIM"))
    assert all("Secret roadmap" not in json.dumps(c.args) for c in fake.posts_to("UFORGER"))


def test_a_form_without_an_area_is_refused_when_there_are_several(bolt):
    d = bolt.driver
    d.command("UADMIN", "/partnerbot", "pm add <@UPM|pat> Reporting")
    d.command("UADMIN", "/partnerbot", "pm add <@UPM2|kim> Billing")
    view = open_form(bolt, "UREP", "Invoices in EUR")
    reply = d.submit("UREP", view, {"area": None})
    assert reply.json == {
        "response_action": "errors",
        "errors": {"area": "Pick the product area this is for."},
    }
    with Session(bolt.deps.engine) as s:
        assert s.exec(select(Occurrence)).all() == []
    # A forged area id (not one of the workspace's) is refused the same way.
    forged = dict(view)
    forged["blocks"] = [
        dict(
            b,
            element=dict(
                b["element"], options=[{"text": {"type": "plain_text", "text": "x"}, "value": "999"}]
            ),
        )
        if b.get("block_id") == "area"
        else b
        for b in view["blocks"]
    ]
    assert "Pick the product area" in d.submit("UREP", forged, {"area": "999"}).body


def test_the_log_as_request_offer_opens_only_for_whom_it_was_made_and_only_its_message(bolt):
    d, fake = bolt.driver, bolt.fake
    fake.messages["C0DEALS"].append(
        {"type": "message", "ts": "1700000001.000200", "user": "U7AE", "text": "EU data"}
    )
    fake.messages["C0SECRET"].append(
        {"type": "message", "ts": "1700000009.000900", "user": "UCEO", "text": "Layoffs on Friday"}
    )
    d.event(
        {
            "type": "reaction_added",
            "user": "UREP",
            "reaction": "memo",
            "item": {"type": "message", "channel": "C0DEALS", "ts": "1700000001.000200"},
        }
    )
    # The offer comes after Slack's answer (a lazy listener).
    offer = next(b for b in buttons_in(fake.wait_for(lambda: fake.posts_to("UREP"))[-1].args["blocks"]))
    written = json.loads(offer["value"])

    def opened() -> list[str]:
        return [json.dumps(c.args) for c in fake.calls if c.method == "views.open"]

    # Pointed at another channel's message, or clicked by someone else: refused, nothing opened.
    for value in (
        json.dumps({**written, "c": "C0SECRET", "t": "1700000009.000900"}),
        json.dumps({**written, "s": "0" * 32}),
        json.dumps({k: v for k, v in written.items() if k != "s"}),
    ):
        assert d.click("UREP", {**offer, "value": value}, channel="DUREP").status == 200
    assert d.click("UOTHER", offer, channel="DUOTHER").status == 200
    assert opened() == []
    assert all("Layoffs" not in json.dumps(c.args) for c in fake.calls)
    # The offer as written opens the form with the message it was made for.
    d.click("UREP", offer, channel="DUREP")
    assert len(opened()) == 1 and "EU data" in opened()[0]
