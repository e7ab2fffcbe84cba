"""Block Kit for the bot's messages: confirmations, follow-up questions, help. Pure functions."""

from __future__ import annotations

import json
from typing import Any

from handlers.text import clip, escape, quote, safe_link
from integrations.base import LABELS, STATE_WORDS
from storage.models import FeatureRequest, IssueLink, Occurrence, ProductArea
from storage.money import format_money
from storage.requests import FREQUENCIES, IMPACTS

QUESTION_LABELS = {
    "customer": "Which customer / account is this for?",
    "amount": "How much money is involved (deal size or annual account value)?",
    "frequency": "How often does this happen?",
    "root_problem": "What is the root problem behind it?",
    "impacts": "How does it impact customers?",
    "focus_tie": "How does it tie to the current focus?",
}

HELP_TEXT = """*Partnerbot* keeps customer requests where they happen and tells you honestly where they stand.

*Everyone*
• `/request [what the customer needs]` — log a request (a short form asks the follow-up questions; skip any, I'll ask later)
• Message menu ⋯ → *Log as request* — log any Slack message as a request, keeping a link to it
• `/requests mine` — your requests and where each stands
• `/focus` — what each product area is focused on right now
• `/request help`, `/partnerbot help` — this help

*PMs*
• `/focus [area]: [focus]` — set an area's current focus
• `/focus rename [old]: [new]`, `/focus retire [area] [into other area]` — fix or close an area (its PM or an admin)
• `/threshold` — show thresholds; `/threshold [area] [N] in [D] days`, `/threshold [area] over $[amount]`
• `/requests [area]` — an area's requests with count, customers and money; act on them
• `/digest` — your threshold digest schedule; `/oneonone @user every 6 weeks on Tuesday`, `/agenda @user [item]`

*Admins*
• `/partnerbot pm add @user [area]`, `/partnerbot pm remove @user`, `/partnerbot pm list`
• `/partnerbot admin add @user`
• `/partnerbot connect github|linear|jira|hubspot|salesforce`, `/partnerbot disconnect <kind>`, `/partnerbot connections`"""


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}
    if block_id:
        block["block_id"] = block_id
    return block


def reset_button(request_id: int) -> dict[str, Any]:
    """Threshold alerts and digests: the PM has gone over it, alert again next time it crosses."""
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": "Reset threshold"},
        "action_id": "req_reset_threshold",
        "value": str(request_id),
    }


def pack(lines: list[str], *, limit: int = 2900) -> list[list[str]]:
    """Lines grouped so each group fits one section (Slack: 3,000 characters), never splitting a line."""
    groups: list[list[str]] = []
    size = limit + 1
    for line in lines:
        if size + 1 + len(line) > limit:
            groups.append([])
            size = -1
        groups[-1].append(line)
        size += 1 + len(line)
    return groups


def sections(lines: list[str], *, most: int = 40) -> list[dict[str, Any]]:
    """Lines in as few section blocks as fit (a single over-long line is clipped), at most `most` blocks."""
    return [section("\n".join(group)) for group in pack(lines)[:most]]


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, 3000)}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, 75)},
        "action_id": action_id,
        "value": clip(value, 2000),
    }
    if style:
        b["style"] = style
    return b


def help_blocks() -> list[dict[str, Any]]:
    return [section(HELP_TEXT)]


def impacts_text(codes: str) -> str:
    return ", ".join(IMPACTS.get(c, c) for c in codes.split(",") if c)


