"""The App Home tab and the Messages tab: publishing Home when it is opened, its buttons (log a request,
edit an area's focus or rules, merge two customers, suggest a change to an area's rules), a 1:1's
one-click cadence change, and the answer to a DM to the bot."""

from __future__ import annotations

import json
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import select

from handlers import charts
from handlers.common import (
    Deps,
    actor,
    area_refusal,
    deps_of,
    fetch_message,
    mention,
    mention_names,
    person_for,
    workspace_of,
)
from handlers.home import builder, publish
from handlers.shortcuts.log_request import message_text
from handlers.text import clip, escape, plain, quote
from handlers.thanks import queue_dm
from handlers.values import AreaForm, CadenceChoice, CustomerPair, ForgedValue, MessageRef, read, read_id
from handlers.views.request_form import open_request_form
from storage import customers, people, schedule, thresholds
from storage.db import session_scope
from storage.models import OneOnOne, Person, ProductArea, utcnow
from storage.money import AmountError, format_money, parse_amount

FOCUS_FORM = "home_focus"
RULES_FORM = "home_rules"
SUGGEST_FORM = "rules_suggest"
CHARTS_MOST = 3  # areas whose chart is drawn when a PM opens Home
SUGGESTION_LIMIT = 2000


def _say(client: WebClient, user: str, text: str, logger: Logger) -> None:
    """Home has no channel to answer in: the person hears back by DM."""
    try:
        client.chat_postMessage(channel=user, text=text)
    except SlackApiError as e:
        logger.warning("could not answer %s: %s", user, e.response.get("error"))


# -- Home ------------------------------------------------------------------------------------------
def home_opened(event: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger) -> None:
    if event.get("tab", "home") != "home":
        return
    deps = deps_of(context)
    user = event.get("user") or context.get("user_id") or ""
    with session_scope(deps.engine) as session:
        workspace = workspace_of(session, context)
        me = person_for(session, deps, workspace, user)
        view = publish.build(session, me)
        owned = (
            session.exec(
                select(ProductArea.id).where(ProductArea.pm_id == me.id).order_by(ProductArea.name)
            ).all()[:CHARTS_MOST]
            if me.is_pm
            else []
        )
    publish.publish(client, user, view)
    if not owned:
        return
    # Charts after the first publish: drawing and uploading takes a moment, and Home shows at once.
    drawn: dict[int, str] = {}
    with session_scope(deps.engine) as session:
        for area_id in owned:
            area = session.get(ProductArea, area_id)
            file_id = charts.area_chart(session=session, client=client, area=area, now=utcnow())
            if file_id:
                drawn[area.id] = file_id
    if drawn and drawn != _charts_in(view):
        with session_scope(deps.engine) as session:
            me = session.get(Person, me.id)
            publish.publish(client, user, publish.build(session, me, chart_ids=drawn))


def _charts_in(view: dict[str, Any]) -> dict[int, str]:
    found = {}
    blocks = view.get("blocks") or []
    for i, block in enumerate(blocks):
        if block.get("type") == "image" and i > 0:
            area_block = blocks[i - 1].get("block_id", "")
            if area_block.startswith("home_area_"):
                found[int(area_block.removeprefix("home_area_"))] = block["slack_file"]["id"]
    return found


def log_request_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    ack()
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        _, error = open_request_form(
            session=session,
            deps=deps,
            client=client,
            trigger_id=body.get("trigger_id", ""),
            workspace_id=workspace.id,
            person_id=me.id,
            text="",
            source="home",
        )
    if error:
        _say(
            client,
            me.slack_user_id,
            f"Slack didn't let me open the form (`{escape(error)}`); try `/request`.",
            logger,
        )


def _managed_area(session, deps: Deps, context: BoltContext, area_id: int, what: str):
    workspace, me = actor(session, deps, context)
    area = session.get(ProductArea, area_id)
    if area is None or area.workspace_id != workspace.id:
        return me, None, "That area no longer exists."
    return me, area, area_refusal(session, me, area, what)


