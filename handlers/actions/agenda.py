"""The 1:1 agenda's buttons: *Done* on an item (either person), *Add to agenda* (opens a one-line form)."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.commands.oneonone import ITEM_LIMIT, announce_item
from handlers.common import actor, deps_of, mention
from handlers.digest_builder import add_item_modal, done_item_text
from handlers.text import escape, quote
from handlers.values import AgendaForm, read, read_id
from storage import schedule
from storage.db import session_scope
from storage.models import AgendaItem, OneOnOne, Person


def _where(body: dict[str, Any], me: Person) -> str:
    return (body.get("channel") or {}).get("id", "") or me.slack_user_id


def _member(oneonone: OneOnOne | None, me: Person) -> bool:
    return oneonone is not None and me.id in (oneonone.pm_id, oneonone.stakeholder_id)


def _strike(blocks: list[dict[str, Any]], item_id: int, done_by: str) -> list[dict[str, Any]]:
    """The posted agenda with this item struck through and its button gone."""
    updated = []
    for block in blocks:
        if block.get("block_id") == f"agenda_item_{item_id}":
            block = {
                "type": "section",
                "block_id": block["block_id"],
                "text": {
                    "type": "mrkdwn",
                    "text": done_item_text(block.get("text", {}).get("text", ""), done_by),
                },
            }
        updated.append(block)
    return updated


def agenda_done_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        where = _where(body, me)
        item = session.get(AgendaItem, read_id(action.get("value"), "agenda item's Done button"))
        if item is None or item.workspace_id != workspace.id:
            client.chat_postEphemeral(
                channel=where, user=me.slack_user_id, text="I can't find that agenda item."
            )
            return
        oneonone = session.get(OneOnOne, item.oneonone_id)
        if not _member(oneonone, me):
            client.chat_postEphemeral(
                channel=where,
                user=me.slack_user_id,
                text="Only the two people in this 1:1 can mark its items done.",
            )
            return
        marked = schedule.mark_item_done(session=session, item=item, by=me)
        done_by = session.get(Person, item.done_by_id) if item.done_by_id else me
    message = body.get("message") or {}
    if message.get("ts") and (body.get("channel") or {}).get("id"):
        try:
            client.chat_update(
                channel=body["channel"]["id"],
                ts=message["ts"],
                text=message.get("text") or "1:1 agenda",
                blocks=_strike(message.get("blocks") or [], item.id, done_by.slack_user_id),
            )
        except SlackApiError as e:
            logger.warning("could not update the agenda message: %s", e.response.get("error"))
    if not marked:
        client.chat_postEphemeral(
            channel=where,
            user=me.slack_user_id,
            text=f"“{quote(item.text, 200)}” was already marked done by {mention(done_by)}.",
        )


def agenda_add_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        where = _where(body, me)
        oneonone = session.get(OneOnOne, read_id(action.get("value"), "1:1's Add button"))
        if oneonone is None or oneonone.workspace_id != workspace.id or not oneonone.active:
            client.chat_postEphemeral(
                channel=where, user=me.slack_user_id, text="That 1:1 is no longer scheduled."
            )
            return
        if not _member(oneonone, me):
            client.chat_postEphemeral(
                channel=where,
                user=me.slack_user_id,
                text="Only the two people in this 1:1 can add to its agenda.",
            )
            return
        other = session.get(Person, oneonone.stakeholder_id if oneonone.pm_id == me.id else oneonone.pm_id)
        with_whom = (other.name or "them") if other else "them"
    client.views_open(
        trigger_id=body["trigger_id"],
        view=add_item_modal(
            oneonone_id=oneonone.id, channel=(body.get("channel") or {}).get("id", ""), with_whom=with_whom
        ),
    )


def agenda_add_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    values = view.get("state", {}).get("values", {})
    text = ((values.get("item") or {}).get("value") or {}).get("value") or ""
    text = text.strip()
    if not text:
        ack(response_action="errors", errors={"item": "Write what you'd like to talk about."})
        return
    if len(text) > ITEM_LIMIT:
        ack(response_action="errors", errors={"item": f"Please keep it under {ITEM_LIMIT:,} characters."})
        return
    meta = read(AgendaForm, view.get("private_metadata"), "agenda form")
    oneonone_id = meta.o
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        oneonone = session.get(OneOnOne, oneonone_id)
        if (
            oneonone is None
            or oneonone.workspace_id != workspace.id
            or not oneonone.active
            or not _member(oneonone, me)
        ):
            ack(
                response_action="errors",
                errors={"item": f"You can't add to this 1:1 any more. Your text: {text[:150]}"},
            )
            return
        ack()
        item = schedule.add_item(session=session, oneonone=oneonone, added_by=me, text=text)
        # Both see it in the group DM, with its own Done button.
        announce_item(
            deps,
            session=session,
            oneonone=oneonone,
            item_id=item.id,
            by=me,
            text=text,
            channel=meta.c,
        )
    deps.kick()
    logger.info("agenda item %s added to 1:1 %s: %s", item.id, oneonone_id, escape(text[:80]))