def occurrence_facts(occ: Occurrence) -> list[str]:
    """The answers given, one line each, for confirmations and alerts."""
    facts = []
    if occ.customer:
        money = f" ({format_money(occ.amount_cents, occ.currency)})" if occ.amount_cents is not None else ""
        facts.append(f"*Customer:* {escape(clip(occ.customer, 200))}{money}")
    elif occ.amount_cents is not None:
        facts.append(f"*Money:* {format_money(occ.amount_cents, occ.currency)}")
    if occ.frequency:
        detail = f" — {quote(occ.frequency_detail, 200)}" if occ.frequency_detail else ""
        facts.append(f"*How often:* {FREQUENCIES.get(occ.frequency, occ.frequency)}{detail}")
    if occ.root_problem:
        facts.append(f"*Root problem:* {quote(occ.root_problem, 400)}")
    if occ.impacts or occ.impact_detail:
        detail = f" — {quote(occ.impact_detail, 200)}" if occ.impact_detail else ""
        facts.append(f"*Impact:* {impacts_text(occ.impacts)}{detail}")
    if occ.focus_tie:
        facts.append(f"*Tie to focus:* {quote(occ.focus_tie, 400)}")
    return facts


def confirmation_blocks(
    *,
    request: FeatureRequest,
    occurrence: Occurrence,
    area: ProductArea,
    missing: list[str],
    status_lines: list[str] | None = None,
) -> list[dict[str, Any]]:
    blocks = [section(f":white_check_mark: Logged for *{escape(area.name)}*: *{escape(request.title)}*")]
    if occurrence.text and occurrence.text != request.title:
        blocks.append(section(f"> {quote(occurrence.text, 1200)}".replace("\n", "\n> ")))
    facts = occurrence_facts(occurrence)
    if facts:
        blocks.append(section("\n".join(facts)))
    if occurrence.permalink:
        blocks.append(context(f"From <{occurrence.permalink}|the original message>"))
    for line in status_lines or []:
        blocks.append(section(line))
    if missing:
        names = ", ".join(QUESTION_LABELS[m].rstrip("?").lower() for m in missing)
        blocks.append(
            context(f"You skipped {len(missing)} question(s) ({names}). I'll ask again later in a DM.")
        )
    return blocks


def _impact_buttons(occurrence_id: int, leave_out: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": f"fu_impacts_{occurrence_id}",
        "elements": [
            button(label, f"followup_impact_{code}", json.dumps({"o": occurrence_id, "v": code}))
            for code, label in IMPACTS.items()
            if code not in (leave_out or [])
        ],
    }


def followup_blocks(
    *,
    request: FeatureRequest,
    occurrence: Occurrence,
    missing: list[str],
    show_answers: bool = False,
    focus: str = "",
) -> list[dict[str, Any]]:
    """The DM that asks skipped questions again: one-click buttons, or an answer box. `focus` is the
    area's current focus, shown with the question about it."""
    who = f" for *{escape(occurrence.customer)}*" if occurrence.customer else ""
    blocks: list[dict[str, Any]] = [
        section(
            f"A few questions about the request you logged{who}: *{escape(request.title)}*. "
            "Answers help the PM weigh it; each is one click or one line."
        )
    ]
    oid = str(occurrence.id)
    for name in missing:
        if name == "frequency":
            blocks.append(section(f"*{QUESTION_LABELS[name]}*"))
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"fu_frequency_{oid}",
                    "elements": [
                        button(
                            label, f"followup_frequency_{code}", json.dumps({"o": occurrence.id, "v": code})
                        )
                        for code, label in FREQUENCIES.items()
                    ],
                }
            )
        elif name == "impacts":
            blocks.append(section(f"*{QUESTION_LABELS[name]}* (click all that apply)"))
            blocks.append(_impact_buttons(occurrence.id))
        else:
            question = f"*{QUESTION_LABELS[name]}*"
            if name == "focus_tie" and focus:
                question += f"\nThe current focus: _{escape(clip(focus, 600))}_"
            blocks.append(
                {
                    "type": "section",
                    "block_id": f"fu_{name}_{oid}",
                    "text": {"type": "mrkdwn", "text": question},
                    "accessory": button(
                        "Answer", f"followup_answer_{name}", json.dumps({"o": occurrence.id, "f": name})
                    ),
                }
            )
    chosen = [code for code in (occurrence.impacts or "").split(",") if code]
    if show_answers and chosen and "impacts" not in missing and len(chosen) < len(IMPACTS):
        # "Click all that apply": after the first click the other impacts stay one click away.
        blocks.append(section("*Any other impact?*"))
        blocks.append(_impact_buttons(occurrence.id, leave_out=chosen))
    facts = occurrence_facts(occurrence) if show_answers else []
    if facts:
        blocks.append(context("*Your answers so far*\n" + "\n".join(facts)))
    if not missing:
        blocks.append(section(":white_check_mark: That's everything — thank you! The PM sees your answers."))
    return blocks


