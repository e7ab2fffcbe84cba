"""Logging a request: store the occurrence, confirm to the requester, and queue skipped questions."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlmodel import Session

from bot import metrics
from handlers import blocks, standing
from handlers.common import Deps, sees_other_requests
from handlers.text import clip, escape, quote
from handlers.thanks import queue_dm
from handlers.views.repeat_builder import repeat_choice_view
from handlers.views.request_modal_builder import Answers
from storage import decisions, outbox, people, thresholds
from storage import requests as store
from storage.models import (
    Draft,
    FeatureRequest,
    Occurrence,
    Person,
    ProductArea,
    ThresholdCrossing,
    Workspace,
    utcnow,
)
from storage.money import Money, format_money


@dataclass
class Logged:
    request: FeatureRequest
    occurrence: Occurrence
    area: ProductArea
    is_new: bool


def store_occurrence(
    *,
    session: Session,
    workspace: Workspace,
    person: Person,
    draft: Draft | None,
    answers: Answers,
    money: Money | None,
    area: ProductArea,
    request: FeatureRequest | None = None,
) -> Logged:
    """Write one occurrence (and its request, when new). Nothing is sent here."""
    is_new = request is None
    if request is None:
        request = store.create_request(
            session=session, workspace_id=workspace.id, area_id=area.id, title=answers.text
        )
    fields = dict(
        customer=answers.customer,
        amount_cents=money.cents if money else None,
        currency=money.currency if money else "",
        amount_text=answers.amount_text[:255],
        frequency=answers.frequency,
        frequency_detail=answers.frequency_detail,
        root_problem=answers.root_problem,
        impacts=",".join(answers.impacts),
        impact_detail=answers.impact_detail,
        focus_tie=answers.focus_tie,
        crm_ref=answers.crm_ref[:64],
        crm_verified=bool(answers.crm_ref and answers.crm_verified),
        amount_from_crm=bool(money and answers.amount_from_crm),
        crm_checked_at=utcnow() if answers.crm_ref and answers.crm_verified else None,
    )
    if draft is not None:
        fields.update(
            source=draft.source,
            source_text=draft.text,
            channel_id=draft.channel_id,
            message_ts=draft.message_ts,
            thread_ts=draft.thread_ts,
            permalink=draft.permalink,
            raised_by_id=draft.raised_by_id,
        )
    occurrence = store.record_occurrence(
        session=session, request=request, logged_by_id=person.id, text=answers.text, **fields
    )
    if draft is not None:
        draft.occurrence_id = occurrence.id
        session.add(draft)
    return Logged(request=request, occurrence=occurrence, area=area, is_new=is_new)


def queue_confirmation(
    *, session: Session, deps: Deps, person: Person, logged: Logged, status_lines: list[str] | None = None
) -> None:
    """The requester's receipt, and the skipped questions asked again later by DM."""
    occ = logged.occurrence
    missing = store.missing_answers(occ)
    confirmation = blocks.confirmation_blocks(
        request=logged.request, occurrence=occ, area=logged.area, missing=missing, status_lines=status_lines
    )
    outbox.enqueue(
        session=session,
        key=f"confirm:{occ.id}",
        kind="confirmation",
        workspace_id=occ.workspace_id,
        payload={
            "channel": person.slack_user_id,
            "blocks": confirmation,
            "text": clip(f"Logged: {escape(logged.request.title)}", 300),
        },
    )
    if missing:
        queue_followup(
            session=session, deps=deps, person=person, request=logged.request, occurrence=occ, missing=missing
        )
    # Imported here: the Home builders import this module's neighbours (no import cycles).
    from handlers.home.first_time import after_logging

    after_logging(session=session, person=person, area=logged.area, occurrence=occ)


def queue_followup(
    *,
    session: Session,
    deps: Deps,
    person: Person,
    request: FeatureRequest,
    occurrence: Occurrence,
    missing: list[str],
) -> None:
    delay = timedelta(minutes=deps.settings.followup_delay_minutes)
    queued = outbox.enqueue(
        session=session,
        key=f"followup:{occurrence.id}",
        kind="followup",
        workspace_id=occurrence.workspace_id,
        not_before=utcnow() + delay,
        payload={
            "channel": person.slack_user_id,
            "blocks": blocks.followup_blocks(
                request=request,
                occurrence=occurrence,
                missing=missing,
                focus=getattr(session.get(ProductArea, request.area_id), "focus", ""),
            ),
            "text": clip(f"A few questions about: {escape(request.title)}", 300),
        },
    )
    if queued is not None:
        occurrence.followup_sent_at = queued.next_attempt_at
        session.add(occurrence)


