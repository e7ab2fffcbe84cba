"""`/request [text]`: open the request form, prefilled; `/request help` explains the commands."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers import blocks
from handlers.common import asker_ids, deps_of
from handlers.logging_flow import log_and_reply
from handlers.once import claim_in, claims_in_its_transaction
from handlers.text import from_slack, quote
from handlers.views.request_form import open_request_form
from handlers.views.request_modal_builder import Answers
from storage import people
from storage.db import session_scope
from storage.models import Draft, Person, Workspace


@claims_in_its_transaction
def request_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    text = from_slack(body.get("text") or "").strip()
    if text.lower() in ("help", "?", "-h", "--help"):
        ack(text="Partnerbot help", blocks=blocks.help_blocks())
        return
    ack()
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace_id, person_id = asker_ids(session, deps, context)
        draft_id, error = open_request_form(
            session=session,
            deps=deps,
            client=client,
            trigger_id=body.get("trigger_id", ""),
            workspace_id=workspace_id,
            person_id=person_id,
            text=text,
            source="command",
            channel_id=body.get("channel_id", ""),
            # The claim that makes a command sent twice open one form commits with the draft.
            claim=lambda s: claim_in(s, context),
        )
        if draft_id is None or error is None:
            return
        workspace, person = session.get(Workspace, workspace_id), session.get(Person, person_id)
        if not text:
            client.chat_postEphemeral(
                channel=body.get("channel_id") or person.slack_user_id,
                user=person.slack_user_id,
                text=f"Sorry, Slack didn't let me open the form ({error}). Please try `/request` again.",
            )
            return
        # The form would not open (Slack's trigger expired): keep the request as typed, ask the rest by DM.
        draft = session.get(Draft, draft_id)
        area = people.default_area(session=session, workspace_id=workspace.id)
        logged = log_and_reply(
            session=session,
            deps=deps,
            workspace=workspace,
            person=person,
            draft=draft,
            answers=Answers(text=text),
            money=None,
            area=area,
            note=f"Slack didn't let me open the form ({error}), so I saved what you typed: {quote(text, 300)}",
        )
        logger.info("stored request %s without the form after %s", logged.request.id, error)
    deps.kick()