def followup_answer_modal(*, occurrence_id: int, field: str, message: dict[str, str]) -> dict[str, Any]:
    """A one-question form opened from the follow-up DM's *Answer* button."""
    hint = {"amount": "e.g. $40k, 40,000, 1.2M, €5k"}.get(field, "")
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "max_length": 3000,
        "multiline": field in ("root_problem", "focus_tie"),
    }
    if hint:
        element["placeholder"] = {"type": "plain_text", "text": hint}
    return {
        "type": "modal",
        "callback_id": "followup_answer",
        "private_metadata": json.dumps({"o": occurrence_id, "f": field, **message}),
        "title": {"type": "plain_text", "text": "One more answer"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "answer",
                "element": element,
                "label": {"type": "plain_text", "text": QUESTION_LABELS[field]},
            }
        ],
    }


# PM actions on a request. Handlers for these action ids live in handlers/actions/decisions.py.
REQUEST_ACTIONS = (
    ("req_planned", "Planned", None),
    ("req_not_yet", "Not yet…", None),
    ("req_shipped", "Shipped…", "primary"),
    ("req_merge", "Merge into…", None),
    ("req_split", "Split off…", None),
    ("req_reopen", "Reopen", None),
    # Handled in handlers/issues.py: a form for the tracker issue the request is tracked in.
    ("req_link_issue", "Link issue…", None),
)


def request_action_buttons(request_id: int, status: str = "open") -> dict[str, Any]:
    """The buttons a PM acts with, wherever a request is shown to them (alert, digest, /requests)."""
    elements = []
    for action_id, label, style in REQUEST_ACTIONS:
        if action_id == "req_reopen" and status == "open":
            continue
        if action_id == "req_link_issue" and status in ("shipped", "merged"):
            continue
        if action_id != "req_reopen" and status in ("shipped", "merged"):
            continue
        elements.append(button(label, action_id, str(request_id), style))
    return {"type": "actions", "block_id": f"req_actions_{request_id}", "elements": elements}


# -- a request's linked issues ---------------------------------------------------------------------
ISSUES_SHOWN = 3  # a request's linked issues shown beside it in a list


def issue_ref_text(link: IssueLink) -> str:
    label = LABELS.get(link.kind, link.kind)
    if not link.url.startswith("http"):
        return label
    return f"{label} <{safe_link(link.url)}|{escape(link.issue_key)}>"


def link_status_text(link: IssueLink) -> str:
    """ "GitHub acme/app#12 — in progress (open, in progress)" for `/requests`, the digest, Home and forms."""
    title = f" “{escape(clip(link.title, 120))}”" if link.title else ""
    if not link.state:
        return f"{issue_ref_text(link)}{title} — status not known yet"
    words = STATE_WORDS.get(link.state, link.state)
    own = f" ({escape(clip(link.state_label, 60))})" if link.state_label and link.state_label != words else ""
    return f"{issue_ref_text(link)}{title} — *{words}*{own}"


def issue_lines(links: list[IssueLink], most: int = ISSUES_SHOWN) -> str:
    """Each linked issue's status on its own line after a request's line ("" when none is linked)."""
    return "".join(f"\n_Issue:_ {link_status_text(link)}" for link in links[:most])
