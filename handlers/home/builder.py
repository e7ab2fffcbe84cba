"""Block Kit for the App Home tab, one part per role (PM, admin, stakeholder), the "how I work" card, the
partnership figures and the Messages tab's answer. Pure functions of storage.home data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from handlers.blocks import button, context, issue_lines, request_action_buttons, section, sections
from handlers.dates import slack_date
from handlers.digest_builder import cadence_text, day_text
from handlers.standing import heard_text, rule_text
from handlers.text import clip, escape, quote, safe_link
from storage import decisions
from storage.customers import NearDuplicate
from storage.home import AdminHome, Meeting, PmHome, StakeholderHome
from storage.models import IssueLink, Outbox, Person, ProductArea
from storage.partnership import Partnership

HOME_BLOCKS = 100  # Slack's limit for a Home tab view
LOG_REQUEST = "home_log_request"
EDIT_FOCUS = "home_edit_focus"
EDIT_RULES = "home_edit_rules"
MERGE_CUSTOMERS = "customer_merge"
SUGGEST_RULES = "rules_suggest"


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, 150), "emoji": True}}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


# -- shared pieces ---------------------------------------------------------------------------------
def how_i_work_card(area: ProductArea, pm: Person | None, *, cadence: str = "") -> list[dict[str, Any]]:
    """An area's PM, focus and rules in a few lines: what a requester should know before asking."""
    who = f"<@{pm.slack_user_id}>" if pm else "_no PM yet_"
    focus = (
        f"*Focus:* {escape(clip(area.focus, 500))}"
        + (f" _(since {slack_date(area.focus_set_at)})_" if area.focus_set_at else "")
        if area.focus
        else "*Focus:* _not set yet_"
    )
    lines = [
        f"*How {escape(area.name)} works* — PM: {who}",
        focus,
        f"*When a request reaches the PM:* heard {rule_text(area)}.",
        "*Below that it's “not yet”, not “no”:* every occurrence stays counted, and you hear why.",
    ]
    if cadence:
        lines.append(f"*1:1s:* {cadence}")
    return [
        section("\n".join(lines)),
        {
            "type": "actions",
            "block_id": f"how_{area.id}",
            "elements": [button("Suggest a change to these rules", SUGGEST_RULES, str(area.id))],
        },
    ]


def duration_text(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return "under an hour"
    if hours < 48:
        return plural(round(hours), "hour")
    return plural(round(hours / 24), "day")


def partnership_line(p: Partnership) -> str:
    """ "@sam — 5 logged · 80% of follow-ups answered · 2 reached the rule · 1 shipped · decided in 2 days ·
    last 1:1 Nov 3" """
    share = f"{round(100 * p.answered_share)}% of follow-ups answered" if p.answered_share is not None else ""
    parts = [
        f"{p.logged} logged",
        share,
        f"{len(p.reached)} reached the rule",
        f"{len(p.shipped)} shipped",
    ]
    if p.median_decision is not None:
        parts.append(f"decided in {duration_text(p.median_decision)} (median)")
    parts.append(f"last 1:1 {day_text(p.last_oneonone)}" if p.last_oneonone else "no 1:1 yet")
    return f"<@{p.stakeholder.slack_user_id}> — " + " · ".join(x for x in parts if x)


def since_last_oneonone_blocks(
    p: Partnership | None, *, oneonone_id: int, suggestion: tuple[int, int, int] | None
) -> list[dict[str, Any]]:
    """The top of a 1:1 agenda: the figures since the last meeting, and a cadence suggestion when the
    stakeholder's activity rose or fell a lot (latest, before, suggested weeks)."""
    if p is None:
        return []
    share = (
        f", answered {round(100 * p.answered_share)}% of the follow-ups"
        if p.answered_share is not None
        else ""
    )
    text = (
        f":bar_chart: *Since your last 1:1:* <@{p.stakeholder.slack_user_id}> logged {plural(p.logged, 'request')}"
        f"{share}; {len(p.reached)} reached the rule and {len(p.shipped)} shipped."
    )
    if p.median_decision is not None:
        text += f" Median time from crossing to a decision: {duration_text(p.median_decision)}."
    blocks: list[dict[str, Any]] = [section(text)]
    if suggestion is not None:
        latest, before, weeks = suggestion
        more = latest > before
        blocks.append(
            section(
                f"Activity {'rose' if more else 'fell'} from {before} to {latest} logged per period — "
                f"meet {'more' if more else 'less'} often?"
            )
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": f"cadence_{oneonone_id}",
                "elements": [
                    button(
                        f"Meet every {plural(weeks, 'week')}",
                        "oneonone_cadence",
                        json.dumps({"o": oneonone_id, "w": weeks}),
                        "primary",
                    )
                ],
            }
        )
    return blocks


