"""`/partnerbot export` and `/partnerbot erase @user`: an admin's say over the workspace's data.

export: the workspace's requests, occurrences and decisions as CSV files and one JSON file, uploaded to
the admin's DM with files.uploadV2 after Slack has its answer (a lazy listener: an upload may take longer
than Slack's 3 seconds). erase: asks for a confirmation first; the button then removes the person's
personal data (storage/lifecycle.py erase_person) and tells the admin what went.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.common import actor, deps_of, mention
from handlers.text import escape, from_slack, quote, user_ids_in
from handlers.thanks import queue_dm
from storage import lifecycle, people
from storage.db import session_scope
from storage.models import Person

log = logging.getLogger(__name__)

SUBCOMMANDS = frozenset({"export", "erase"})
ERASE_ACTION = "partnerbot_erase"
ERASE_CANCEL_ACTION = "partnerbot_erase_cancel"
# Left in Bolt's context by the command for the lazy upload that follows it.
EXPORT_FOR = "partnerbot_export_for"


def register(app: Any) -> None:
    app.action(ERASE_ACTION)(erase_button)
    app.action(ERASE_CANCEL_ACTION)(erase_cancel_button)


def command(ack: Ack, body: dict[str, Any], context: BoltContext, words: list[str]) -> None:
    """The `/partnerbot export|erase` subcommands (partnerbot.py hands them over)."""
    deps = deps_of(context)
    text = (body.get("text") or "").strip()
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if not me.is_admin:
            ack(text=f"Only an admin can export or erase data. You typed: `{quote(from_slack(text), 200)}`")
            return
        if words[0].lower() == "export":
            context[EXPORT_FOR] = {"workspace_id": workspace.id, "user": me.slack_user_id}
            ack(text="Preparing the export of requests, occurrences and decisions; it arrives in our DM.")
            return
        ids = user_ids_in(text)
        if not ids:
            ack(text="Name the person with an @-mention, e.g. `/partnerbot erase @dana`.")
            return
        target = people.get_person(session=session, workspace_id=workspace.id, slack_user_id=ids[0])
        if target is None:
            ack(text=f"I have nothing stored about {mention(ids[0])}, so there is nothing to erase.")
            return
        question = (
            f"Erase {mention(target)}'s personal data? Their name and the words of every request they logged "
            "or raised are removed for good; the counts, customers and money stay. This can't be undone."
        )
        ack(
            text=question,
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": question}},
                {
                    "type": "actions",
                    "block_id": "erase_confirm",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": ERASE_ACTION,
                            "style": "danger",
                            "text": {"type": "plain_text", "text": "Erase"},
                            "value": str(target.id),
                        },
                        {
                            "type": "button",
                            "action_id": ERASE_CANCEL_ACTION,
                            "text": {"type": "plain_text", "text": "Cancel"},
                            "value": str(target.id),
                        },
                    ],
                },
            ],
        )


def erase_button(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    value = str(((body.get("actions") or [{}])[0]).get("value") or "")
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        target = session.get(Person, int(value)) if value.isdigit() else None
        if not me.is_admin or target is None or target.workspace_id != workspace.id:
            # A click by someone who is no admin (or on a button we never made) changes nothing.
            log.warning("refused an erase by %s of %r", me.slack_user_id, value)
            return
        if target.name == lifecycle.ERASED:
            said = "That person's data was erased already."
        else:
            who = f"{mention(target)} ({escape(target.name)})" if target.name else mention(target)
            erased = lifecycle.erase_person(session=session, person=target)
            said = (
                f"Erased {who}'s personal data: their name, and the words of {erased['occurrences']} "
                f"logged request(s), {erased['agenda_items']} agenda item(s) and {erased['drafts']} draft(s)"
                + (f"; {erased['titles']} request title(s) that were only theirs" if erased["titles"] else "")
                + ". The counts stay."
            )
        queue_dm(
            session=session,
            to=me,
            key=f"erase:{value}:{body.get('trigger_id') or ''}",
            text=said,
            workspace_id=workspace.id,
            kind="admin_note",
        )
    deps.kick()


def erase_cancel_button(ack: Ack) -> None:
    ack()


def export_later(context: BoltContext, client: WebClient) -> None:
    """After the command's answer: build the files and upload them to the admin's DM."""
    wanted = context.get(EXPORT_FOR)
    if not wanted:
        return
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        rows = lifecycle.export_rows(session=session, workspace_id=wanted["workspace_id"])
    uploads = [
        {"content": _csv(name, table), "filename": f"partnerbot-{name}.csv", "title": f"Partnerbot {name}"}
        for name, table in rows.items()
    ]
    uploads.append(
        {
            "content": json.dumps(rows, ensure_ascii=False, indent=1),
            "filename": "partnerbot-export.json",
            "title": "Partnerbot export (JSON)",
        }
    )
    counts = ", ".join(f"{len(table)} {name}" for name, table in rows.items())
    try:
        channel = client.conversations_open(users=wanted["user"])["channel"]["id"]
        client.files_upload_v2(
            file_uploads=uploads, channel=channel, initial_comment=f"Your Partnerbot export: {counts}."
        )
    except (SlackApiError, OSError) as e:
        log.warning("export upload for %s failed: %s", wanted["user"], e)
        client.chat_postMessage(
            channel=wanted["user"], text="Sorry — Slack refused the export's upload. Try again in a minute."
        )


def _csv(name: str, table: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=lifecycle.EXPORT_COLUMNS[name])
    writer.writeheader()
    writer.writerows(table)
    return out.getvalue()
