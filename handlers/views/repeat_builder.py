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
# The typeahead under the suggestions: any open, planned or not-yet request of the workspace, by the words of
# its title or of a phrasing confirmed as it (handlers/views/suggestions.py answers it, storage/search.py).
SEARCH_BLOCK = "search"
SEARCH_ACTION = "repeat_search"
# The search's pick wins over the radio buttons: it is the more deliberate answer, and Slack has no way to
# untick a radio button, so refusing the pair would leave the requester stuck.
FORGED = "forged"
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
                # Optional so that a request found with the search alone can be submitted; the submission
                # asks for one or the other.
                "optional": True,
                "label": {"type": "plain_text", "text": "Is it the same thing?"},
                "element": {"type": "radio_buttons", "action_id": "value", "options": options},
            },
            {
                "type": "input",
                "block_id": SEARCH_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Not listed? Search all requests"},
                "hint": {
                    "type": "plain_text",
                    "text": "Any words of its title or of how others described it. A request picked "
                    "here is the one it is counted with, whatever is ticked above.",
                },
                "element": {
                    "type": "external_select",
                    "action_id": SEARCH_ACTION,
                    "min_query_length": 2,
                    "placeholder": {"type": "plain_text", "text": "e.g. okta, csv export, rbac…"},
                },
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


def read_search(view: dict[str, Any]) -> int | str | None:
    """The request id picked in the search, None when nothing was, FORGED when the value is not one the
    bot offers (its workspace, status and existence are checked by the submission)."""
    values = (view.get("state") or {}).get("values") or {}
    option = ((values.get(SEARCH_BLOCK) or {}).get(SEARCH_ACTION) or {}).get("selected_option")
    if not option:
        return None
    picked = request_of_option(option)
    return FORGED if picked is None else picked


def request_of_option(option: Any) -> int | None:
    """The request id of a search option the bot wrote (`search_option`), None for any other shape."""
    value = option.get("value") if isinstance(option, dict) else None
    if isinstance(value, str) and value.startswith("req:"):
        return as_id(value[4:])
    return None


def search_option(request_id: int, title: str, count: int, status: str) -> dict[str, Any]:
    """One option of the search: "#12 · heard 3× · planned — title" (Slack shows 75 characters)."""
    words = [f"#{request_id}", f"heard {count}×"]
    if STATUS_WORDS.get(status):
        words.append(STATUS_WORDS[status])
    return {
        "text": {"type": "plain_text", "text": plain(" · ".join(words) + f" — {title}", 75)},
        "value": f"req:{request_id}",
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
