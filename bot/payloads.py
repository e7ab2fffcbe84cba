"""Slack request payloads as Slack sends them, signed. The shell and the end-to-end tests use these."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

_trigger = itertools.count(1)


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds to every request: `X-Slack-Signature` is v0=HMAC-SHA256(v0:ts:body)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def new_trigger_id() -> str:
    # Unique across processes too: the bot acts once per trigger id, and a shell restarted on the same
    # database must not look like a repeat of the last one.
    return f"{next(_trigger)}.{int(time.time())}.{uuid.uuid4().hex[:10]}.faketrigger"


def new_event_id() -> str:
    return f"Ev{uuid.uuid4().hex[:12].upper()}"


def slash_command(
    command: str,
    text: str,
    *,
    user_id: str,
    team_id: str,
    channel_id: str = "C0GENERAL",
    response_url: str = "",
    enterprise_id: str = "",
    trigger_id: str | None = None,
) -> str:
    """Form body of a slash command."""
    fields = {
        "token": "unused",
        "team_id": team_id,
        "team_domain": "partnerbot",
        "channel_id": channel_id,
        "channel_name": "general",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "APARTNER",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    if enterprise_id:
        fields["enterprise_id"] = enterprise_id
    return urlencode(fields)


def _interactive(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def _team(team_id: str, enterprise_id: str = "") -> dict[str, Any]:
    return {
        "team": {"id": team_id, "domain": "partnerbot"},
        "enterprise": {"id": enterprise_id} if enterprise_id else None,
        "is_enterprise_install": False,
        "api_app_id": "APARTNER",
        "token": "unused",
    }


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def state_values(view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Fill a view's input blocks as a user would: text for text inputs, option values for choices."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        block_id, element = block["block_id"], block["element"]
        action_id, kind = element.get("action_id", "value"), element["type"]
        if block_id in answers:
            answer = answers[block_id]
        elif kind == "plain_text_input":
            answer = element.get("initial_value")
        else:
            answer = (element.get("initial_option") or {}).get("value")
        state: dict[str, Any] = {"type": kind}
        if kind == "plain_text_input":
            state["value"] = answer if answer not in ("", None) else None
        elif kind in ("static_select", "radio_buttons"):
            option = next((o for o in element.get("options", []) if o["value"] == answer), None)
            state["selected_option"] = option
        elif kind == "external_select":
            # Slack sends back the option the person picked from the suggestions (or kept).
            initial = element.get("initial_option")
            if block_id in answers:
                state["selected_option"] = (
                    {"text": {"type": "plain_text", "text": str(answer)[:75]}, "value": str(answer)}
                    if answer not in ("", None)
                    else None
                )
            else:
                state["selected_option"] = initial
        elif kind == "checkboxes":
            chosen = set(answer or [])
            state["selected_options"] = [o for o in element.get("options", []) if o["value"] in chosen]
        else:
            state["value"] = answer
        values[block_id] = {action_id: state}
    return values


def view_submission(
    view: dict[str, Any],
    answers: dict[str, Any],
    *,
    user_id: str,
    team_id: str,
    enterprise_id: str = "",
    trigger_id: str | None = None,
) -> str:
    """`view` as Slack stored it carries its id and hash (per version); a view without them is given
    "VFAKE" and no hash."""
    filled = dict(view)
    filled["state"] = {"values": state_values(view, answers)}
    filled.setdefault("id", "VFAKE")
    return _interactive(
        {
            "type": "view_submission",
            **_team(team_id, enterprise_id),
            "user": _user(user_id, team_id),
            "view": filled,
            "trigger_id": trigger_id or new_trigger_id(),
        }
    )


def view_closed(view: dict[str, Any], answers: dict[str, Any], *, user_id: str, team_id: str) -> str:
    filled = dict(view)
    filled["state"] = {"values": state_values(view, answers)}
    return _interactive(
        {
            "type": "view_closed",
            **_team(team_id),
            "user": _user(user_id, team_id),
            "view": filled,
            "is_cleared": False,
        }
    )


def block_actions(
    action: dict[str, Any],
    *,
    user_id: str,
    team_id: str,
    channel_id: str = "",
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    action_ts: str | None = None,
) -> str:
    """A button click. `action` is the button element as it was posted; every click has its own
    `action_ts` (give one to send the very same click again)."""
    clicked = {
        "type": action.get("type", "button"),
        "action_id": action["action_id"],
        "block_id": action.get("block_id", "b"),
        "value": action.get("value", ""),
        "action_ts": action_ts or f"{time.time():.6f}",
    }
    if "selected_option" in action:  # a select: what was picked, as Slack sends it (no value)
        clicked["selected_option"] = action["selected_option"]
        del clicked["value"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        **_team(team_id),
        "user": _user(user_id, team_id),
        "trigger_id": new_trigger_id(),
        "actions": [clicked],
        "response_url": "",
    }
    if channel_id:
        payload["channel"] = {"id": channel_id, "name": channel_id}
        payload["container"] = {
            "type": "message",
            "channel_id": channel_id,
            "message_ts": (message or {}).get("ts", ""),
        }
    if message is not None:
        payload["message"] = message
    if view is not None:
        payload["view"] = view
        payload["container"] = {"type": "view", "view_id": view.get("id", "")}
    return _interactive(payload)


def block_suggestion(
    view: dict[str, Any], *, block_id: str, action_id: str, value: str, user_id: str, team_id: str
) -> str:
    """A person typing `value` into an external select of `view`: Slack asks the app for options."""
    return _interactive(
        {
            "type": "block_suggestion",
            **_team(team_id),
            "user": _user(user_id, team_id),
            "container": {"type": "view", "view_id": view.get("id", "")},
            "view": view,
            "block_id": block_id,
            "action_id": action_id,
            "value": value,
        }
    )


def message_action(
    message: dict[str, Any], *, user_id: str, team_id: str, channel_id: str, callback_id: str = "log_request"
) -> str:
    """A message shortcut on `message` (which has text, user and ts)."""
    return _interactive(
        {
            "type": "message_action",
            **_team(team_id),
            "callback_id": callback_id,
            "user": _user(user_id, team_id),
            "channel": {"id": channel_id, "name": channel_id},
            "message": {"type": "message", **message},
            "trigger_id": new_trigger_id(),
            "response_url": "",
            "message_ts": message.get("ts", ""),
        }
    )


def event(event: dict[str, Any], *, team_id: str, event_id: str | None = None) -> str:
    """An Events API callback (JSON body). Slack's retries of one event carry the same `event_id`."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": team_id,
            "api_app_id": "APARTNER",
            "type": "event_callback",
            "event_id": event_id or new_event_id(),
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True}],
        }
    )


def buttons_in(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every clickable button in a message or view, with the block it sits in."""
    found = []
    for block in blocks or []:
        elements = (
            block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
        )
        for element in elements:
            if element.get("type") == "button":
                found.append({**element, "block_id": block.get("block_id", "")})
    return found