def _meeting_blocks(m: Meeting, *, with_whom: str) -> list[dict[str, Any]]:
    items = "\n".join(f"• {quote(i.text, 200)}" for i in m.items[:5]) or "_Nothing on the agenda yet._"
    more = f"\n_…and {len(m.items) - 5} more._" if len(m.items) > 5 else ""
    return [
        section(
            f"*Next 1:1 with {with_whom}:* {day_text(m.oneonone.next_meeting)} ({cadence_text(m.oneonone)})\n"
            f"{items}{more}",
        ),
        {
            "type": "actions",
            "block_id": f"home_agenda_{m.oneonone.id}",
            "elements": [button("Add an agenda item", "agenda_add", str(m.oneonone.id))],
        },
    ]


def _duplicate_blocks(duplicates: list[NearDuplicate]) -> list[dict[str, Any]]:
    if not duplicates:
        return []
    blocks = [section("*Customers that look like one* — merge so they count once (and their money once):")]
    for d in duplicates:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": clip(
                        f"“{escape(d.fold)}” ({plural(d.fold_count, 'time')}) and “{escape(d.keep)}” "
                        f"({plural(d.keep_count, 'time')})",
                        3000,
                    ),
                },
                "accessory": button(
                    f"Merge into {d.keep}", MERGE_CUSTOMERS, json.dumps({"k": d.keep, "f": d.fold})
                ),
            }
        )
    return blocks


# -- the three parts -------------------------------------------------------------------------------
def _last_news(x: decisions.Listed) -> str:
    r = x.request
    if r.status == "not_yet":
        why = f": {quote(r.status_reason, 200)}" if r.status_reason else ""
        return f"*not yet*{why}"
    if r.status == "planned":
        return "*planned*" + (f" ({slack_date(r.status_changed_at)})" if r.status_changed_at else "")
    if r.status == "shipped":
        link = f" — <{safe_link(r.shipped_link)}|what shipped>" if r.shipped_link else ""
        when = f" {slack_date(r.status_changed_at)}" if r.status_changed_at else ""
        return f":tada: *shipped*{when}{link}"
    if r.status == "merged":
        return f"merged into #{r.merged_into_id}"
    return "*open* — no decision yet"


def stakeholder_blocks(
    home: StakeholderHome, me: Person, links: dict[int, list[IssueLink]] | None = None
) -> list[dict[str, Any]]:
    links = links or {}
    blocks: list[dict[str, Any]] = [
        header("Your requests"),
        {
            "type": "actions",
            "block_id": "home_log",
            "elements": [button("Log a request", LOG_REQUEST, "log", "primary")],
        },
    ]
    if home.requests:
        lines = []
        for mine in home.requests:
            x = mine.listed
            area = x.area
            rule = (
                f"{mine.window_count} of {area.threshold_count} in {area.threshold_days} days"
                if area is not None
                else ""
            )
            where = f" ({escape(area.name)})" if area is not None else ""
            lines.append(
                f"• *#{x.request.id} {escape(clip(x.request.title, 150))}*{where} — {_last_news(x)}\n"
                f"    {heard_text(x.stats.count, x.stats)}"
                + (f" · {rule} toward the rule" if rule else "")
                + issue_lines(links.get(x.request.id, [])).replace("\n", "\n    ")
            )
        blocks += sections(lines, most=4)
        if home.more:
            blocks.append(context(f"…and {home.more} older ones: `/requests mine` lists them all."))
    else:
        blocks.append(
            section("You haven't logged a request yet. Log one here, with `/request`, or from any message.")
        )
    for area in home.areas:
        blocks += how_i_work_card(area, home.pms.get(area.pm_id))
    for m in home.meetings:
        blocks += _meeting_blocks(m, with_whom=f"<@{m.other.slack_user_id}>")
    return blocks


def _waiting_line(w, *, since: str = "", links: list[IssueLink] | None = None) -> str:
    return (
        f"*#{w.request.id} {escape(clip(w.request.title, 150))}* ({escape(w.area.name)}) — "
        f"{w.window_count} of {w.area.threshold_count} in {w.area.threshold_days} days · "
        f"{heard_text(w.stats.count, w.stats)}{since}{issue_lines(links or [])}"
    )


