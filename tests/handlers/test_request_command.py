"""The /request listener called directly, with a WebClient mock built from the real class."""

from __future__ import annotations

from unittest.mock import MagicMock, create_autospec

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlmodel import Session, select

from bot.app import build_deps
from handlers.commands.request import request_command
from storage.models import Draft, Occurrence, Outbox
from tests.conftest import test_settings


def _context(deps, user="U1"):
    ctx = BoltContext({"team_id": "T1", "user_id": user})
    ctx["deps"] = deps
    return ctx


def _deps(fake_slack, sqlite_url):
    return build_deps(test_settings(fake_slack, sqlite_url), start_worker=False)


def test_opens_the_form_prefilled_and_keeps_a_draft(fake_slack, sqlite_url):
    deps = _deps(fake_slack, sqlite_url)
    client = create_autospec(WebClient, instance=True)
    ack = MagicMock()
    body = {"text": "  CSV export for Acme ", "trigger_id": "t1", "channel_id": "C1", "user_id": "U1"}
    request_command(ack=ack, body=body, client=client, context=_context(deps), logger=MagicMock())
    ack.assert_called_once_with()
    view = client.views_open.call_args.kwargs["view"]
    assert client.views_open.call_args.kwargs["trigger_id"] == "t1"
    field = next(b for b in view["blocks"] if b.get("block_id") == "request")
    assert field["element"]["initial_value"] == "CSV export for Acme"
    with Session(deps.engine) as s:
        draft = s.exec(select(Draft)).one()
        assert draft.text == "CSV export for Acme" and draft.channel_id == "C1"


def test_help_answers_in_the_ack_without_touching_slack(fake_slack, sqlite_url):
    deps = _deps(fake_slack, sqlite_url)
    client = create_autospec(WebClient, instance=True)
    ack = MagicMock()
    request_command(ack=ack, body={"text": "help"}, client=client, context=_context(deps), logger=MagicMock())
    assert "/request" in str(ack.call_args.kwargs["blocks"])
    client.views_open.assert_not_called()


def test_when_the_form_cannot_open_the_text_is_stored_and_the_user_told(fake_slack, sqlite_url):
    deps = _deps(fake_slack, sqlite_url)
    client = create_autospec(WebClient, instance=True)
    error = SlackApiError(
        "expired",
        SlackResponse(
            client=None,
            http_verb="POST",
            api_url="",
            req_args={},
            data={"ok": False, "error": "expired_trigger_id"},
            headers={},
            status_code=200,
        ),
    )
    client.views_open.side_effect = error
    request_command(
        ack=MagicMock(),
        body={"text": "Bulk tag edit", "trigger_id": "t"},
        client=client,
        context=_context(deps),
        logger=MagicMock(),
    )
    with Session(deps.engine) as s:
        assert s.exec(select(Occurrence)).one().text == "Bulk tag edit"
        receipt = s.exec(select(Outbox).where(Outbox.kind == "confirmation")).one()
        assert "expired_trigger_id" in receipt.payload and "Bulk tag edit" in receipt.payload


def test_empty_command_with_a_broken_form_says_so(fake_slack, sqlite_url):
    deps = _deps(fake_slack, sqlite_url)
    client = create_autospec(WebClient, instance=True)
    client.views_open.side_effect = SlackApiError("x", {"ok": False, "error": "expired_trigger_id"})
    request_command(
        ack=MagicMock(),
        body={"text": "", "trigger_id": "t", "channel_id": "C1"},
        client=client,
        context=_context(deps),
        logger=MagicMock(),
    )
    assert "try `/request` again" in client.chat_postEphemeral.call_args.kwargs["text"]
    with Session(deps.engine) as s:
        assert s.exec(select(Occurrence)).all() == []


def test_a_too_long_customer_is_refused_on_its_field_not_cut(bolt):
    d = bolt.driver
    d.command("U1", "/request", "SSO")
    view = d.opened_views()[-1]
    customer = next(b for b in view["blocks"] if b.get("block_id") == "customer")
    # A typeahead now (its options are clipped to Slack's 150); a forged longer value is still refused.
    assert customer["element"]["type"] == "external_select"
    reply = d.submit("U1", view, {"customer": "A" * 1000})
    assert reply.json["response_action"] == "errors" and "1,000" in reply.json["errors"]["customer"]
    with Session(bolt.deps.engine) as s:
        assert s.exec(select(Occurrence)).all() == []
    d.submit("U1", view, {"customer": "Acme " * 40})
    with Session(bolt.deps.engine) as s:
        assert s.exec(select(Occurrence)).one().customer == ("Acme " * 40).strip()


def test_with_several_areas_none_is_preselected(bolt):
    d = bolt.driver
    d.command("U1", "/partnerbot", "pm add <@U1|me> Reporting")
    d.command("U1", "/focus", "Billing: invoices")
    d.command("U2", "/request", "CSV export")
    area = next(b for b in d.opened_views()[-1]["blocks"] if b.get("block_id") == "area")
    assert "initial_option" not in area["element"] and area["optional"] is False
