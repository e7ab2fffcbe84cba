"""`/partnerbot`: help, and the admin's say over who the PMs are."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers import blocks, connect
from handlers.commands import admin_data
from handlers.common import actor, deps_of, mention, person_for
from handlers.text import escape, from_slack, quote, strip_mentions, user_ids_in
from handlers.thanks import queue_dm
from storage import people
from storage.db import session_scope
from storage.models import Person, utcnow

USAGE = (
    "Try `/partnerbot pm add @user [area]`, `/partnerbot pm remove @user`, `/partnerbot pm list`, "
    "`/partnerbot admin add @user`, `/partnerbot connect github|linear|jira|hubspot|salesforce`, "
    "`/partnerbot connections` or `/partnerbot help`."
)


def partnerbot_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    text = (body.get("text") or "").strip()
    words = text.split()
    sub = " ".join(words[:2]).lower()
    if not words or words[0].lower() in ("help", "?"):
        ack(text="Partnerbot help", blocks=blocks.help_blocks())
        return
    if words[0].lower() in admin_data.SUBCOMMANDS:
        return admin_data.command(ack, body, context, words)
    if words[0].lower() in connect.SUBCOMMANDS:
        return connect.command(ack, body, client, context, words)
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if sub == "pm list":
            pms = people.list_pms(session=session, workspace_id=workspace.id)
            areas = people.list_areas(session=session, workspace_id=workspace.id)
            owners = {a.pm_id: [] for a in areas}
            for a in areas:
                owners[a.pm_id].append(a.name)
            lines = [
                f"• {mention(p)}" + (f" — {escape(', '.join(owners[p.id]))}" if owners.get(p.id) else "")
                for p in pms
            ]
            ack(
                text="*PMs*\n"
                + (
                    "\n".join(lines)
                    if lines
                    else "_None yet._ An admin adds one with `/partnerbot pm add @user [area]`."
                )
            )
            return
        if sub not in ("pm add", "pm remove", "admin add"):
            ack(text=f"I didn't understand “{quote(from_slack(text), 200)}”. {USAGE}")
            return
        if not me.is_admin:
            admins = [
                mention(p.slack_user_id)
                for p in people.list_admins(session=session, workspace_id=workspace.id)
            ]
            ack(
                text="Only an admin can change who the PMs and admins are"
                + (f" (admins here: {', '.join(admins)})." if admins else ".")
                + f" You typed: `{quote(from_slack(text), 200)}`"
            )
            return
        ids = user_ids_in(text)
        if not ids:
            ack(
                text=f"Name the person with an @-mention picked from Slack's list, e.g. `/partnerbot {sub} @dana`. "
                f"You typed: `{quote(from_slack(text), 200)}`"
            )
            return
        target = person_for(session, deps, workspace, ids[0])
        if not target.name:
            ack(
                text=f"Slack doesn't know the user {mention(ids[0])}, so I changed nothing. "
                f"You typed: `{quote(from_slack(text), 200)}`"
            )
            return
        if target.external and sub in ("admin add", "pm add"):
            # Another organisation's person deciding on this one's requests is never a slip worth allowing.
            ack(
                text=f"{mention(target)} is from another organisation (Slack Connect), so they can't be made "
                f"{'an admin' if sub == 'admin add' else 'a PM'} here. You typed: `{quote(from_slack(text), 200)}`"
            )
            return
        if sub == "admin add":
            if target.is_admin:
                ack(text=f"{mention(target)} is already an admin, so nothing changed.")
                return
            target.is_admin = True
            session.add(target)
            ack(text=f"{mention(target)} is now an admin.")
            return
        if sub == "pm remove":
            if not target.is_pm:
                ack(text=f"{mention(target)} isn't a PM, so nothing changed.")
                return
            released = people.set_pm(session=session, person=target, is_pm=False)
            names = ", ".join(f"*{escape(a.name)}*" for a in released)
            ack(
                text=f"{mention(target)} is no longer a PM."
                + (
                    f" {names} now {'has' if len(released) == 1 else 'have'} no owner: they keep their focus "
                    "and thresholds, and their alerts go to every PM until you hand them over with "
                    f"`/partnerbot pm add @user {escape(released[0].name)}`."
                    if released
                    else ""
                )
            )
            return
        was_pm = target.is_pm
        people.set_pm(session=session, person=target, is_pm=True)
        area_name = from_slack(strip_mentions(" ".join(words[2:]))).strip()
        extra = [f"{mention(u)} was not changed: one person at a time." for u in ids[1:2]]
        if area_name:
            area = people.ensure_area(session=session, workspace_id=workspace.id, name=area_name)
            if was_pm and area.pm_id == target.id:
                ack(text=f"{mention(target)} already owns *{escape(area.name)}*, so nothing changed.")
                return
            before = session.get(Person, area.pm_id) if area.pm_id and area.pm_id != target.id else None
            area.pm_id = target.id
            session.add(area)
            told = (
                f"{mention(target)} {'now owns' if was_pm else 'is now a PM and owns'} *{escape(area.name)}*"
            )
            if before is not None:
                told += f" (it was {mention(before)}'s; I've let them know)"
                _tell(
                    deps,
                    session,
                    before,
                    f"{mention(me)} handed *{escape(area.name)}* over to {mention(target)}.",
                )
            ack(text=" ".join([told + ".", *extra]))
            welcome = f"{mention(me)} made you the PM of *{escape(area.name)}*."
        elif was_pm:
            ack(
                text=" ".join(
                    [
                        f"{mention(target)} is already a PM, so nothing changed. To give them an area: "
                        f"`/partnerbot pm add {mention(target)} [area]`.",
                        *extra,
                    ]
                )
            )
        else:
            ack(
                text=" ".join(
                    [
                        f"{mention(target)} is now a PM. They can set a focus with `/focus [area]: [focus]`.",
                        *extra,
                    ]
                )
            )
            welcome = f"{mention(me)} made you a PM."
        if not was_pm or area_name:
            _tell(
                deps,
                session,
                target,
                f":wave: {welcome} Set what you're focused on with `/focus [area]: [focus]`, your rules with "
                "`/threshold`, and see requests with `/requests`. `/partnerbot help` has the rest.",
            )


def _tell(deps, session, person: Person, text: str) -> None:
    queue_dm(
        session=session,
        to=person,
        key=f"pm-note:{person.id}:{utcnow().isoformat()}",
        text=text,
        workspace_id=person.workspace_id,
    )
    deps.kick()
