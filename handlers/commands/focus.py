"""`/focus`: every area's current focus; a PM sets one with `/focus [area]: [focus]`."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.common import actor, area_refusal, deps_of, mention
from handlers.text import clip, escape, from_slack, quote
from storage import people
from storage.db import session_scope
from storage.models import Person

FOCUS_LIMIT = 1500


def pm_refusal(me: Person, what: str, typed: str) -> str:
    # Echo what the person saw in their composer (@priya), never Slack's markup (<@U1|priya>).
    typed = from_slack(typed)
    return (
        f"Only PMs can {what}. Ask an admin to make you one with `/partnerbot pm add {mention(me)}`. "
        f"You typed: `{quote(typed, 300)}`"
    )


def focus_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    text = from_slack(body.get("text") or "").strip()
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if not text:
            areas = people.list_areas(session=session, workspace_id=workspace.id)
            lines = []
            for area in areas:
                owner = f" ({mention(session.get(Person, area.pm_id))})" if area.pm_id else ""
                focus = escape(clip(area.focus, 600)) if area.focus else "_no focus set yet_"
                lines.append(f"• *{escape(area.name)}*{owner}: {focus}")
            ack(
                text="*Current focus*\n"
                + (
                    "\n".join(lines)
                    if lines
                    else "_No product areas yet._ A PM sets one with `/focus [area]: [focus]`."
                )
            )
            return
        if ":" not in text:
            area = people.get_area(session=session, workspace_id=workspace.id, name=text)
            if area is not None:
                ack(
                    text=f"*{escape(area.name)}*: " + (escape(clip(area.focus, 2000)) or "_no focus set yet_")
                )
                return
            ack(
                text=f"Write it as `/focus [area]: [focus]`, e.g. `/focus Reporting: self-serve dashboards`. "
                f"You typed: `{quote(text, 300)}`"
            )
            return
        if not me.is_pm:
            ack(text=pm_refusal(me, "set the focus", text))
            return
        name, focus = (part.strip() for part in text.split(":", 1))
        if not name or not focus:
            ack(text=f"Both parts are needed: `/focus [area]: [focus]`. You typed: `{quote(text, 300)}`")
            return
        if len(focus) > FOCUS_LIMIT:
            ack(
                text=f"Please keep the focus under {FOCUS_LIMIT:,} characters (yours has {len(focus):,}); "
                f"it is shown inside the request form. You typed: `{quote(text, 300)}`"
            )
            return
        existing = people.get_area(session=session, workspace_id=workspace.id, name=name)
        refusal = existing and area_refusal(session, me, existing, "set the focus")
        if refusal:
            ack(text=f"{refusal} You typed: `{quote(text, 300)}`")
            return
        area = people.ensure_area(session=session, workspace_id=workspace.id, name=name, pm=me)
        people.set_focus(session=session, area=area, focus=focus, by=me)
        ack(
            text=f"Focus for *{escape(area.name)}* is now: {escape(focus)}\n"
            'Requesters see it in the form and in every "not yet" reply.'
        )
