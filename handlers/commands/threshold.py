"""`/threshold`: each area's rules; a PM sets `[area] [N] in [D] days` and/or `[area] over $[amount]`."""

from __future__ import annotations

import re
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.commands.focus import pm_refusal
from handlers.common import actor, area_refusal, deps_of, mention
from handlers.standing import rule_text
from handlers.text import escape, from_slack, quote
from storage import people, thresholds
from storage.db import session_scope
from storage.models import Person
from storage.money import AmountError, format_money, parse_amount

USAGE = (
    "`/threshold [area] [N] in [D] days`, `/threshold [area] over $[amount]` (either or both, e.g. "
    "`/threshold Reporting 5 in 30 days over $100k`), `/threshold [area] over off`, "
    "`/threshold [area] alerts digest|immediate`"
)

_RULES = re.compile(
    r"^(?P<area>.+?)"
    r"(?:\s+(?P<count>\d+)\s*(?:x|×|times?)?\s+(?:in|per|every|a)\s+(?P<days>\d+)\s*(?P<unit>d|days?|w|weeks?))?"
    r"(?:\s+over\s+(?P<amount>.+?))?"
    r"(?:\s+alerts?\s+(?P<mode>digest|immediate|immediately|now))?\s*$",
    re.IGNORECASE,
)


def describe(area, pm: Person | None) -> str:
    owner = f" — {mention(pm)}" if pm else ""
    mode = "alerts right away" if area.alert_mode != "digest" else "count alerts wait for the digest"
    return f"• *{escape(area.name)}*{owner}: {rule_text(area)} ({mode})"


def threshold_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    text = " ".join(from_slack(body.get("text") or "").split())
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if not text:
            areas = people.list_areas(session=session, workspace_id=workspace.id)
            if not areas:
                ack(
                    text="No product areas yet. A PM creates one with `/focus [area]: [focus]`; the default "
                    f"rule is {thresholds.DEFAULT_COUNT}× in {thresholds.DEFAULT_DAYS} days."
                )
                return
            lines = [describe(a, session.get(Person, a.pm_id) if a.pm_id else None) for a in areas]
            ack(text="*Thresholds*\n" + "\n".join(lines) + f"\n_Set with {USAGE}._")
            return
        named = people.get_area(session=session, workspace_id=workspace.id, name=text)
        if named is not None:  # `/threshold Reporting`: show that area's rules
            ack(
                text=describe(named, session.get(Person, named.pm_id) if named.pm_id else None)
                + f"\n_Set with {USAGE}._"
            )
            return
        if not me.is_pm:
            ack(text=pm_refusal(me, "set thresholds", text))
            return
        match = _RULES.match(text)
        if not match or not any(match.group(g) for g in ("count", "amount", "mode")):
            ack(text=f"I didn't understand “{quote(text, 300)}”. Try {USAGE}.")
            return
        area = people.get_area(session=session, workspace_id=workspace.id, name=match.group("area"))
        if area is None:
            known = ", ".join(a.name for a in people.list_areas(session=session, workspace_id=workspace.id))
            ack(
                text=f"There is no area called “{quote(match.group('area'), 80)}”"
                + (f" (areas: {escape(known)})" if known else "")
                + f". You typed: `{quote(text, 300)}`"
            )
            return
        refusal = area_refusal(session, me, area, "set thresholds")
        if refusal:
            ack(text=f"{refusal} You typed: `{quote(text, 300)}`")
            return
        changes = []
        if match.group("count"):
            try:
                weeks = match.group("unit").lower().startswith("w")
                thresholds.set_count_rule(
                    session=session,
                    area=area,
                    count=int(match.group("count")),
                    days=int(match.group("days")) * (7 if weeks else 1),
                )
            except ValueError as e:
                ack(text=f"{e} You typed: `{quote(text, 300)}`")
                return
            changes.append(f"{area.threshold_count}× in {area.threshold_days} days")
        if match.group("amount"):
            amount = match.group("amount").strip()
            if amount.lower() in ("off", "none", "no"):
                thresholds.set_amount_rule(session=session, area=area, cents=None)
                changes.append("no money rule")
            else:
                try:
                    money = parse_amount(amount)
                except AmountError as e:
                    ack(text=f"{e} You typed: `{quote(text, 300)}`")
                    return
                thresholds.set_amount_rule(
                    session=session, area=area, cents=money.cents, currency=money.currency
                )
                changes.append(
                    f"any customer worth {format_money(money.cents, money.currency)} or more goes "
                    "to you right away"
                )
        if match.group("mode"):
            area.alert_mode = "digest" if match.group("mode").lower() == "digest" else "immediate"
            session.add(area)
            changes.append(
                "count alerts " + ("in your digest" if area.alert_mode == "digest" else "right away")
            )
        ack(
            text=f"*{escape(area.name)}* now: " + "; ".join(changes) + ".\nRequesters see this rule in every "
            '"not yet" reply.'
        )
