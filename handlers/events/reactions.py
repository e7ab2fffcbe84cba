"""Logging by emoji: react to a message with :memo: (or :partnerbot:) and the bot offers to log it.

The event is answered first and the offer made after (a lazy listener): Slack's 3 seconds never depend on
how fast Slack itself answers the calls the offer needs."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks import button, section
from handlers.common import actor, deps_of, fetch_message, mention_names, person_for
from handlers.shortcuts.log_request import message_text
from handlers.text import quote
from handlers.values import MessageRef, read
from handlers.views.request_form import open_request_form
from storage.db import session_scope

REACTIONS = {"memo", "partnerbot", "pencil"}


def seal_key(context: BoltContext) -> str:
    """What seals the offer's button: the app's signing secret (the bot token in Socket Mode)."""
    settings = deps_of(context).settings
    return settings.signing_secret or settings.bot_token or settings.app_token


def reaction_added(event: dict[str, Any]) -> None:
    """Acknowledged at once (Slack retries an event that isn't answered within 3 seconds, and disables
    the subscriptions of an app that keeps failing): reading the message and offering to log it need
    several Slack calls, so `offer_to_log` does them after the answer, as a lazy listener."""


def wants_offer(event: dict[str, Any]) -> bool:
    return event.get("reaction") in REACTIONS and (event.get("item") or {}).get("type") == "message"


def offer_to_log(event: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger) -> None:
    """DM the person who reacted a one-click "Log as request" for the message; when Slack won't take the
    DM (someone from another organisation in a Slack Connect channel), say it only-them in the channel."""
    if not wants_offer(event):
        return
    item = event["item"]
    channel, ts, user = item.get("channel", ""), item.get("ts", ""), event.get("user", "")
    message = fetch_message(client, channel, ts)
    text = message_text(message, mention_names(client)) if message else ""
    preview = f"> {quote(text, 400)}" if text else "(I couldn't read that message; you can type the request.)"
    value = MessageRef.write(seal_key(context), channel, ts, user)
    offer = {
        "text": "Log that message as a customer request?",
        "blocks": [
            section(
                f"You reacted with :{event['reaction']}: — log this message as a customer request?\n{preview}"
            ),
            {
                "type": "actions",
                "block_id": "reaction_log",
                "elements": [button("Log as request", "reaction_log_request", value, "primary")],
            },
        ],
    }
    try:
        client.chat_postMessage(channel=user, **offer)
        return
    except SlackApiError as e:
        logger.warning(
            "could not DM %s the offer: %s", user, e.response.get("error") or e.response.status_code
        )
    try:
        client.chat_postEphemeral(channel=channel, user=user, **offer)
    except SlackApiError as e:
        # Nowhere left to say it; the reaction stays on the message, and /request still works.
        logger.warning(
            "could not offer %s to log %s/%s: %s",
            user,
            channel,
            ts,
            e.response.get("error") or e.response.status_code,
        )


def reaction_log_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    what = "“Log as request” button"
    where = read(MessageRef, action.get("value"), what).check(seal_key(context), context.get("user_id"), what)
    channel, ts = where.c, where.t
    message = fetch_message(client, channel, ts) or {}
    permalink = ""
    try:
        permalink = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink") or ""
    except SlackApiError as e:
        logger.info("no permalink: %s", e.response.get("error"))
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        author = message.get("user") or ""
        raised_by = (
            person_for(session, deps, workspace, author, message.get("user_team") or "") if author else None
        )
        open_request_form(
            session=session,
            deps=deps,
            client=client,
            trigger_id=body.get("trigger_id", ""),
            workspace_id=workspace.id,
            person_id=person.id,
            text=message_text(message, mention_names(client)),
            source="reaction",
            channel_id=channel,
            message_ts=ts,
            thread_ts=message.get("thread_ts") or "",
            permalink=permalink,
            raised_by_id=raised_by.id if raised_by else None,
        )
