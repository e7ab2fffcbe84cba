"""The PM's *Reset threshold* button: alert again the next time the request crosses."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.common import actor, area_refusal, deps_of
from handlers.text import escape
from handlers.values import read_id
from storage import requests as store
from storage import thresholds
from storage.db import session_scope
from storage.models import ProductArea


def reset_threshold_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    channel = (body.get("channel") or {}).get("id", "")
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        where = channel or me.slack_user_id
        if not me.is_pm:
            client.chat_postEphemeral(
                channel=where, user=me.slack_user_id, text="Only PMs can reset a threshold."
            )
            return
        request = store.get_request(
            session=session,
            request_id=read_id(action.get("value"), "Reset button"),
            workspace_id=workspace.id,
        )
        if request is None:
            client.chat_postEphemeral(channel=where, user=me.slack_user_id, text="I can't find that request.")
            return
        refusal = area_refusal(session, me, session.get(ProductArea, request.area_id), "reset a threshold")
        if refusal:
            client.chat_postEphemeral(channel=where, user=me.slack_user_id, text=refusal)
            return
        count = thresholds.reset(session=session, request_id=request.id)
    client.chat_postEphemeral(
        channel=where,
        user=me.slack_user_id,
        text=(
            f"Reset *{escape(request.title)}*: you'll be alerted again the next time it crosses."
            if count
            else f"*{escape(request.title)}* had no open alert to reset."
        ),
    )