def _input(
    block_id: str,
    label: str,
    initial: str = "",
    *,
    optional: bool = False,
    multiline: bool = False,
    max_length: int = 1500,
    hint: str = "",
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "element": element,
        "label": {"type": "plain_text", "text": plain(label, 2000)},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": plain(hint, 2000)}
    return block


def _form(callback_id: str, title: str, submit: str, area_id: int, blocks: list) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps({"a": area_id}),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def edit_area_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """*Edit focus* and *Edit rules* on a PM's Home: a small form, for the area's PM (or an admin PM)."""
    ack()
    deps = deps_of(context)
    area_id = read_id(action.get("value"), "area button")
    editing_focus = action.get("action_id") == builder.EDIT_FOCUS
    with session_scope(deps.engine) as session:
        me, area, refusal = _managed_area(
            session, deps, context, area_id, "set the focus" if editing_focus else "set thresholds"
        )
        if refusal:
            _say(client, me.slack_user_id, f"{refusal} I changed nothing.", logger)
            return
        if editing_focus:
            view = _form(
                FOCUS_FORM,
                "Edit focus",
                "Save",
                area.id,
                [_input("focus", f"{area.name}: current focus", area.focus, multiline=True)],
            )
        else:
            amount = (
                format_money(area.threshold_amount_cents, area.threshold_currency)
                if area.threshold_amount_cents
                else ""
            )
            view = _form(
                RULES_FORM,
                "Edit rules",
                "Save",
                area.id,
                [
                    _input(
                        "count",
                        "Reaches you when heard this many times",
                        str(area.threshold_count),
                        max_length=5,
                    ),
                    _input("days", "…within this many days", str(area.threshold_days), max_length=5),
                    _input(
                        "amount",
                        "…or at once for a customer worth at least (optional)",
                        amount,
                        optional=True,
                        max_length=40,
                        hint="e.g. $500k or €100k; empty for no money rule",
                    ),
                ],
            )
    client.views_open(trigger_id=body.get("trigger_id", ""), view=view)


def _typed(view: dict[str, Any], block_id: str) -> str:
    block = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    return str((block.get("value") or {}).get("value") or "").strip()


def focus_submission(
    ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    deps = deps_of(context)
    area_id = read(AreaForm, view.get("private_metadata"), "focus form").a
    focus = _typed(view, "focus")
    with session_scope(deps.engine) as session:
        me, area, refusal = _managed_area(session, deps, context, area_id, "set the focus")
        if refusal:
            ack(response_action="errors", errors={"focus": clip(refusal, 300)})
            return
        if not focus:
            ack(response_action="errors", errors={"focus": "Write the focus people should know about."})
            return
        ack()
        people.set_focus(session=session, area=area, focus=focus, by=me)
        publish.queue_refresh(session, people=[me], key=f"focus:{area.id}:{utcnow().timestamp():.0f}")
    deps.kick()


def rules_submission(
    ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    deps = deps_of(context)
    area_id = read(AreaForm, view.get("private_metadata"), "rules form").a
    count, days, amount = _typed(view, "count"), _typed(view, "days"), _typed(view, "amount")
    errors = {}
    if not count.isdigit():
        errors["count"] = f"A whole number, e.g. 5. You typed: {clip(count, 20)}"
    if not days.isdigit():
        errors["days"] = f"A whole number of days, e.g. 30. You typed: {clip(days, 20)}"
    money = None
    try:
        money = parse_amount(amount) if amount.lower() not in ("off", "none", "no") else None
    except AmountError as e:
        errors["amount"] = clip(str(e), 150)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    with session_scope(deps.engine) as session:
        me, area, refusal = _managed_area(session, deps, context, area_id, "set thresholds")
        if refusal:
            ack(response_action="errors", errors={"count": clip(refusal, 300)})
            return
        try:
            thresholds.set_count_rule(session=session, area=area, count=int(count), days=int(days))
        except ValueError as e:
            ack(response_action="errors", errors={"count": str(e)})
            return
        ack()
        thresholds.set_amount_rule(
            session=session,
            area=area,
            cents=money.cents if money else None,
            currency=money.currency if money else area.threshold_currency,
        )
        publish.queue_refresh(session, people=[me], key=f"rules:{area.id}:{utcnow().timestamp():.0f}")
    deps.kick()


# -- one customer counted once -------------------------------------------------------------------
def merge_customers_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    pair = read(CustomerPair, action.get("value"), "customer merge button")
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if not (me.is_pm or me.is_admin):
            _say(
                client,
                me.slack_user_id,
                "Only PMs and admins can merge customers, so I changed nothing.",
                logger,
            )
            return
        try:
            alias = customers.merge_customers(
                session=session, workspace_id=workspace.id, fold=pair.f, into=pair.k, by=me
            )
        except customers.CustomerError as e:
            _say(client, me.slack_user_id, f"{escape(str(e))} I changed nothing.", logger)
            return
        text = (
            f":twisted_rightwards_arrows: “{escape(pair.f)}” now counts as *{escape(alias.name)}*: "
            f"{builder.plural(alias.moved, 'occurrence')} renamed, so it is one customer in every count, "
            "its money counts once, and thank-you notes name it once. Whoever types "
            f"“{escape(pair.f)}” from now on is counted as {escape(alias.name)}."
        )
        view = publish.build(session, me)
    publish.publish(client, me.slack_user_id, view)
    _say(client, me.slack_user_id, text, logger)


# -- 1:1 cadence, suggested on the agenda --------------------------------------------------------
def cadence_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    choice = read(CadenceChoice, action.get("value"), "cadence button")
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        meeting = session.get(OneOnOne, choice.o)
        if meeting is None or meeting.workspace_id != workspace.id or not meeting.active:
            _say(client, me.slack_user_id, "That 1:1 is no longer scheduled.", logger)
            return
        if me.id not in (meeting.pm_id, meeting.stakeholder_id):
            _say(
                client,
                me.slack_user_id,
                "Only the two people in this 1:1 can change how often it is.",
                logger,
            )
            return
        if meeting.cadence_weeks == choice.w:
            _say(
                client,
                me.slack_user_id,
                f"You already meet every {builder.plural(choice.w, 'week')}.",
                logger,
            )
            return
        before = meeting.cadence_weeks
        meeting.cadence_weeks = choice.w
        session.add(meeting)
        text = (
            f":spiral_calendar_pad: {mention(me)} changed your 1:1 from every {builder.plural(before, 'week')} "
            f"to every {builder.plural(choice.w, 'week')}."
        )
        channel = (body.get("channel") or {}).get("id") or ""
    try:
        client.chat_postMessage(channel=channel or me.slack_user_id, text=text)
    except SlackApiError as e:
        logger.warning("cadence note: %s", e.response.get("error"))


# -- "Suggest a change to these rules" -----------------------------------------------------------
def suggest_rules_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    area_id = read_id(action.get("value"), "suggest button")
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        area = session.get(ProductArea, area_id)
        if area is None or area.workspace_id != workspace.id:
            _say(client, me.slack_user_id, "That area no longer exists.", logger)
            return
        if not area.pm_id:
            _say(client, me.slack_user_id, f"*{escape(area.name)}* has no PM yet to suggest it to.", logger)
            return
        name = area.name
    client.views_open(
        trigger_id=body.get("trigger_id", ""),
        view=_form(
            SUGGEST_FORM,
            "Suggest a change",
            "Send",
            area_id,
            [
                _input(
                    "suggestion",
                    f"What would you change in how {name} works?",
                    multiline=True,
                    max_length=SUGGESTION_LIMIT,
                )
            ],
        ),
    )


def suggest_rules_submission(
    ack: Ack, view: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    deps = deps_of(context)
    area_id = read(AreaForm, view.get("private_metadata"), "suggestion form").a
    text = _typed(view, "suggestion")
    if not text:
        ack(response_action="errors", errors={"suggestion": "Write what you'd change."})
        return
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        area = session.get(ProductArea, area_id)
        pm = session.get(Person, area.pm_id) if area is not None and area.pm_id else None
        if area is None or area.workspace_id != workspace.id or pm is None:
            ack(
                response_action="errors",
                errors={"suggestion": f"That area has no PM any more. Your text: {clip(text, 150)}"},
            )
            return
        ack()
        item = f"Suggested change to how {area.name} works: {text}"
        meeting = schedule.oneonone_between(session=session, workspace_id=workspace.id, a=pm.id, b=me.id)
        if meeting is not None and meeting.active and pm.id != me.id:
            schedule.add_item(session=session, oneonone=meeting, added_by=me, text=item)
            told = f"It's on the agenda of your next 1:1 with {mention(pm)}."
        else:
            queue_dm(
                session=session,
                to=pm,
                key=f"rules-suggestion:{area.id}:{me.id}:{view.get('id', '')}:{view.get('hash', '')}",
                text=f":bulb: {mention(me)} suggests a change to how *{escape(area.name)}* works:\n> {quote(text, 1500)}",
                workspace_id=workspace.id,
                kind="rules_suggestion",
            )
            told = f"I sent it to {mention(pm)}."
        queue_dm(
            session=session,
            to=me,
            key=f"rules-suggestion-sent:{area.id}:{me.id}:{view.get('id', '')}:{view.get('hash', '')}",
            text=f"Thanks — {told}",
            workspace_id=workspace.id,
        )
    deps.kick()


# -- the Messages tab ----------------------------------------------------------------------------
def seal_key(context: BoltContext) -> str:
    settings = deps_of(context).settings
    return settings.signing_secret or settings.bot_token or settings.app_token


def dm_message(event: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger) -> None:
    """Someone wrote to the bot: help, and an offer to log what they wrote as a request."""
    if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
        return
    user, channel, ts = event.get("user") or "", event.get("channel") or "", event.get("ts") or ""
    if not (user and channel and ts):
        return
    text = " ".join(str(event.get("text") or "").split())
    try:
        value = MessageRef.write(seal_key(context), channel, ts, user)
        read(MessageRef, value, "DM")  # a channel or ts Slack never writes: no offer
    except ForgedValue:
        return
    blocks = builder.messages_tab_blocks(text, value)
    client.chat_postMessage(channel=channel, text="Log this as a customer request?", blocks=blocks)


def dm_log_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    what = "“Log this as a request” button"
    where = read(MessageRef, action.get("value"), what).check(seal_key(context), context.get("user_id"), what)
    message = fetch_message(client, where.c, where.t) or {}
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        open_request_form(
            session=session,
            deps=deps,
            client=client,
            trigger_id=body.get("trigger_id", ""),
            workspace_id=workspace.id,
            person_id=me.id,
            text=message_text(message, mention_names(client)) if message else "",
            source="dm",
        )