def after_occurrence(*, session: Session, deps: Deps, person: Person, logged: Logged, note: str = "") -> None:
    """Weigh the occurrence against the area's rules, tell the requester where it stands, alert the PM."""
    request, area, occ = logged.request, logged.area, logged.occurrence
    current, crossings = thresholds.evaluate(session=session, request=request, area=area, occurrence=occ)
    pm = session.get(Person, area.pm_id) if area.pm_id else None
    if not sees_other_requests(deps, person):
        # How often it was heard, from which customers and for how much is the organisation's to share.
        lines = [f"{standing.pm_name(pm, start=True)} will see it with everything else logged for this area."]
    else:
        lines = standing.status_lines(
            request=request, area=area, pm=pm, standing=current, new_crossings=crossings, occurrence=occ
        )
    if request.status == "shipped" and sees_other_requests(deps, person):
        lines += asked_after_shipping(
            session=session, request=request, area=area, pm=pm, person=person, occ=occ
        )
    queue_confirmation(
        session=session,
        deps=deps,
        person=person,
        logged=logged,
        status_lines=[note, *lines] if note else lines,
    )
    # The money rule always alerts at once; the count rule per the area's choice (digest waits for the digest).
    urgent = [c for c in crossings if c.rule == "amount" or area.alert_mode != "digest"]
    if urgent:
        queue_alert(session=session, request=request, area=area, current=current, crossings=urgent)


def asked_after_shipping(
    *,
    session: Session,
    request: FeatureRequest,
    area: ProductArea,
    pm: Person | None,
    person: Person,
    occ: Occurrence,
) -> list[str]:
    """A customer asks for what already shipped: the PM hears it (as the requester is promised), and the
    requester gets the link and the note to forward that everyone else got."""
    shipped = decisions.last_decision(session=session, request_id=request.id, status="shipped")
    for recipient in alert_recipients(session=session, area=area):
        queue_dm(
            session=session,
            to=recipient,
            key=f"asked-after-shipping:{occ.id}:{recipient.id}",
            workspace_id=occ.workspace_id,
            text=f":speech_balloon: Customers still ask for *{escape(request.title)}*, which shipped: "
            f"<@{person.slack_user_id}> just logged it"
            + (f" for *{escape(occ.customer)}*" if occ.customer else "")
            + (f": {quote(occ.text, 400)}" if occ.text and occ.text != request.title else ".")
            + " Maybe the news hasn't reached them, or something is still missing.",
        )
    lines = []
    if shipped is not None and shipped.link:
        lines.append(f"More about it: {escape(shipped.link)}")
    if shipped is not None and shipped.customer_note:
        lines.append(f"A note you can forward to your customer:\n> {quote(shipped.customer_note, 1500)}")
    return lines


def weigh_crm_amount(*, session: Session, occurrence_id: int) -> bool:
    """An amount the CRM supplied later (the clock's refresh) gets the money rule too: the PM hears at once,
    once per customer. Returns whether it crossed."""
    occurrence = session.get(Occurrence, occurrence_id)
    request = session.get(FeatureRequest, occurrence.request_id) if occurrence else None
    area = session.get(ProductArea, request.area_id) if request else None
    if occurrence is None or request is None or area is None:
        return False
    current, crossings = thresholds.evaluate(
        session=session, request=request, area=area, occurrence=occurrence
    )
    money = [c for c in crossings if c.rule == "amount"]
    if money:
        queue_alert(session=session, request=request, area=area, current=current, crossings=money)
    return bool(money)


def reweigh_late_amount(*, session: Session, deps: Deps, person: Person, occurrence: Occurrence) -> bool:
    """An amount answered later (from the follow-up DM) gets the money rule too: the PM hears at once.
    Returns whether it crossed."""
    request = session.get(FeatureRequest, occurrence.request_id)
    area = session.get(ProductArea, request.area_id)
    current, crossings = thresholds.evaluate(
        session=session, request=request, area=area, occurrence=occurrence
    )
    money = [c for c in crossings if c.rule == "amount"]
    if not money:
        return False
    queue_alert(session=session, request=request, area=area, current=current, crossings=money)
    pm = session.get(Person, area.pm_id) if area.pm_id else None
    queue_dm(
        session=session,
        to=person,
        key=f"late-amount:{occurrence.id}:{money[0].id}",
        kind="confirmation",
        workspace_id=occurrence.workspace_id,
        text=f":moneybag: Thanks — *{escape(occurrence.customer or 'this customer')}* at "
        f"{format_money(occurrence.amount_cents, occurrence.currency)} is over the "
        f"{format_money(area.threshold_amount_cents, area.threshold_currency)} rule for "
        f"*{escape(area.name)}*, so *{escape(request.title)}* goes to {standing.pm_name(pm)} right away.",
    )
    return True


