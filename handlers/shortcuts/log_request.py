"""Message shortcut "Log as request": the request form, prefilled with the message and linked to it."""

from __future__ import annotations

from collections.abc import Callable
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.common import actor, deps_of, mention_names, person_for
from handlers.text import from_slack
from handlers.views.request_form import open_request_form
from storage.db import session_scope

CALLBACK_ID = "log_request"


def message_text(message: dict[str, Any], names: Callable[[str], str] | None = None) -> str:
    """The message's words as its author wrote them (Slack's markup decoded: mentions by name, `&` not
    `&amp;`); for messages made of attachments only, their text."""
    text = message.get("text") or ""
    if not text.strip():
        parts = [a.get("text") or a.get("fallback") or "" for a in message.get("attachments") or []]
        text = "\n".join(p for p in parts if p)
    return from_slack(text, names)


def log_request_shortcut(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    ack()
    deps = deps_of(context)
    message = body.get("message") or {}
    channel_id = (body.get("channel") or {}).get("id", "")
    ts = message.get("ts", "")
    permalink = ""
    if channel_id and ts:
        try:
            permalink = client.chat_getPermalink(channel=channel_id, message_ts=ts).get("permalink") or ""
        except SlackApiError as e:
            logger.info("no permalink for %s/%s: %s", channel_id, ts, e.response.get("error"))
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        author_id = message.get("user") or ""
        # In a Slack Connect channel the author may be the other organisation's: their team comes along.
        author_team = message.get("user_team") or ""
        raised_by = person_for(session, deps, workspace, author_id, author_team) if author_id else None
        _, error = open_request_form(
            session=session,
            deps=deps,
            client=client,
            trigger_id=body.get("trigger_id", ""),
            workspace_id=workspace.id,
            person_id=person.id,
            text=message_text(message, mention_names(client)),
            source="shortcut",
            channel_id=channel_id,
            message_ts=ts,
            thread_ts=message.get("thread_ts") or "",
            permalink=permalink,
            raised_by_id=raised_by.id if raised_by else None,
        )
        if error:
            client.chat_postMessage(
                channel=person.slack_user_id,
                text=f"Sorry, Slack didn't let me open the form ({error}). Try *Log as request* on the message again.",
            )
