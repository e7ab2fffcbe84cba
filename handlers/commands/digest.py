"""`/digest`: a PM's threshold digest, shown now, and its schedule: `/digest weekly monday 9`,
`/digest daily 8`, `/digest off` (leniently: "weekly on Mon at 9am")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.commands.focus import pm_refusal
from handlers.common import actor, deps_of
from handlers.digest_builder import digest_blocks, local_text, schedule_text
from handlers.text import from_slack, quote
from storage import charts as charts_store
from storage import digest as digest_store
from storage import schedule
from storage.db import session_scope
from storage.models import Person, utcnow

USAGE = "`/digest weekly monday 9`, `/digest daily 8`, `/digest off` (hours are in your Slack time zone)"

_HOUR = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$")
_NOISE = {"on", "at", "every", "each", "o'clock", "oclock", "digest", "the", "s", "send", "it", "please", "h"}
_OFF = {"off", "stop", "none", "pause", "never", "disable", "disabled"}
_DAILY = {"daily", "day", "days", "everyday"}
_WEEKLY = {"weekly", "week", "weeks"}


class ScheduleError(ValueError):
    pass


@dataclass
class ScheduleChange:
    cadence: str | None = None
    weekday: int | None = None
    hour: int | None = None


def _day_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for index, name in enumerate(schedule.WEEKDAYS):
        for form in (name, name + "s", name[:3], name[:3] + "."):
            names[form] = index
    names.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})
    return names


DAY_NAMES = _day_names()


def weekday_of(word: str) -> int | None:
    return DAY_NAMES.get(word.lower())


def parse_hour(word: str) -> int | None:
    match = _HOUR.match(word)
    if not match:
        return None
    hour, minute, meridiem = int(match.group(1)), match.group(2), (match.group(3) or "").replace(".", "")
    if minute not in (None, "00"):
        raise ScheduleError("Digests go out on the hour; give an hour like `9` or `9am`.")
    if meridiem:
        if not 1 <= hour <= 12:
            raise ScheduleError(f"“{word}” is not an hour on a 12-hour clock.")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if not 0 <= hour <= 23:
        raise ScheduleError(f"“{word}” is not an hour of the day (0–23, or 1–12 with am/pm).")
    return hour


def parse_schedule(text: str) -> ScheduleChange:
    """Lenient: "weekly on Mon at 9am", "monday 9", "daily 8", "every day at 8:00", "off"."""
    # "9 am" -> "9am", "9:00 pm" -> "9:00pm"
    joined = re.sub(r"(\d)\s+(am|pm|a\.m\.|p\.m\.)\b", r"\1\2", text.lower())
    words = [w for w in re.split(r"[\s,]+", joined) if w and w not in _NOISE]
    change = ScheduleChange()
    unknown = []
    for word in words:
        if word in _OFF:
            change.cadence = "off"
        elif word in _DAILY:
            change.cadence = "daily"
        elif word in _WEEKLY:
            change.cadence = change.cadence or "weekly"
        elif (day := weekday_of(word)) is not None:
            change.weekday = day
        elif (hour := parse_hour(word)) is not None:
            change.hour = hour
        else:
            unknown.append(word)
    if unknown:
        raise ScheduleError(f"I don't know what “{', '.join(unknown)}” means here.")
    if change.cadence == "off" and (change.weekday is not None or change.hour is not None):
        raise ScheduleError("That says both “off” and when to send it.")
    if change.weekday is not None and change.cadence is None:
        change.cadence = "weekly"
    if change.cadence == "daily" and change.weekday is not None:
        raise ScheduleError("A daily digest goes out every day; leave out the day, or say `weekly`.")
    if change.cadence is None and change.hour is None:
        raise ScheduleError("Say when: weekly (with a day), daily, an hour, or off.")
    return change


def apply_schedule(person: Person, change: ScheduleChange) -> bool:
    """Returns True when anything changed."""
    before = (person.digest_cadence, person.digest_weekday, person.digest_hour)
    if change.cadence is not None:
        person.digest_cadence = change.cadence
    elif person.digest_cadence == "off":
        person.digest_cadence = "weekly"
    if change.weekday is not None:
        person.digest_weekday = change.weekday
    if change.hour is not None:
        person.digest_hour = change.hour
    return before != (person.digest_cadence, person.digest_weekday, person.digest_hour)


def next_text(person: Person) -> str:
    when = schedule.next_digest_at(person, utcnow())
    return f" Next one: {local_text(when, person.tz)}." if when else ""


def digest_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    text = " ".join(from_slack(body.get("text") or "").split())
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        _workspace, me = actor(session, deps, context)
        if not me.is_pm:
            if not text:
                ack(
                    text="The threshold digest is for PMs: what crossed, what is close, who asked. "
                    "An admin makes someone a PM with `/partnerbot pm add @user`."
                )
            else:
                ack(text=pm_refusal(me, "set a digest schedule", text))
            return
        if text.lower() in ("", "show", "now", "preview"):
            now = utcnow()
            since = me.last_digest_at or (now - timedelta(days=7))
            data = digest_store.digest_data(session=session, pm=me, since=since, now=now)
            head = f"Your digest goes out {schedule_text(me)}.{next_text(me)} Change it with {USAGE}."
            blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": head}]}]
            # The preview answers within Slack's 3 seconds: it shows the charts already drawn, draws none.
            charts = charts_store.latest_charts(session=session, area_ids=[a.id for a in data.areas])
            ack(text=head, blocks=blocks + digest_blocks(data, preview=True, charts=charts))
            return
        if text.lower() in ("help", "?"):
            ack(text=f"Your digest goes out {schedule_text(me)}. Set it with {USAGE}.")
            return
        try:
            change = parse_schedule(text)
        except ScheduleError as e:
            ack(text=f"{e} Try {USAGE}. You typed: `{quote(text, 300)}`")
            return
        changed = apply_schedule(me, change)
        session.add(me)
        if changed:
            # A time already past today (or this week) under the new schedule is not sent late.
            due = schedule.digest_due(me, utcnow())
            if due is not None:
                schedule.claim(
                    session=session,
                    key=due.key,
                    kind="digest_rescheduled",
                    workspace_id=me.workspace_id,
                    claimed_by=f"/digest by {me.slack_user_id}",
                )
        if me.digest_cadence == "off":
            ack(text="Your threshold digest is *off*. Turn it back on with `/digest weekly monday 9`.")
            return
        ack(text=f"Your threshold digest now goes out *{schedule_text(me)}*.{next_text(me)}")
