"""Peer 1:1s: `/oneonone @user every 6 weeks on Tuesday`, `/oneonone list`, `/oneonone cancel @user`
(PMs), and `/agenda @user [item]` (either person) to add to the next meeting's agenda."""

from __future__ import annotations

import re
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.commands.digest import weekday_of
from handlers.commands.focus import pm_refusal
from handlers.common import Deps, actor, deps_of, mention, person_for
from handlers.digest_builder import cadence_text, day_text, item_block, local_text
from handlers.text import from_slack, quote, strip_mentions, user_ids_in
from storage import outbox, schedule
from storage.db import session_scope
from storage.models import AgendaItem, OneOnOne, Person, utcnow

USAGE = (
    "`/oneonone @user every 6 weeks on Tuesday` (every 1–12 weeks, default 6, on Tuesday), "
    "`/oneonone list`, `/oneonone cancel @user`; add to the agenda with `/agenda @user [item]`"
)
AGENDA_USAGE = "`/agenda @user [item]` (add to your next 1:1 with them), `/agenda @user` (what's on it)"
ITEM_LIMIT = 2000
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")

_EVERY = re.compile(r"\b(?:every\s+)?(\d+)\s*(?:weeks?|wks?|w)\b")
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_NOISE = {"every", "on", "at", "each", "with", "a", "the", "meet", "meeting", "1:1", "s", "and", "starting"}


class CadenceError(ValueError):
    pass


def parse_cadence(text: str) -> tuple[int, int]:
    """(weeks, weekday) from "every 6 weeks on Tuesday", "weekly on thu", "every other week", "4w"."""
    rest = text.lower()
    for word, n in _NUMBER_WORDS.items():
        rest = re.sub(rf"\b{word}\b", str(n), rest)
    weeks = schedule.DEFAULT_CADENCE_WEEKS
    weekday = schedule.DEFAULT_ONEONONE_WEEKDAY
    match = _EVERY.search(rest)
    if match:
        weeks = int(match.group(1))
        rest = rest[: match.start()] + " " + rest[match.end() :]
    elif re.search(r"\b(every other week|biweekly|fortnightly)\b", rest):
        weeks = 2
        rest = re.sub(r"\b(every other week|biweekly|fortnightly)\b", " ", rest)
    elif re.search(r"\b(weekly|every week)\b", rest):
        weeks = 1
        rest = re.sub(r"\b(weekly|every week)\b", " ", rest)
    elif re.search(r"\bmonthly\b", rest):
        weeks = 4
        rest = re.sub(r"\bmonthly\b", " ", rest)
    unknown = []
    for word in re.split(r"[\s,]+", rest):
        if not word or word in _NOISE:
            continue
        day = weekday_of(word)
        if day is not None:
            weekday = day
        else:
            unknown.append(word)
    if unknown:
        raise CadenceError(f"I don't know what “{' '.join(unknown)}” means here.")
    if not schedule.MIN_CADENCE_WEEKS <= weeks <= schedule.MAX_CADENCE_WEEKS:
        raise CadenceError(
            f"Every {weeks} weeks is outside what I keep: {schedule.MIN_CADENCE_WEEKS}–"
            f"{schedule.MAX_CADENCE_WEEKS} weeks (PMs meet key stakeholders every 4–8 weeks)."
        )
    return weeks, weekday


def describe(o: OneOnOne, people: dict[int, Person], me: Person) -> str:
    other = people.get(o.stakeholder_id if o.pm_id == me.id else o.pm_id)
    who = mention(other) if other else "someone"
    role = "" if o.pm_id == me.id else " (they run it)"
    return f"• {who}{role}: {cadence_text(o)}; next {day_text(o.next_meeting)}"


def _listing(session, workspace_id: int, me: Person) -> str:
    rows = schedule.oneonones_of(session=session, workspace_id=workspace_id, person_id=me.id)
    if not rows:
        return "You have no peer 1:1s yet."
    ids = {o.pm_id for o in rows} | {o.stakeholder_id for o in rows}
    people = {pid: session.get(Person, pid) for pid in ids}
    return "*Your peer 1:1s*\n" + "\n".join(describe(o, people, me) for o in rows)


