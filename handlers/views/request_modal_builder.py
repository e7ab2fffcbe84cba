"""Block Kit for the "Log a customer request" form and reading its answers back. Pure functions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from handlers.text import clip, escape, plain
from handlers.values import DraftRef, as_id, read
from integrations.crm import Account, BadOption, option_value, parse_option
from storage.models import ProductArea
from storage.requests import FREQUENCIES, IMPACTS

CALLBACK_ID = "request_modal"
INPUT_LIMIT = 3000  # Slack's limit for a plain_text_input
CUSTOMER_LIMIT = 255  # what Occurrence.customer keeps
CUSTOMER_ACTION = "customer_pick"  # the typeahead's options come from handlers/views/suggestions.py
CUSTOMER_OPTION_LIMIT = 150  # Slack's limit for an option's value
# The value of the one option offered for a typed name longer than that: never a name, so the form can
# refuse it on submit instead of storing a name cut short without a word.
CUSTOMER_TOO_LONG = "::too-long::"
# What a `crm:` option value that is not in the shape the bot writes reads as: refused on submit.
CRM_FORGED = "::bad-crm-pick::"
AREA_ACTION = "area_pick"  # the area typeahead, when there are more areas than a menu lists
STATIC_OPTIONS = 100  # Slack's limit for a static select's options


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": plain(text, 75)}, "value": value}


def _with_initial(element: dict[str, Any], chosen: str | list[str] | None) -> dict[str, Any]:
    """Radio buttons or checkboxes with what was picked before already picked."""
    if isinstance(chosen, list):
        picked = [o for o in element["options"] if o["value"] in chosen]
        if picked:
            element["initial_options"] = picked
    elif chosen:
        picked = [o for o in element["options"] if o["value"] == chosen]
        if picked:
            element["initial_option"] = picked[0]
    return element


def answers_as_values(answers: Answers) -> dict[str, Any]:
    """An Answers as `request_modal(values=...)` takes it."""
    return {
        # A CRM pick comes back as the same pick (checked with the CRM again on submit).
        "customer": f"crm:{answers.crm_ref}:{answers.customer}"[:CUSTOMER_OPTION_LIMIT]
        if answers.crm_ref
        else answers.customer,
        "amount": answers.amount_text,
        "frequency": answers.frequency,
        "frequency_detail": answers.frequency_detail,
        "root_problem": answers.root_problem,
        "impacts": list(answers.impacts),
        "impact_detail": answers.impact_detail,
        "focus_tie": answers.focus_tie,
    }


def _text_input(
    block_id: str,
    label: str,
    *,
    initial: str = "",
    multiline: bool = False,
    optional: bool = True,
    placeholder: str = "",
    hint: str = "",
    max_length: int = INPUT_LIMIT,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = clip(initial, max_length)
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": plain(placeholder, 150)}
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "element": element,
        "label": {"type": "plain_text", "text": plain(label, 2000)},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": plain(hint, 2000)}
    return block


def customer_option(name: str, *, new: bool = False) -> dict[str, Any]:
    """One choice of the customer typeahead: its value is the name itself (Slack keeps 150 characters).
    A new name longer than that is offered as what it is, too long, rather than cut short."""
    if new and len(name) > CUSTOMER_OPTION_LIMIT:
        return _option(
            CUSTOMER_TOO_LONG, f"Too long ({len(name)} characters): keep it under {CUSTOMER_OPTION_LIMIT}"
        )
    label = f"New customer: {name}" if new else name
    return _option(clip(name, CUSTOMER_OPTION_LIMIT), label)


def crm_option(account: Account) -> dict[str, Any]:
    """A CRM account in the customer typeahead: labelled with its value and owner; its value names the
    account (`crm:hubspot:123:Acme`), checked again with the CRM on submit."""
    return _option(option_value(account), account.label())


def customer_input(initial: str = "") -> dict[str, Any]:
    """The customer field: a typeahead over the workspace's known customers (and "New customer: …"), so
    one customer is picked under one name instead of typed a new way each time."""
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": CUSTOMER_ACTION,
        "min_query_length": 1,
        "placeholder": {"type": "plain_text", "text": "Start typing, e.g. Acme"},
    }
    if initial:
        try:
            picked = parse_option(initial)
        except BadOption:
            picked = None
        element["initial_option"] = _option(initial, picked.name) if picked else customer_option(initial)
    return {
        "type": "input",
        "block_id": "customer",
        "optional": True,
        "element": element,
        "label": {"type": "plain_text", "text": "Customer / account"},
        "hint": {"type": "plain_text", "text": "Pick a known customer, or the last choice for a new one."},
    }


def focus_line(areas: list[ProductArea]) -> str:
    with_focus = [a for a in areas if a.focus]
    if not with_focus:
        return "_No current focus has been set yet. A PM sets it with `/focus [area]: [focus]`._"
    if len(areas) == 1:
        return f"*Current focus:* {escape(clip(areas[0].focus, 1500))}"
    lines = [f"*{escape(a.name)}:* {escape(clip(a.focus, 400))}" for a in with_focus]
    return clip("*Current focus by area*\n" + "\n".join(lines), 2900)


def request_modal(
    *,
    text: str,
    draft_id: int,
    areas: list[ProductArea],
    default_area_id: int | None = None,
    full_length: int | None = None,
    permalink: str = "",
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The form. `values` re-fills answers by block id (e.g. when reopening a closed form from the DM):
    text fields take strings, `frequency` a code, `impacts` a list of codes."""
    values = values or {}
    blocks: list[dict[str, Any]] = []
    if permalink:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"From <{permalink}|this message>"}]}
        )
    blocks.append(
        _text_input(
            "request",
            "What does the customer need?",
            initial=text,
            multiline=True,
            optional=False,
            placeholder="e.g. Export the weekly report to CSV",
        )
    )
    if full_length and full_length > INPUT_LIMIT:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"The original text is {full_length:,} characters; all of it is kept with the request. "
                        f"The field above shows the first {INPUT_LIMIT:,}.",
                    }
                ],
            }
        )
    if len(areas) > 1:
        options = [_option(str(a.id), a.name) for a in areas]
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": "value",
            "options": options,
            "placeholder": {"type": "plain_text", "text": "Pick the product area"},
        }
        if len(options) > STATIC_OPTIONS:
            # Slack lists at most 100 options: beyond that the area is found by typing its name.
            element = {
                "type": "external_select",
                "action_id": AREA_ACTION,
                "min_query_length": 0,
                "placeholder": {"type": "plain_text", "text": "Type the product area"},
            }
        initial = next((o for o in options if o["value"] == str(default_area_id)), None)
        if initial:
            element["initial_option"] = initial
        blocks.append(
            {
                "type": "input",
                "block_id": "area",
                "optional": False,
                "element": element,
                "label": {"type": "plain_text", "text": "Product area"},
            }
        )
    blocks.append(customer_input(values.get("customer", "")))
    blocks.append(
        _text_input(
            "amount",
            "Money involved (deal size or annual account value)",
            initial=values.get("amount", ""),
            placeholder="e.g. $40k, 40,000, 1.2M, €5k",
            hint="Leave empty if you don't know; I'll ask again later.",
        )
    )
    blocks.append(
        {
            "type": "input",
            "block_id": "frequency",
            "optional": True,
            "label": {"type": "plain_text", "text": "How often does this happen?"},
            "element": _with_initial(
                {
                    "type": "radio_buttons",
                    "action_id": "value",
                    "options": [_option(k, v) for k, v in FREQUENCIES.items()],
                },
                values.get("frequency"),
            ),
        }
    )
    blocks.append(
        _text_input(
            "frequency_detail",
            "Anything more on how often?",
            initial=values.get("frequency_detail", ""),
            placeholder="e.g. every month-end close",
        )
    )
    blocks.append(
        _text_input(
            "root_problem",
            "What is the root problem behind it?",
            initial=values.get("root_problem", ""),
            multiline=True,
            placeholder="What are they really trying to get done?",
        )
    )
    blocks.append(
        {
            "type": "input",
            "block_id": "impacts",
            "optional": True,
            "label": {"type": "plain_text", "text": "How does it impact customers?"},
            "element": _with_initial(
                {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [_option(k, v) for k, v in IMPACTS.items()],
                },
                values.get("impacts"),
            ),
        }
    )
    blocks.append(
        _text_input(
            "impact_detail",
            "More on the impact",
            initial=values.get("impact_detail", ""),
            placeholder="e.g. renewal in March at risk",
        )
    )
    blocks.append(
        {
            "type": "section",
            "block_id": "focus_context",
            "text": {"type": "mrkdwn", "text": focus_line(areas)},
        }
    )
    blocks.append(
        _text_input(
            "focus_tie",
            "How does it tie to the current focus?",
            initial=values.get("focus_tie", ""),
            multiline=True,
        )
    )
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "notify_on_close": True,
        "private_metadata": json.dumps({"draft": draft_id}),
        "title": {"type": "plain_text", "text": "Log a request"},
        "submit": {"type": "plain_text", "text": "Log it"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


@dataclass
class Answers:
    text: str = ""
    area_id: int | None = None
    customer: str = ""
    amount_text: str = ""
    frequency: str = ""
    frequency_detail: str = ""
    root_problem: str = ""
    impacts: list[str] = field(default_factory=list)
    impact_detail: str = ""
    focus_tie: str = ""
    # The CRM account picked as the customer (`hubspot:123`); `crm_verified` once the workspace's CRM
    # confirmed it on submit, `amount_from_crm` when the amount is the CRM's, not typed.
    crm_ref: str = ""
    crm_verified: bool = False
    amount_from_crm: bool = False


def _value(values: dict[str, Any], block_id: str) -> Any:
    block = values.get(block_id) or {}
    element = block.get("value") or next(iter(block.values()), None) or {}
    kind = element.get("type")
    if kind in ("radio_buttons", "static_select", "external_select"):
        return (element.get("selected_option") or {}).get("value") or ""
    if kind == "checkboxes":
        return [o.get("value") for o in element.get("selected_options") or [] if o.get("value")]
    return element.get("value") or ""


def read_answers(view: dict[str, Any]) -> Answers:
    values = (view.get("state") or {}).get("values") or {}
    area = _value(values, "area")
    impacts = [i for i in (_value(values, "impacts") or []) if i in IMPACTS]
    frequency = _value(values, "frequency")
    customer, crm_ref = " ".join(str(_value(values, "customer")).split()), ""
    try:
        picked = parse_option(customer)
    except BadOption:
        customer, picked = CRM_FORGED, None
    if picked is not None:
        customer, crm_ref = picked.name, picked.ref
    return Answers(
        text=str(_value(values, "request")).strip(),
        area_id=as_id(area),
        customer=customer,
        crm_ref=crm_ref,
        amount_text=str(_value(values, "amount")).strip(),
        frequency=frequency if frequency in FREQUENCIES else "",
        frequency_detail=str(_value(values, "frequency_detail")).strip(),
        root_problem=str(_value(values, "root_problem")).strip(),
        impacts=impacts,
        impact_detail=str(_value(values, "impact_detail")).strip(),
        focus_tie=str(_value(values, "focus_tie")).strip(),
    )


def draft_id_of(view: dict[str, Any]) -> int:
    """The draft the form was opened with (ForgedValue when the metadata is not what the bot wrote)."""
    return read(DraftRef, view.get("private_metadata"), "request form").draft
