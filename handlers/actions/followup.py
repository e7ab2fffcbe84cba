"""Answering skipped questions from the follow-up DM: one-click buttons and one-line answers."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from handlers import blocks
from handlers.common import actor, deps_of
from handlers.logging_flow import reweigh_late_amount
from handlers.values import FollowupChoice, FollowupForm, FollowupQuestion, ForgedValue, read
from handlers.views.request_modal_builder import CUSTOMER_LIMIT
from storage import customers
from storage import requests as store
from storage.db import session_scope
from storage.models import Occurrence, ProductArea
from storage.money import AmountError, parse_amount
from storage.requests import FREQUENCIES, IMPACTS


def _refresh_dm(
    client: WebClient, session: Session, occ: Occurrence, channel: str, ts: str, logger: Logger
) -> None:
    if not channel or not ts:
        return
    request = session.get(store.FeatureRequest, occ.request_id)
    missing = store.missing_answers(occ)
    try:
        client.chat_update(
            channel=channel,
            ts=ts,
            text=f"Questions about: {request.title[:200]}",
            blocks=blocks.followup_blocks(
                request=request,
                occurrence=occ,
                missing=missing,
                show_answers=True,
                focus=getattr(session.get(ProductArea, request.area_id), "focus", ""),
            ),
        )
    except SlackApiError as e:
        logger.warning("could not update follow-up DM: %s", e.response.get("error"))


def _own_occurrence(session: Session, context: BoltContext, deps, occurrence_id: int):
    workspace, person = actor(session, deps, context)
    occ = store.get_occurrence(session=session, occurrence_id=occurrence_id, workspace_id=workspace.id)
    if occ is None or occ.logged_by_id != person.id:
        return person, None
    return person, occ


def followup_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """Frequency and impact buttons: one click stores the answer."""
    ack()
    deps = deps_of(context)
    value = read(FollowupChoice, action.get("value"), "answer button")
    occurrence_id, choice = value.o, value.v
    channel = (body.get("channel") or {}).get("id", "")
    ts = (body.get("message") or {}).get("ts", "")
    with session_scope(deps.engine) as session:
        person, occ = _own_occurrence(session, context, deps, occurrence_id)
        if occ is None:
            client.chat_postEphemeral(
                channel=channel or person.slack_user_id,
                user=person.slack_user_id,
                text="That question belongs to someone else's request, so I left it alone.",
            )
            return
        if action["action_id"].startswith("followup_frequency_") and choice in FREQUENCIES:
            occ.frequency = choice
        elif action["action_id"].startswith("followup_impact_") and choice in IMPACTS:
            store.add_impact(session=session, occurrence=occ, code=choice)
        else:
            return
        session.add(occ)
        session.commit()  # durable before the DM says it is answered
        _refresh_dm(client, session, occ, channel, ts, logger)


def followup_answer_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """*Answer* opens a one-question form."""
    ack()
    value = read(FollowupQuestion, action.get("value"), "Answer button")
    occurrence_id, field = value.o, value.f
    if field not in blocks.QUESTION_LABELS:
        raise ForgedValue("Answer button")
    message = {"c": (body.get("channel") or {}).get("id", ""), "t": (body.get("message") or {}).get("ts", "")}
    client.views_open(
        trigger_id=body["trigger_id"],
        view=blocks.followup_answer_modal(occurrence_id=occurrence_id, field=field, message=message),
    )


def followup_answer_submission(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    view = body.get("view") or {}
    meta = read(FollowupForm, view.get("private_metadata"), "answer form")
    field = meta.f
    if field not in blocks.QUESTION_LABELS:
        raise ForgedValue("answer form")
    values = (view.get("state") or {}).get("values") or {}
    text = str(((values.get("answer") or {}).get("value") or {}).get("value") or "").strip()
    if not text:
        ack(response_action="errors", errors={"answer": "Please type an answer, or close this form to skip."})
        return
    if field == "customer" and len(" ".join(text.split())) > CUSTOMER_LIMIT:
        ack(
            response_action="errors",
            errors={"answer": f"Please keep the customer's name under {CUSTOMER_LIMIT} characters."},
        )
        return
    money = None
    if field == "amount":
        try:
            money = parse_amount(text)
        except AmountError as e:
            ack(response_action="errors", errors={"answer": str(e)})
            return
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        person, occ = _own_occurrence(session, context, deps, meta.o)
        if occ is None:
            ack(response_action="errors", errors={"answer": "I can't find that request of yours any more."})
            return
        ack()
        if field == "amount" and money:
            occ.amount_cents, occ.currency, occ.amount_text = money.cents, money.currency, text[:255]
        elif field == "customer":
            occ.customer = customers.canonical_name(session=session, workspace_id=occ.workspace_id, name=text)
        elif field in ("root_problem", "focus_tie"):
            setattr(occ, field, text)
        else:
            return
        session.add(occ)
        session.commit()  # durable before the DM says it is answered
        _refresh_dm(client, session, occ, meta.c, meta.t, logger)
        if field == "amount" and reweigh_late_amount(
            session=session, deps=deps, person=person, occurrence=occ
        ):
            session.commit()
            deps.kick()