def pm_blocks(
    home: PmHome,
    me: Person,
    charts: dict[int, str] | None = None,
    links: dict[int, list[IssueLink]] | None = None,
) -> list[dict[str, Any]]:
    charts, links = charts or {}, links or {}
    blocks: list[dict[str, Any]] = [header("Your product areas")]
    if not home.areas:
        blocks.append(section("You own no area yet. Create one with `/focus [area]: [focus]`."))
    for area in home.areas[:5]:
        focus = escape(clip(area.focus, 400)) if area.focus else "_no focus set_"
        blocks.append(section(f"*{escape(area.name)}* — focus: {focus}\nRule: {rule_text(area)}"))
        blocks.append(
            {
                "type": "actions",
                "block_id": f"home_area_{area.id}",
                "elements": [
                    button("Edit focus", EDIT_FOCUS, str(area.id)),
                    button("Edit rules", EDIT_RULES, str(area.id)),
                ],
            }
        )
        if area.id in charts:
            blocks.append(
                {
                    "type": "image",
                    "slack_file": {"id": charts[area.id]},
                    "alt_text": f"{area.name}: occurrences per week over the last quarter, and the top requests",
                }
            )
    if len(home.areas) > 5:
        blocks.append(context(f"…and {len(home.areas) - 5} more areas (`/threshold` lists them)."))
    blocks.append(header("Waiting for your decision"))
    if not home.waiting:
        blocks.append(context("Nothing has crossed a rule without a decision. :white_check_mark:"))
    for w in home.waiting:
        since = f" · crossed {slack_date(w.crossed_at)}" if w.crossed_at else ""
        blocks.append(section(_waiting_line(w, since=since, links=links.get(w.request.id))))
        blocks.append(request_action_buttons(w.request.id, w.request.status))
    if home.waiting_more:
        blocks.append(context(f"…and {home.waiting_more} more (oldest first above); `/requests` lists them."))
    if home.close:
        blocks.append(section("*Close to the rule*"))
        for w in home.close:
            blocks.append(section(_waiting_line(w, links=links.get(w.request.id))))
            blocks.append(request_action_buttons(w.request.id, w.request.status))
    blocks.append(header("Your stakeholders"))
    if home.partners:
        blocks += sections([f"• {partnership_line(p)}" for p in home.partners], most=3)
    else:
        blocks.append(context("Nobody has logged a request in your areas yet."))
    for m in home.meetings:
        blocks.append(
            section(
                f"*1:1 with <@{m.other.slack_user_id}>:* {day_text(m.oneonone.next_meeting)} "
                f"({cadence_text(m.oneonone)}) · {plural(len(m.items), 'agenda item')}"
            )
        )
    blocks += _duplicate_blocks(home.duplicates)
    return blocks


def _problem_line(row: Outbox) -> str:
    what = row.report_label or f"a {row.kind or 'message'}"
    who = f" (<@{row.fallback_user_id}>)" if row.fallback_user_id and "<@" not in what else ""
    error = f": `{escape(clip(row.last_error, 80))}`" if row.last_error else ""
    return f"• {what}{who}{error}"


def admin_blocks(home: AdminHome, me: Person, *, show_duplicates: bool) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [header("Admin: PMs and areas")]
    lines = [
        f"• <@{pm.slack_user_id}> — " + (", ".join(f"*{escape(a.name)}*" for a in areas) or "_no area_")
        for pm, areas in home.pms
    ]
    blocks += sections(lines or ["_No PMs yet: `/partnerbot pm add @user [area]`._"], most=3)
    if home.unowned:
        blocks.append(
            section(
                "*Areas without an owner* (alerts go to every PM): "
                + ", ".join(f"*{escape(a.name)}*" for a in home.unowned[:20])
                + "\nHand one over with `/partnerbot pm add @user [area]`."
            )
        )
    if home.problems:
        blocks += sections(
            ["*Delivery problems* — people I could not reach:"] + [_problem_line(r) for r in home.problems],
            most=2,
        )
    else:
        blocks.append(context("No delivery problems: everyone was reached."))
    if show_duplicates:
        blocks += _duplicate_blocks(home.duplicates)
    return blocks


def home_view(
    *,
    me: Person,
    stakeholder: StakeholderHome,
    pm: PmHome | None,
    admin: AdminHome | None,
    charts: dict[int, str] | None = None,
    links: dict[int, list[IssueLink]] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Home tab: the PM part first for PMs, then the admin part, then the person's own requests."""
    blocks: list[dict[str, Any]] = []
    if pm is not None:
        blocks += pm_blocks(pm, me, charts, links)
        blocks.append(divider())
    if admin is not None:
        blocks += admin_blocks(admin, me, show_duplicates=pm is None)
        blocks.append(divider())
    blocks += stakeholder_blocks(stakeholder, me, links)
    if len(blocks) > HOME_BLOCKS:
        blocks = blocks[: HOME_BLOCKS - 1] + [
            context("…more than one Home tab holds: `/requests` has the rest.")
        ]
    return {"type": "home", "callback_id": "home", "blocks": blocks}


def messages_tab_blocks(text: str, value: str) -> list[dict[str, Any]]:
    """The answer to a DM: what the bot can do, and the offer to log the message as a request."""
    preview = f"> {quote(text, 400)}" if text else ""
    return [
        section(
            "Hi! I keep customer requests and tell you where they stand. Log a request with `/request`, "
            "see yours with `/requests mine`, and open my *Home* tab for everything at a glance. "
            "`/partnerbot help` lists every command."
        ),
        section(
            f"Is this a customer request? I can log it for you:\n{preview}" if preview else "Log a request?"
        ),
        {
            "type": "actions",
            "block_id": "dm_log",
            "elements": [button("Log this as a request", "dm_log_request", value, "primary")],
        },
    ]
