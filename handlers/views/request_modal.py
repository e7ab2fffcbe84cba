"""The request form's submission (and its closing without submitting)."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.common import actor, deps_of
from handlers.logging_flow import finish_logging
from handlers.text import quote
from handlers.views.request_modal_builder import draft_id_of, read_answers
from storage import people
from storage import requests as store
from storage.db import session_scope
from storage.money import AmountError, parse_amount


def request_modal_submission(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    view = body.get("view") or {}
    answers = read_answers(view)
    errors = {}
    if not answers.text:
        errors["request"] = "Please say what the customer needs."
    try:
        money = parse_amount(answers.amount_text)
    except AmountError as e:
        errors["amount"], money = str(e), None
    if errors:
        # The form stays open with everything typed; only the bad field is marked.
        ack(response_action="errors", errors=errors)
        return
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        draft_id = draft_id_of(view)
        draft = (
            store.get_draft(session=session, draft_id=draft_id, workspace_id=workspace.id)
            if draft_id
            else None
        )
        area = None
        if answers.area_id:
            area = next(
                (
                    a
                    for a in people.list_areas(session=session, workspace_id=workspace.id)
                    if a.id == answers.area_id
                ),
                None,
            )
        if area is None:
            area = people.default_area(session=session, workspace_id=workspace.id)
        response = finish_logging(
            session=session,
            deps=deps,
            workspace=workspace,
            person=person,
            draft=draft,
            answers=answers,
            money=money,
            area=area,
        )
    ack(**response) if response else ack()
    deps.kick()


def request_modal_closed(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    """Closing the form does not lose what was typed: the requester gets it back by DM."""
    ack()
    view = body.get("view") or {}
    answers = read_answers(view)
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        draft_id = draft_id_of(view)
        draft = (
            store.get_draft(session=session, draft_id=draft_id, workspace_id=workspace.id)
            if draft_id
            else None
        )
        text = answers.text or (draft.text if draft else "")
        if not text.strip() or (draft is not None and draft.occurrence_id):
            return
    client.chat_postMessage(
        channel=person.slack_user_id,
        text=(
            "You closed the request form without logging it. Here is what you typed, so it isn't lost:\n"
            f"> {quote(text, 2500)}\nUse `/request` to log it when you're ready."
        ),
    )