def oneonone_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    text = " ".join((body.get("text") or "").split())
    deps = deps_of(context)
    lowered = text.lower()
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if lowered in ("", "list", "ls"):
            ack(text=_listing(session, workspace.id, me) + f"\n_{USAGE}._")
            return
        if lowered in ("help", "?"):
            ack(
                text=f"Peer 1:1s keep the cadence and post an agenda to you both the working day before. {USAGE}."
            )
            return
        if not me.is_pm:
            ack(text=pm_refusal(me, "set up peer 1:1s", text))
            return
        users = user_ids_in(text)
        cancel = lowered.startswith(("cancel", "stop", "remove", "delete"))
        if len(users) != 1:
            problem = "Mention one person" if not users else "Mention just one person"
            ack(
                text=f"{problem} with @ (Slack turns it into a link), e.g. {USAGE}. You typed: `{quote(from_slack(text), 300)}`"
            )
            return
        other = person_for(session, deps, workspace, users[0])
        if other.id == me.id:
            ack(text=f"A 1:1 needs someone else. You typed: `{quote(from_slack(text), 300)}`")
            return
        if cancel:
            row = schedule.find_oneonone(
                session=session, workspace_id=workspace.id, pm_id=me.id, stakeholder_id=other.id
            )
            if row is None:
                ack(
                    text=f"You have no 1:1 with {mention(other)} to cancel. You typed: `{quote(from_slack(text), 300)}`"
                )
                return
            row.active = False
            session.add(row)
            ack(text=f"Cancelled your peer 1:1s with {mention(other)}. No more agendas will be posted.")
            return
        try:
            weeks, weekday = parse_cadence(strip_mentions(text))
        except CadenceError as e:
            ack(text=f"{e} Try {USAGE}. You typed: `{quote(from_slack(text), 300)}`")
            return
        now = utcnow()
        row, created = schedule.schedule_oneonone(
            session=session,
            workspace_id=workspace.id,
            pm=me,
            stakeholder=other,
            cadence_weeks=weeks,
            weekday=weekday,
            now=now,
        )
        agenda = schedule.agenda_at(row.next_meeting, me.tz)
        agenda_when = "right away" if agenda <= now else f"on {local_text(agenda, me.tz)}"
        verb = "Set up" if created else "Updated"
        ack(
            text=f"{verb} your peer 1:1 with {mention(other)}: {cadence_text(row)}. "
            f"Next: *{day_text(row.next_meeting)}*. I'll post the agenda to a group DM with you both "
            f"{agenda_when}. Either of you can add to it with `/agenda {mention(other)} [item]`."
        )


def agenda_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    text = " ".join((body.get("text") or "").split())
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        users = user_ids_in(text)
        if not users:
            if not text or text.lower() in ("help", "?", "list"):
                ack(text=f"{AGENDA_USAGE}.\n" + _listing(session, workspace.id, me))
            else:
                ack(
                    text=f"Mention who the 1:1 is with: {AGENDA_USAGE}. You typed: `{quote(from_slack(text), 300)}`"
                )
            return
        other = person_for(session, deps, workspace, users[0])
        row = schedule.oneonone_between(session=session, workspace_id=workspace.id, a=me.id, b=other.id)
        if row is None:
            ack(
                text=f"You have no peer 1:1 with {mention(other)}. A PM starts one with "
                f"`/oneonone {mention(other)} every 6 weeks on Tuesday`. You typed: `{quote(from_slack(text), 300)}`"
            )
            return
        # Only the first mention says who the 1:1 is with; the rest of the text is the item, as typed.
        item_text = from_slack(_MENTION.sub("", text, count=1)).strip()
        if not item_text:
            items = schedule.open_items(session=session, oneonone_id=row.id)
            listed = "\n".join(f"• {quote(i.text, 300)}" for i in items) or "_Nothing yet._"
            ack(text=f"*Agenda for your 1:1 with {mention(other)} on {day_text(row.next_meeting)}*\n{listed}")
            return
        if len(item_text) > ITEM_LIMIT:
            ack(
                text=f"Please keep an agenda item under {ITEM_LIMIT:,} characters (yours has {len(item_text):,}). "
                f"You typed: `{quote(from_slack(text), 300)}`"
            )
            return
        item = schedule.add_item(session=session, oneonone=row, added_by=me, text=item_text)
        late = schedule.agenda_sent(session=session, oneonone=row)
        if late:
            announce_item(deps, session=session, oneonone=row, item_id=item.id, by=me, text=item_text)
        ack(
            text=f"Added to your 1:1 with {mention(other)} on {day_text(row.next_meeting)}: “{quote(item_text, 300)}”"
            + (" (the agenda is already out, so I posted it there too)." if late else ".")
        )
    if late:
        deps.kick()


def announce_item(
    deps: Deps, *, session, oneonone: OneOnOne, item_id: int, by: Person, text: str, channel: str = ""
) -> None:
    """An item added after the agenda went out is posted to the same group DM, with its Done button."""
    item = session.get(AgendaItem, item_id)
    pm = session.get(Person, oneonone.pm_id)
    channel = oneonone.channel_id or channel or (pm.slack_user_id if pm else by.slack_user_id)
    outbox.enqueue(
        session=session,
        key=f"agenda_item:{item_id}",
        payload={
            "channel": channel,
            "text": f"{mention(by)} added to the agenda for {day_text(oneonone.next_meeting)}",
            "blocks": [
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": f"{mention(by)} added to the agenda for {day_text(oneonone.next_meeting)}:",
                        }
                    ],
                },
                item_block(item, {by.id: by}),
            ],
        },
        workspace_id=oneonone.workspace_id,
        kind="agenda_item",
        fallback_user_id=pm.slack_user_id if pm else "",
    )
