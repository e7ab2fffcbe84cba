"""`/partnerbot connect <kind>`, `/partnerbot disconnect <kind>` and `/partnerbot connections`: an admin
connects the workspace to an issue tracker or CRM.

*connect* opens a form asking for the service's credentials; submitting it tests them against the service
(within integrations.http.FORM_TIMEOUT) and names what is wrong in one line next to the field that is
wrong, keeping what was typed. Only then are they stored, encrypted (integrations/connections.py).
"""

from __future__ import annotations

import json
import os
from logging import Logger
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks import context, section
from handlers.common import actor, deps_of, mention
from handlers.text import clip, escape, from_slack, plain, quote
from handlers.thanks import local_date
from handlers.values import ConnectForm, ForgedValue, read
from integrations import connections
from integrations.base import KINDS, LABELS, ServiceError, Tracker, service
from storage import people
from storage.db import session_scope
from storage.models import Person

SUBCOMMANDS = frozenset({"connect", "disconnect", "connections"})
CALLBACK_ID = "integration_connect"
FIELD_LIMIT = 2000


def register(app: Any) -> None:
    app.view_submission(CALLBACK_ID)(connect_submission)


def public_url(settings: Any) -> str:
    """Where Slack and the trackers reach this app: PARTNERBOT_PUBLIC_URL, else the OAuth redirect's origin."""
    configured = os.environ.get("PARTNERBOT_PUBLIC_URL", "").strip().rstrip("/")
    if configured:
        return configured
    redirect = urlsplit(getattr(settings, "redirect_uri", "") or "")
    if redirect.scheme and redirect.netloc:
        return f"{redirect.scheme}://{redirect.netloc}"
    return "https://<your app's address>"


def _kinds_text() -> str:
    return ", ".join(f"`{k}`" for k in KINDS)


def _refuse_non_admin(session, workspace, text: str, what: str) -> str:
    admins = [
        mention(p.slack_user_id) for p in people.list_admins(session=session, workspace_id=workspace.id)
    ]
    return (
        f"Only an admin can {what}"
        + (f" (admins here: {', '.join(admins)})." if admins else ".")
        + f" You typed: `{quote(from_slack(text), 200)}`"
    )


def command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, words: list[str]
) -> None:
    """The `/partnerbot connect|disconnect|connections` subcommands (partnerbot.py hands them over)."""
    deps = deps_of(context)
    text = (body.get("text") or "").strip()
    sub = words[0].lower()
    kind = words[1].lower() if len(words) > 1 else ""
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if sub == "connections":
            ack(text=listing(session, workspace.id, me))
            return
        if not me.is_admin:
            ack(text=_refuse_non_admin(session, workspace, text, f"{sub} services"))
            return
        if kind not in KINDS:
            ack(
                text=f"Say which service: `/partnerbot {sub} <kind>`, one of {_kinds_text()}. "
                f"You typed: `{quote(from_slack(text), 200)}`"
            )
            return
        label = LABELS[kind]
        if sub == "disconnect":
            if not connections.remove_connection(session, workspace_id=workspace.id, kind=kind):
                ack(text=f"{label} isn't connected, so nothing changed.")
                return
            ack(
                text=f"Disconnected {label}: I've forgotten its credentials and send it nothing more. "
                "Issues linked to requests keep their last known status."
            )
            return
        problem = connections.key_problem()
        if problem:
            ack(text=problem)
            return
        found = service(kind)
        if found is None:
            ack(text=f"This version of Partnerbot can't connect {label} yet.")
            return
        existing = connections.get_connection(session, workspace_id=workspace.id, kind=kind)
        by = session.get(Person, existing.created_by_id) if existing and existing.created_by_id else None
        note = (
            f"{label} is already connected (by {mention(by) if by else 'an admin'}, "
            f"{local_date(existing.created_at, me.tz)}): saving replaces those credentials."
            if existing
            else ""
        )
        view = connect_modal(found, note=note, base=public_url(deps.settings))
    try:
        client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
    except SlackApiError as e:
        ack(
            text=f"Slack didn't let me open the form (it said `{escape(str(e.response.get('error')))}`). "
            f"Please run `/partnerbot connect {kind}` again."
        )
        return
    ack()


def listing(session, workspace_id: int, me: Person) -> str:
    rows = connections.connections(session, workspace_id=workspace_id)
    if not rows:
        return (
            "*Connections*\n_None yet._ An admin connects one with `/partnerbot connect <kind>`, "
            f"one of {_kinds_text()}."
        )
    lines = []
    for row in rows:
        by = session.get(Person, row.created_by_id) if row.created_by_id else None
        line = f"• *{LABELS.get(row.kind, row.kind)}* — connected {local_date(row.created_at, me.tz)}" + (
            f" by {mention(by)}" if by else ""
        )
        creds = connections.credentials(session, workspace_id=workspace_id, kind=row.kind)
        if creds is None:
            line += " — :warning: its credentials can't be read with the current PARTNERBOT_SECRET_KEY"
        elif isinstance(service(row.kind), Tracker):
            line += (
                " — webhooks" if creds.get("webhook_secret") else " — checked every few minutes (no webhook)"
            )
        if row.last_error:
            line += f"\n    _Last problem:_ {escape(clip(row.last_error, 200))}"
        lines.append(line)
    return "*Connections*\n" + "\n".join(lines)


