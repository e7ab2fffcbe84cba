"""The "Looks like an existing request — same thing?" step of the request form. Pure builders."""

from __future__ import annotations

import json
from typing import Any

from handlers.text import clip, escape, plain, quote
from handlers.values import as_id
from storage.money import format_money
from storage.requests import RequestStats

CALLBACK_ID = "request_repeat"
NEW = "new"
STATUS_WORDS = {"open": "", "planned": "planned", "not_yet": "not yet", "shipped": "shipped"}


def stats_line(stats: RequestStats, status: str = "open") -> str:
    parts = [f"heard {stats.count}×"]
    if stats.customer_count:
        parts.append(f"{stats.customer_count} account{'s' if stats.customer_count != 1 else ''}")
    for currency, cents in sorted(stats.money.items()):
        parts.append(format_money(cents, currency))
    if STATUS_WORDS.get(status):
        parts.append(STATUS_WORDS[status])
    return " · ".join(parts)


def repeat_choice_view(
    *,
    draft_id: int,
    text: str,
    suggestions: list[Any],
    stats: dict[int, RequestStats],
    other_areas: dict[int, str] | None = None,
) -> dict[str, Any]:
    """`other_areas`: names of the areas (by id) that are not the one the requester picked."""
    options = []
    lines = []
    for s in suggestions:
        request = s.request
        line = stats_line(stats[request.id], request.status)
        where = (other_areas or {}).get(request.area_id, "")
        lines.append(
            f"• *{escape(clip(request.title, 150))}* — {line}" + (f" · in {escape(where)}" if where else "")
        )
        if where:
            line += f" · in {where}"
        options.append(
            {
                "text": {"type": "plain_text", "text": plain(f"Same as: {request.title}", 75)},
                "description": {"type": "plain_text", "text": plain(line, 75)},
                "value": f"req:{request.id}",
            }
        )
    options.append({"text": {"type": "plain_text", "text": "It's new — none of these"}, "value": NEW})
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "notify_on_close": True,
        "private_metadata": json.dumps({"draft": draft_id}),
        "title": {"type": "plain_text", "text": "Same thing?"},
        "submit": {"type": "plain_text", "text": "Log it"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": clip(
                        f"You wrote: {quote(text, 400)}\n\nLooks like it may already be here:\n"
                        + "\n".join(lines),
                        3000,
                    ),
                },
            },
            {
                "type": "input",
                "block_id": "choice",
                "optional": False,
                "label": {"type": "plain_text", "text": "Is it the same thing?"},
                "element": {"type": "radio_buttons", "action_id": "value", "options": options},
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "Counting it with the same request is what makes it reach the PM sooner; "
                        "your customer and answers are kept either way.",
                    }
                ],
            },
        ],
    }


def read_choice(view: dict[str, Any]) -> int | str | None:
    """The request id chosen, NEW, or None when nothing was picked."""
    values = (view.get("state") or {}).get("values") or {}
    option = ((values.get("choice") or {}).get("value") or {}).get("selected_option") or {}
    value = option.get("value") or ""
    if value == NEW:
        return NEW
    if value.startswith("req:") and as_id(value[4:]) is not None:
        return as_id(value[4:])
    return None


def read_shown(view: dict[str, Any]) -> list[int]:
    """The request ids the step offered (its radio options), at most ten; untrusted like any value of a
    submitted view, so the caller keeps only requests of the submitter's workspace."""
    shown: list[int] = []
    for block in view.get("blocks") or []:
        if not isinstance(block, dict) or block.get("block_id") != "choice":
            continue
        for option in (block.get("element") or {}).get("options") or []:
            value = option.get("value") if isinstance(option, dict) else None
            if isinstance(value, str) and value.startswith("req:") and as_id(value[4:]) is not None:
                shown.append(as_id(value[4:]))
    return list(dict.fromkeys(shown))[:10]
