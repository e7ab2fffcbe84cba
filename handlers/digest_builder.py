"""Block Kit for the PM's threshold digest and the peer 1:1 agenda. Pure functions of storage.digest data."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from handlers.blocks import (
    button,
    context,
    impacts_text,
    issue_lines,
    request_action_buttons,
    reset_button,
    section,
    sections,
)
from handlers.dates import slack_date, slack_day, slack_time
from handlers.standing import money_text, occurrence_line
from handlers.text import clip, escape, quote
from storage.digest import AgendaData, DigestData, RequestLine
from storage.models import AgendaItem, OneOnOne, Person
from storage.requests import FREQUENCIES
from storage.schedule import WEEKDAYS

# Questions for a peer 1:1, asked two or three at a time in turn (OneOnOne.question_index).
QUESTIONS = (
    "What's your biggest priority this quarter?",
    "How do you fit into your department's goals?",
    "Based on what we're working on, who else should I talk to?",
    "Which customer conversation surprised you most since we last met?",
    "What are you hearing from customers that isn't in a request yet?",
    "Where are we losing deals right now, and what would change that?",
    "Which of your accounts is most at risk, and why?",
    "What did we ship that you'd like to show more customers?",
    "Is there a request you've stopped raising because you expect a no?",
    "What would make it easier to bring requests to me?",
)
QUESTIONS_PER_AGENDA = 3
ITEM_LIMIT = 15
SECTION_TITLES = {
    "crossed": ":rotating_light: *Crossed the threshold*",
    "still_over": ":hourglass: *Still over the threshold — waiting for your decision*",
    "close": ":eyes: *Close to the threshold* (60% or more)",
    "not_yet": ':speech_balloon: *"Not yet" requests heard again*',
}


MAX_BLOCKS = 50  # Slack's limit for one message


def questions_for(index: int, n: int = QUESTIONS_PER_AGENDA) -> list[str]:
    return [QUESTIONS[(index + i) % len(QUESTIONS)] for i in range(n)]


def day_text(day: date) -> str:
    return slack_day(day)


def local_text(when: datetime, tz: str) -> str:
    return slack_time(when, tz or "UTC")


def schedule_text(person: Person) -> str:
    if person.digest_cadence == "off":
        return "off"
    at = f"{person.digest_hour:02d}:00"
    if person.digest_cadence == "daily":
        return f"daily at {at} ({escape(person.tz or 'UTC')})"
    return f"weekly on {WEEKDAYS[person.digest_weekday % 7].title()} at {at} ({escape(person.tz or 'UTC')})"


def standing_text(line: RequestLine) -> str:
    return f"{line.count}/{line.threshold} in {line.days} days"


def facts_text(line: RequestLine) -> str:
    """count vs threshold · customers · money · most common impact and frequency."""
    parts = [f"*{standing_text(line)}*"]
    customers = line.stats.customer_count
    if customers:
        parts.append(f"{customers} customer{'s' if customers != 1 else ''}")
    money = money_text(line.stats)
    if money:
        parts.append(money)
    if line.top_impact:
        parts.append(f"mostly {impacts_text(line.top_impact).lower()}")
    if line.top_frequency:
        parts.append(FREQUENCIES.get(line.top_frequency, line.top_frequency).lower())
    return " · ".join(parts)


def request_line_blocks(
    line: RequestLine, section_name: str, *, with_who: bool = True
) -> list[dict[str, Any]]:
    request = line.request
    title = f"*{escape(clip(request.title, 200))}* · _{escape(line.area.name)}_"
    notes = []
    if section_name == "crossed":
        rules = " and ".join("money rule" if r == "amount" else "count rule" for r in line.rules)
        notes.append(f"crossed the {rules}" if rules else "crossed")
    if line.new:
        notes.append(f"+{line.new} since the last digest")
    if request.status == "not_yet" and request.status_reason:
        notes.append(f"not yet: {quote(request.status_reason, 200)}")
    elif request.status == "planned":
        notes.append("planned")
    text = f"{title}\n{facts_text(line)}"
    if notes:
        text += "\n" + " · ".join(notes)
    if line.focus_tie:
        text += f"\n_Tie to focus:_ {quote(line.focus_tie, 200)}"
    text += issue_lines(line.links)
    buttons = request_action_buttons(request.id, request.status)
    if section_name != "crossed":
        return [section(text), buttons]
    buttons["elements"].append(reset_button(request.id))
    if not with_who:
        return [section(text + f"\nWho asked: `/requests #{request.id}`"), buttons]
    # What the PM would have read in an immediate alert: who asked, for whom, why — the newest few.
    who = [
        f"• {occurrence_line(o, line.people.get(o.logged_by_id), request.title, line.people.get(o.raised_by_id))}"
        for o in line.recent
    ]
    more = line.stats.count - len(line.recent)
    if more > 0:
        who.append(f"…and {more} more: `/requests #{request.id}` lists every one.")
    return [section(text), *sections(["*Who asked*", *who], most=2), buttons]


def digest_period_word(person: Person) -> str:
    return "today" if person.digest_cadence == "daily" else "this week"


def digest_summary(data: DigestData) -> str:
    """One line: what the notification and a blank period say."""
    names = ", ".join(escape(a.name) for a in data.areas)
    new = f"{data.new_requests} new request{'s' if data.new_requests != 1 else ''} in {names}"
    if data.empty:
        return f"Nothing crossed or came close {digest_period_word(data.pm)} — {new}."
    counts = []
    for name, label in (
        ("crossed", "crossed"),
        ("still_over", "still over"),
        ("close", "close"),
        ("not_yet", '"not yet" heard again'),
    ):
        n = len(getattr(data, name)) + data.more.get(name, 0)
        if n:
            counts.append(f"{n} {label}")
    return "Threshold digest: " + ", ".join(counts) + f" — {new}."


CHARTS_IN_DIGEST = 3  # a chart is one block but a tall picture: the first few areas


def chart_blocks(data: DigestData, charts: dict[int, str]) -> list[dict[str, Any]]:
    """Each area's chart (already uploaded to Slack, drawn at most once a day) as an image block."""
    return [
        {
            "type": "image",
            "slack_file": {"id": charts[area.id]},
            "alt_text": f"{clip(area.name, 80)}: occurrences per week over the last quarter, and the top requests",
        }
        for area in data.areas
        if area.id in charts
    ][:CHARTS_IN_DIGEST]


