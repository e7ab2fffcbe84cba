"""`/focus`: every area's current focus; a PM sets one with `/focus [area]: [focus]`, and the area's PM or an
admin renames it (`/focus rename [old]: [new]`) or retires it (`/focus retire [area] [into other area]`)."""

from __future__ import annotations

import re
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.common import actor, area_refusal, deps_of, mention
from handlers.text import clip, escape, from_slack, quote
from storage import people
from storage.db import session_scope
from storage.models import Person, ProductArea, utcnow

FOCUS_LIMIT = 1500
_RENAME = re.compile(r"^rename\s+(?P<old>.+?)\s*(?::|\s+to\s+|→)\s*(?P<new>.+)$", re.IGNORECASE)
_RETIRE = re.compile(r"^retire\s+(?P<area>.+?)(?:\s+into\s+(?P<into>.+))?$", re.IGNORECASE)
AREA_USAGE = "`/focus rename [old name]: [new name]`, `/focus retire [area]` or `/focus retire [area] into [other area]`"


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
        changed = change_area(session, workspace.id, me, text)
        if changed is not None:
            ack(text=changed)
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
        others = [] if existing else people.list_areas(session=session, workspace_id=workspace.id)
        area = people.ensure_area(session=session, workspace_id=workspace.id, name=name, pm=me)
        people.set_focus(session=session, area=area, focus=focus, by=me)
        ack(
            text=f"Focus for *{escape(area.name)}* is now: {escape(focus)}\n"
            'Requesters see it in the form and in every "not yet" reply.'
            + (new_area_note(area, others) if not existing else "")
        )


def new_area_note(area: ProductArea, others: list[ProductArea]) -> str:
    """A new area from a typo would otherwise stay forever: say it is new, and how to undo it."""
    from rapidfuzz import fuzz, process

    close = process.extractOne(
        area.name_key, {a.id: a.name_key for a in others}, scorer=fuzz.ratio, score_cutoff=80
    )
    near = next((a for a in others if close and a.id == close[2]), None)
    if near is not None:
        return (
            f"\n*{escape(area.name)}* is a new area. Did you mean *{escape(near.name)}*? "
            f"`/focus retire {escape(area.name)} into {escape(near.name)}` undoes this."
        )
    return f"\n*{escape(area.name)}* is a new area; rename it with `/focus rename {escape(area.name)}: [new name]`."


def change_area(session, workspace_id: int, me: Person, text: str) -> str | None:
    """`/focus rename …` and `/focus retire …`: the reply, or None when the text is something else."""
    rename, retire = _RENAME.match(text), _RETIRE.match(text)
    if rename:
        area = people.get_area(session=session, workspace_id=workspace_id, name=rename.group("old"))
        if area is None and people.get_area(
            session=session, workspace_id=workspace_id, name=text.split(":")[0]
        ):
            return None  # `/focus Rename tools: …` sets the focus of an area that is called that
    elif retire:
        area = people.get_area(session=session, workspace_id=workspace_id, name=retire.group("area"))
    else:
        return None
    if area is None:
        wanted = rename.group("old") if rename else retire.group("area")
        known = ", ".join(a.name for a in people.list_areas(session=session, workspace_id=workspace_id))
        return (
            f"There is no area called “{quote(wanted, 80)}”"
            + (f" (areas: {escape(known)})" if known else "")
            + f". You typed: `{quote(text, 300)}`"
        )
    if not (me.is_admin or people.may_manage(person=me, area=area)):
        refusal = area_refusal(session, me, area, "rename or retire it") or ""
        return f"{refusal} An admin can too. You typed: `{quote(text, 300)}`"
    old = area.name
    if rename:
        try:
            people.rename_area(session=session, area=area, name=rename.group("new"))
        except people.AreaChangeError as e:
            return f"{escape(str(e))} You typed: `{quote(text, 300)}`"
        return f"*{escape(old)}* is now called *{escape(area.name)}*. Its requests, focus and rules are unchanged."
    into = None
    if retire.group("into"):
        into = people.get_area(session=session, workspace_id=workspace_id, name=retire.group("into"))
        if into is None:
            return (
                f"There is no area called “{quote(retire.group('into'), 80)}” to move the requests into. "
                f"You typed: `{quote(text, 300)}`"
            )
    try:
        moved = people.retire_area(session=session, area=area, into=into, now=utcnow())
    except people.AreaChangeError as e:
        return f"{escape(str(e))} You typed: `{quote(text, 300)}`"
    if into is not None:
        return (
            f"Retired *{escape(old)}*: {moved} request{'' if moved == 1 else 's'} moved into *{escape(into.name)}*, "
            "with every occurrence, customer and decision."
        )
    return (
        f"Retired *{escape(old)}*. It no longer shows in lists or pickers; its requests stay as they are and "
        "`/requests #[number]` still finds each one. The name is free to use again."
    )
