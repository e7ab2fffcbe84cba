"""What the requester hears after logging ("not yet", with reasons) and what the PM gets when a request
crosses a threshold. Pure builders: they take stored rows and return text and blocks."""

from __future__ import annotations

from typing import Any

from handlers.blocks import context, impacts_text, request_action_buttons, reset_button, section, sections
from handlers.dates import slack_date
from handlers.text import clip, escape, quote
from storage.models import FeatureRequest, Occurrence, Person, ProductArea, ThresholdCrossing
from storage.money import format_money
from storage.requests import FREQUENCIES, RequestStats
from storage.thresholds import Standing

ALERT_OCCURRENCE_LIMIT = 20


def money_text(stats: RequestStats) -> str:
    return " + ".join(format_money(cents, currency) for currency, cents in sorted(stats.money.items()))


def heard_text(count: int, stats: RequestStats, days: int | None = None) -> str:
    """ "heard 3× in the last 30 days from 2 customers ($80k)" """
    parts = [f"heard {count}×"]
    if days:
        parts.append(f"in the last {days} days")
    if stats.customer_count:
        parts.append(f"from {stats.customer_count} customer{'s' if stats.customer_count != 1 else ''}")
    text = " ".join(parts)
    money = money_text(stats)
    return f"{text} ({money})" if money else text


def rule_text(area: ProductArea) -> str:
    rule = f"{area.threshold_count}× in {area.threshold_days} days"
    if area.threshold_amount_cents:
        rule += f", or any single customer worth {format_money(area.threshold_amount_cents, area.threshold_currency)} or more"
    return rule


def pm_name(pm: Person | None, *, start: bool = False) -> str:
    """The owning PM as a mention; "the PM" (or "The PM" to start a sentence) when the area has none."""
    if pm:
        return f"<@{pm.slack_user_id}>"
    return "The PM" if start else "the PM"


def focus_text(area: ProductArea, pm: Person | None) -> str:
    if not area.focus:
        return f"{pm_name(pm, start=True)} hasn't shared a current focus for *{escape(area.name)}* yet."
    when = f" (set {slack_date(area.focus_set_at)})" if area.focus_set_at else ""
    return (
        f"Right now {pm_name(pm)} is focused on: *{escape(clip(area.focus, 600))}*{when} — "
        "that's where the team's time goes first, which is why this isn't being worked on yet."
    )


def status_lines(
    *,
    request: FeatureRequest,
    area: ProductArea,
    pm: Person | None,
    standing: Standing,
    new_crossings: list[ThresholdCrossing],
    occurrence: Occurrence,
) -> list[str]:
    """The honest reply after an occurrence is logged: never "no" — "not yet", and why."""
    heard = heard_text(standing.count, standing.window, standing.days)
    if request.status == "shipped":
        note = f" {quote(request.shipped_note, 300)}" if request.shipped_note else ""
        return [
            f":tada: Good news: this already shipped{note}. Your occurrence is recorded and "
            f"{pm_name(pm)} will hear that customers still ask about it."
        ]
    if request.status == "planned":
        return [
            f":calendar: This is already *planned* by {pm_name(pm)}. It's {heard}; your customer is now on the list."
        ]
    lines = []
    if request.status == "not_yet":
        reason = f": {quote(request.status_reason, 400)}" if request.status_reason else "."
        lines.append(f"{pm_name(pm)} marked this *not yet*{reason} Your occurrence still counts.")
    money_crossing = next((c for c in new_crossings if c.rule == "amount"), None)
    count_crossing = next((c for c in new_crossings if c.rule == "count"), None)
    if money_crossing:
        lines.append(
            f":moneybag: *{escape(occurrence.customer or 'This customer')}* is worth "
            f"{format_money(occurrence.amount_cents, occurrence.currency)}, over the "
            f"{format_money(area.threshold_amount_cents, area.threshold_currency)} rule for *{escape(area.name)}*, "
            f"so it goes to {pm_name(pm)} right away."
        )
    elif (
        area.threshold_amount_cents
        and occurrence.amount_cents is not None
        and (occurrence.currency or "USD") != (area.threshold_currency or "USD")
    ):
        lines.append(
            f"_The money rule for *{escape(area.name)}* is in {area.threshold_currency}, so an amount in "
            f"{occurrence.currency} isn't compared with it — if this customer is big, tell {pm_name(pm)}._"
        )
    if count_crossing:
        lines.append(
            f":rotating_light: That makes it {heard} — it has reached the threshold "
            f"({area.threshold_count}× in {area.threshold_days} days). It now goes to {pm_name(pm)}, "
            f"who will sit down with you and the others who raised it and go over all "
            f"{standing.count} occurrences."
        )
    elif standing.over and not money_crossing:
        lines.append(f"It's {heard} — over the threshold, so it's already with {pm_name(pm)}.")
    elif not money_crossing:
        more = standing.remaining
        lines.append(
            f"*Not yet* — here's where it stands: {heard}. {pm_name(pm, start=True)} "
            f"goes over a request with everyone who raised it once it's heard {rule_text(area)} — "
            f"*{more} more* to go."
        )
        lines.append(focus_text(area, pm))
    if occurrence.focus_tie and not (count_crossing or money_crossing):
        lines.append(
            f"You tied it to the focus (“{quote(occurrence.focus_tie, 200)}”) — {pm_name(pm)} sees that "
            "with every occurrence."
        )
    return lines