def digest_blocks(
    data: DigestData, *, preview: bool = False, charts: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    if not data.areas:
        return [
            section(
                "You don't own a product area yet, so there is nothing to digest. "
                "Set one up with `/focus [area]: [focus]`."
            )
        ]
    since = local_text(data.since, data.pm.tz)
    if data.empty:
        return [section(f":bar_chart: {digest_summary(data)}"), context(f"Since {since}.")]
    names = ", ".join(f"*{escape(a.name)}*" for a in data.areas)
    head = "Digest preview" if preview else "Your threshold digest"
    blocks = [
        section(f":bar_chart: *{head}* for {names} — since {since}."),
        *chart_blocks(data, charts or {}),
    ]
    # Slack holds 50 blocks a message: the header, the closing line and each section's title are kept,
    # then two blocks a line in order of importance; room left over shows who asked for crossed ones.
    sections_shown = [n for n in ("crossed", "still_over", "close", "not_yet") if getattr(data, n)]
    room = MAX_BLOCKS - 1 - len(blocks) - len(sections_shown)
    kept: dict[str, list[RequestLine]] = {}
    for name in sections_shown:
        kept[name] = getattr(data, name)[: max(0, room // 2)]
        room -= 2 * len(kept[name])
    for name in sections_shown:
        total = len(getattr(data, name)) + data.more.get(name, 0)
        extra = f" — showing {len(kept[name])} of {total}, see `/requests`" if len(kept[name]) < total else ""
        blocks.append(section(f"{SECTION_TITLES[name]} ({total}){extra}"))
        for line in kept[name]:
            full = request_line_blocks(line, name)
            if len(full) - 2 > room:
                full = request_line_blocks(line, name, with_who=False)
            room -= len(full) - 2
            blocks.extend(full)
    blocks.append(
        context(
            f"{data.new_requests} new request{'s' if data.new_requests != 1 else ''} since {since}. "
            "Change when this arrives with `/digest weekly monday 9`, `/digest daily 8` or `/digest off`."
        )
    )
    return blocks


# -- agendas -------------------------------------------------------------------------------------
def item_block(item: AgendaItem, people: dict[int, Person]) -> dict[str, Any]:
    who = people.get(item.added_by_id)
    by = f" — _added by <@{who.slack_user_id}>_" if who else ""
    return {
        "type": "section",
        "block_id": f"agenda_item_{item.id}",
        "text": {"type": "mrkdwn", "text": clip(f"• {quote(item.text, 500)}{by}", 3000)},
        "accessory": button("Done", "agenda_done", str(item.id)),
    }


def done_item_text(text: str, done_by: str) -> str:
    return clip(f"~{text.removeprefix('• ')}~ :white_check_mark: done (<@{done_by}>)", 3000)


def cadence_text(oneonone: OneOnOne) -> str:
    weeks = oneonone.cadence_weeks
    every = "every week" if weeks == 1 else f"every {weeks} weeks"
    return f"{every} on {WEEKDAYS[oneonone.weekday % 7].title()}"


def agenda_blocks(data: AgendaData, questions: list[str]) -> list[dict[str, Any]]:
    o, pm, sh = data.oneonone, data.pm, data.stakeholder
    people = {pm.id: pm, sh.id: sh}
    last = f"last met {day_text(o.last_meeting)}" if o.last_meeting else "your first 1:1 with the bot's help"
    blocks: list[dict[str, Any]] = [
        section(
            f":handshake: *Peer 1:1 agenda — <@{pm.slack_user_id}> and <@{sh.slack_user_id}>, "
            f"{day_text(o.next_meeting)}*"
        ),
        context(
            f"{cadence_text(o)[0].upper() + cadence_text(o)[1:]} · {last}. Either of you can mark items done or add one."
        ),
    ]

    def more(name: str) -> str:
        n = data.more.get(name, 0)
        return f"\n_…and {n} more._" if n else ""

    if data.logged:
        lines = []
        for line in data.logged:
            state = {"not_yet": "not yet", "open": "open"}.get(line.request.status, line.request.status)
            lines.append(
                f"• *{escape(clip(line.request.title, 150))}* ({escape(line.area.name)}) — logged {line.new}× "
                f"since last time; stands at {standing_text(line)} ({state})"
            )
        blocks.append(
            section(
                f"*What <@{sh.slack_user_id}> logged since last time*\n" + "\n".join(lines) + more("logged")
            )
        )
    else:
        blocks.append(section(f"*What <@{sh.slack_user_id}> logged since last time*\n_Nothing new logged._"))
    if data.shipped:
        lines = []
        for line in data.shipped:
            note = f" — {quote(line.request.shipped_note, 200)}" if line.request.shipped_note else ""
            when = (
                f" on {slack_date(line.request.status_changed_at, tz=data.pm.tz)}"
                if line.request.status_changed_at
                else ""
            )
            lines.append(f"• *{escape(clip(line.request.title, 150))}* shipped{when}{note}")
        blocks.append(
            section(
                f":tada: *Shipped — that you asked for.* Thank you, <@{sh.slack_user_id}>, for raising these:\n"
                + "\n".join(lines)
                + more("shipped")
            )
        )
    if data.not_yet:
        lines = []
        for line in data.not_yet:
            why = (
                quote(line.request.status_reason, 300)
                if line.request.status_reason
                else "_no reason given yet_"
            )
            lines.append(f"• *{escape(clip(line.request.title, 150))}* — {standing_text(line)}. Why: {why}")
        blocks.append(section('*"Not yet", and why*\n' + "\n".join(lines) + more("not_yet")))
    if data.focus_areas:
        focus = "\n".join(
            f"• *{escape(a.name)}*: " + (escape(clip(a.focus, 500)) if a.focus else "_no focus set_")
            for a in data.focus_areas
        )
        blocks.append(section(f"*<@{pm.slack_user_id}>'s current focus and priorities*\n{focus}"))
    shown = 0
    for title, items in (("*Agenda items*", data.items), ("*Carried over from last time*", data.carried)):
        if not items:
            continue
        blocks.append(section(title))
        for item in items:
            if shown >= ITEM_LIMIT:
                break
            blocks.append(item_block(item, people))
            shown += 1
    hidden = len(data.items) + len(data.carried) - shown
    if hidden > 0:
        blocks.append(context(f"…and {hidden} more open items (`/agenda <@{sh.slack_user_id}>` lists them)."))
    if not data.items and not data.carried:
        blocks.append(context("No items added yet. Add one below or with `/agenda @user [item]`."))
    blocks.append(section("*Questions to ask*\n" + "\n".join(f"• {escape(q)}" for q in questions)))
    blocks.append(
        {
            "type": "actions",
            "block_id": f"agenda_actions_{o.id}",
            "elements": [button("Add to agenda", "agenda_add", str(o.id), "primary")],
        }
    )
    return blocks


def agenda_text(data: AgendaData) -> str:
    return (
        f"1:1 agenda for <@{data.pm.slack_user_id}> and <@{data.stakeholder.slack_user_id}>, "
        f"{day_text(data.oneonone.next_meeting)}"
    )


def add_item_modal(*, oneonone_id: int, channel: str, with_whom: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "agenda_add",
        "private_metadata": json.dumps({"o": oneonone_id, "c": channel}),
        "title": {"type": "plain_text", "text": "Add to agenda"},
        "submit": {"type": "plain_text", "text": "Add"},
        "blocks": [
            {
                "type": "input",
                "block_id": "item",
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 2000,
                },
                "label": {
                    "type": "plain_text",
                    "text": clip(f"What should you talk about with {with_whom}?", 150),
                },
            }
        ],
    }