def alert_recipients(*, session: Session, area: ProductArea) -> list[Person]:
    """The area's PM; with none, every PM in the workspace; with none, the admins."""
    if area.pm_id:
        pm = session.get(Person, area.pm_id)
        if pm:
            return [pm]
    return people.list_pms(session=session, workspace_id=area.workspace_id) or people.list_admins(
        session=session, workspace_id=area.workspace_id
    )


def queue_alert(
    *,
    session: Session,
    request: FeatureRequest,
    area: ProductArea,
    current: thresholds.Standing,
    crossings: list[ThresholdCrossing],
) -> None:
    occurrences = store.occurrences_of(session=session, request_id=request.id)
    who = people.of_occurrences(session=session, occurrences=occurrences)
    alert = standing.alert_blocks(
        request=request, area=area, standing=current, crossings=crossings, occurrences=occurrences, people=who
    )
    crossing_key = "-".join(str(c.id) for c in crossings)
    for recipient in alert_recipients(session=session, area=area):
        outbox.enqueue(
            session=session,
            key=f"alert:{request.id}:{crossing_key}:{recipient.id}",
            kind="threshold_alert",
            workspace_id=request.workspace_id,
            payload={
                "channel": recipient.slack_user_id,
                "blocks": alert,
                "text": clip(f"Threshold crossed in {escape(area.name)}: {escape(request.title)}", 300),
            },
        )


def answers_to_json(answers: Answers, money: Money | None) -> str:
    data = asdict(answers)
    data["money"] = [money.cents, money.currency] if money else None
    return json.dumps(data, ensure_ascii=False)


def answers_from_json(text: str) -> tuple[Answers, Money | None]:
    data = json.loads(text)
    money = data.pop("money", None)
    return Answers(**data), Money(cents=money[0], currency=money[1]) if money else None


# The longest the repeat check queues behind other look-ups of its process before the request is logged
# without it (as new: a PM can still merge it). It runs after Slack has its answer (handlers/views/
# request_modal.py), so this bounds how long the requester looks at "Checking for similar requests…".
MATCH_WAIT_SECONDS = 10.0


def finish_logging(
    *,
    session: Session,
    deps: Deps,
    workspace: Workspace,
    person: Person,
    draft: Draft | None,
    answers: Answers,
    money: Money | None,
    area: ProductArea,
    match_wait: float = MATCH_WAIT_SECONDS,
    areas: list[ProductArea] | None = None,
) -> dict | None:
    """A submitted form: first offer likely repeats (the requester decides), else store it as new.
    Returns the modal response (None closes the form). `areas`: the workspace's, when read already."""
    # The likely repeats are other people's requests, with their customers and money.
    if deps.matcher is not None and draft is not None and sees_other_requests(deps, person):
        with metrics.matcher_timer():
            suggestions = deps.matcher.suggest(
                session,
                workspace_id=workspace.id,
                area_id=area.id,
                text=answers.text,
                wait=match_wait,
            )
        if suggestions:
            draft.answers = answers_to_json(answers, money)
            session.add(draft)
            stats = store.request_stats_many(session=session, request_ids=[s.request.id for s in suggestions])
            return {
                "response_action": "update",
                "view": repeat_choice_view(
                    draft_id=draft.id,
                    text=answers.text,
                    suggestions=suggestions,
                    stats=stats,
                    other_areas={
                        a.id: a.name
                        for a in (
                            areas
                            if areas is not None
                            else people.list_areas(session=session, workspace_id=workspace.id)
                        )
                        if a.id != area.id
                    },
                ),
            }
    log_and_reply(
        session=session,
        deps=deps,
        workspace=workspace,
        person=person,
        draft=draft,
        answers=answers,
        money=money,
        area=area,
    )
    return None


def log_and_reply(
    *,
    session: Session,
    deps: Deps,
    workspace: Workspace,
    person: Person,
    draft: Draft | None,
    answers: Answers,
    money: Money | None,
    area: ProductArea,
    request: FeatureRequest | None = None,
    note: str = "",
) -> Logged:
    logged = store_occurrence(
        session=session,
        workspace=workspace,
        person=person,
        draft=draft,
        answers=answers,
        money=money,
        area=area,
        request=request,
    )
    if deps.matcher is not None:
        if logged.is_new:
            deps.matcher.add(session, logged.request)
        else:  # confirmed as the same thing: this phrasing now finds the request too
            deps.matcher.learn(session, logged.request)
    after_occurrence(session=session, deps=deps, person=person, logged=logged, note=note)
    return logged