def occurrence_line(
    occ: Occurrence, who: Person | None, title: str = "", raised_by: Person | None = None
) -> str:
    """One occurrence for the PM: who, when, customer, money, how often, impact, their own words (when they
    differ from the request's title), root problem, focus tie and a link to the original message."""
    parts = [f"<@{who.slack_user_id}>" if who else "someone", slack_date(occ.created_at)]
    if raised_by is not None and raised_by.id != occ.logged_by_id:
        parts[0] += f" (raised by <@{raised_by.slack_user_id}>)"
    if occ.customer:
        parts.append(f"*{escape(clip(occ.customer, 80))}*")
    if occ.amount_cents is not None:
        parts.append(format_money(occ.amount_cents, occ.currency))
    if occ.frequency:
        parts.append(FREQUENCIES.get(occ.frequency, occ.frequency).lower())
    if occ.frequency_detail:
        parts.append(quote(occ.frequency_detail, 100))
    if occ.impacts:
        parts.append(impacts_text(occ.impacts).lower())
    if occ.impact_detail:
        parts.append(quote(occ.impact_detail, 150))
    if occ.permalink:  # on the first line, set off like the other facts, not run on after the last one
        parts.append(f"<{occ.permalink}|message>")
    line = " · ".join(parts)
    wording = occ.text or occ.source_text
    if wording and wording != title:
        line += f"\n    _In their words:_ {quote(wording, 200)}"
    if occ.root_problem:
        line += f"\n    _Root problem:_ {quote(occ.root_problem, 200)}"
    if occ.focus_tie:
        line += f"\n    _Focus tie:_ {quote(occ.focus_tie, 200)}"
    return line


def alert_blocks(
    *,
    request: FeatureRequest,
    area: ProductArea,
    standing: Standing,
    crossings: list[ThresholdCrossing],
    occurrences: list[Occurrence],
    people: dict[int, Person],
) -> list[dict[str, Any]]:
    """The PM's DM when a request crosses a threshold: every occurrence, and buttons to act."""
    rules = []
    for crossing in crossings:
        if crossing.rule == "amount":
            rules.append(
                f"a customer over {format_money(area.threshold_amount_cents, area.threshold_currency)}"
            )
        else:
            rules.append(f"{area.threshold_count}× in {area.threshold_days} days")
    heard = heard_text(standing.total.count, standing.total)
    blocks = [
        section(
            f":rotating_light: *Threshold crossed in {escape(area.name)}* ({' and '.join(rules)}): "
            f"*{escape(request.title)}* — {heard}, {standing.count}× in the last {standing.days} days."
        ),
        *sections(
            ["*Who asked*"]
            + [
                f"• {occurrence_line(o, people.get(o.logged_by_id), request.title, people.get(o.raised_by_id))}"
                for o in occurrences[-ALERT_OCCURRENCE_LIMIT:]
            ],
            most=30,
        ),
    ]
    if len(occurrences) > ALERT_OCCURRENCE_LIMIT:
        blocks.append(
            context(
                f"…and {len(occurrences) - ALERT_OCCURRENCE_LIMIT} earlier occurrences: `/requests #{request.id}` "
                "lists every one."
            )
        )
    blocks.append(
        context(
            "You said you'd go over these with the people who raised them. "
            "Act on it below, or *Reset* to be alerted again next time it crosses."
        )
    )
    actions = request_action_buttons(request.id, request.status)
    actions["elements"].append(reset_button(request.id))
    blocks.append(actions)
    return blocks