def connect_modal(
    found: Any, *, note: str = "", base: str = "", values: dict[str, str] | None = None
) -> dict:
    blocks: list[dict[str, Any]] = [
        section(
            f"Connect Partnerbot to *{found.label}*. I test what you type with {found.label} before saving it, "
            "and keep it encrypted."
        )
    ]
    if note:
        blocks.append(context(note))
    if isinstance(found, Tracker):
        blocks.append(
            context(
                f"Webhook address for {found.label}: `{base}/integrations/{found.kind}` "
                "(README has the events to subscribe to)."
            )
        )
    for f in found.fields:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "max_length": FIELD_LIMIT,
        }
        if f.placeholder:
            element["placeholder"] = {"type": "plain_text", "text": plain(f.placeholder, 150)}
        if values and values.get(f.name) and not f.secret:
            element["initial_value"] = values[f.name]
        block: dict[str, Any] = {
            "type": "input",
            "block_id": f.name,
            "optional": f.optional,
            "element": element,
            "label": {"type": "plain_text", "text": plain(f.label, 2000)},
        }
        if f.hint:
            block["hint"] = {"type": "plain_text", "text": plain(f.hint, 2000)}
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": json.dumps({"k": found.kind}),
        "title": {"type": "plain_text", "text": plain(f"Connect {found.label}", 24)},
        "submit": {"type": "plain_text", "text": "Test and save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _typed(view: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for block_id, block in ((view.get("state") or {}).get("values") or {}).items():
        element = block.get("value") or next(iter(block.values()), {})
        value = element.get("value") if isinstance(element, dict) else None
        out[str(block_id)] = (value or "").strip() if isinstance(value, str) else ""
    return out


def connect_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    deps = deps_of(context)
    try:
        kind = read(ConnectForm, view.get("private_metadata"), "connect form").k
    except ForgedValue:
        ack(
            response_action="errors",
            errors={_first_block(view): "This form came back in a shape I never write."},
        )
        return
    found = service(kind)
    first = found.fields[0].name if found else _first_block(view)
    typed = _typed(view)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if not me.is_admin:
            ack(
                response_action="errors",
                errors={first: "Only an admin can connect services. What you typed is still here."},
            )
            return
        workspace_id, me_id = workspace.id, me.id
    problem = connections.key_problem()
    if problem or found is None:
        ack(response_action="errors", errors={first: problem or "This service can't be connected yet."})
        return
    values = {f.name: clip(typed.get(f.name, ""), FIELD_LIMIT) for f in found.fields}
    missing = [f for f in found.fields if not f.optional and not values[f.name]]
    if missing:
        ack(response_action="errors", errors={f.name: f"{f.label} is needed." for f in missing})
        return
    try:
        who = found.test_connection(values)
    except ServiceError as e:
        # One line, next to the field that is wrong (the first one when the service didn't say which).
        field = e.field if e.field in values else first
        ack(response_action="errors", errors={field: clip(str(e), 150)})
        return
    except Exception:  # a service answering nonsense must not lose the form
        logger.exception("testing the %s connection failed", kind)
        ack(
            response_action="errors",
            errors={first: f"Testing the connection to {found.label} failed unexpectedly; try again."},
        )
        return
    with session_scope(deps.engine) as session:
        connections.save_connection(
            session, workspace_id=workspace_id, kind=kind, credentials=values, by_user_id=me_id
        )
    lines = [f":white_check_mark: Connected *{found.label}* as {escape(who)}."]
    if isinstance(found, Tracker):
        if values.get("webhook_secret"):
            lines.append(
                f"Point {found.label}'s webhook at `{public_url(deps.settings)}/integrations/{kind}` with the "
                "same secret, and issue changes reach me at once."
            )
        else:
            lines.append("No webhook secret, so I check linked issues every few minutes.")
        lines.append("PMs link a request to an issue with *Link issue…* on the request (`/requests #N`).")
    ack(
        response_action="update",
        view={
            "type": "modal",
            "title": {"type": "plain_text", "text": plain(f"{found.label} connected", 24)},
            "close": {"type": "plain_text", "text": "Done"},
            "blocks": [section("\n".join(lines))],
        },
    )


def _first_block(view: dict[str, Any]) -> str:
    for block in view.get("blocks") or []:
        if block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return "value"
