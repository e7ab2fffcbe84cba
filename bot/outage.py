"""What a person hears when the database can't be reached: that nothing was saved, and what they typed,
through Slack alone (the HTTP answer, or a direct message), never through the outbox in that database."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltResponse
from slack_sdk import WebClient

from handlers.text import clip, quote

FORM_NOTE = (
    "I can't reach my database right now, so this isn't saved yet. Everything you typed is still here: "
    "try again in a minute. (I've sent you a copy by DM too.)"
)


def outage_text(typed: str) -> str:
    kept = f"\nHere is what you typed, so it isn't lost:\n> {quote(typed, 2500)}" if typed else ""
    return (
        "Sorry — I can't reach my database right now, so I couldn't finish that and nothing from it "
        f"is saved.{kept}\nPlease try again in a minute; if it keeps happening, tell your Partnerbot admin."
    )


def answer_outage(
    client: WebClient, body: dict[str, Any], request: Any, typed: str, logger: logging.Logger
) -> BoltResponse | None:
    """Answer the person whose action failed because the database is unavailable; the returned response
    (if any) replaces Bolt's 500, which Slack would show as a bare error."""
    text = outage_text(typed)
    if body.get("command"):
        # The command's own answer: shown at once, only to them, where they typed it.
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
    user = body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
    retried = bool(request is not None and (request.headers or {}).get("x-slack-retry-num"))
    if user and not retried:  # Slack retries an event it got no answer for: one DM per action
        try:
            client.chat_postMessage(channel=user, text=text)
        except Exception:  # Slack may be failing too; the log has the database error
            logger.warning("could not tell %s the database is unavailable", user, exc_info=True)
    if body.get("type") == "view_submission":
        inputs = [
            b.get("block_id")
            for b in (body.get("view") or {}).get("blocks") or []
            if b.get("type") == "input"
        ]
        if inputs and inputs[0]:
            # The form stays open with every answer, the reason shown under its first field.
            first = inputs[0]
            return BoltResponse(
                status=200, body={"response_action": "errors", "errors": {first: clip(FORM_NOTE, 2000)}}
            )
    if body.get("type") in ("block_actions", "message_action", "shortcut"):
        return BoltResponse(status=200, body="")  # told by DM; a 500 would only add a bare warning
    return None
