"""Every status change reaches everyone who asked: *planned* and *reopened* notes (the "not yet" note and
the thank-you live in handlers/thanks.py), one per person per decision, through the outbox."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from handlers.blocks import context, section
from handlers.standing import pm_name
from handlers.text import clip, escape
from handlers.thanks import Queued, and_list, customers_of, local_date
from storage import decisions, outbox
from storage.models import FeatureRequest, Occurrence, Person, RequestDecision


def status_blocks(
    *, request: FeatureRequest, person: Person, occurrences: list[Occurrence], pm: Person | None, status: str
) -> tuple[str, list[dict[str, Any]]]:
    first = local_date(occurrences[0].created_at, person.tz)
    customers = customers_of(occurrences)
    for_whom = f" for {and_list(customers)}" if customers else ""
    title = escape(request.title)
    if status == "planned":
        headline = (
            f":calendar: Good news: {pm_name(pm)} marked *{title}* — which you raised on {first}{for_whom} — "
            "*planned*. I'll thank you when it ships."
        )
        text = f"Planned: {title}"
    else:
        headline = (
            f":arrows_counterclockwise: {pm_name(pm, start=True)} reopened *{title}*, which you raised on "
            f"{first}{for_whom}: it is open again and counts toward its threshold. You'll hear what is decided."
        )
        text = f"Reopened: {title}"
    blocks = [
        section(headline),
        context(
            "You're getting this because you logged it. `/requests mine` shows where all of yours stand."
        ),
    ]
    return clip(text, 300), blocks


def queue_status_notices(
    *,
    session: Session,
    request: FeatureRequest,
    decision: RequestDecision,
    pm: Person | None,
    report_to: str = "",
) -> Queued:
    """A DM to each person who logged the request (key status:<request>:<person>:<decision>: a later
    decision notifies again, a retry or a second click never does)."""
    queued = Queued()
    for person_id, occurrences in decisions.requesters(session=session, request_id=request.id).items():
        person = session.get(Person, person_id)
        if person is None:
            continue
        text, blocks = status_blocks(
            request=request, person=person, occurrences=occurrences, pm=pm, status=decision.status
        )
        row = outbox.enqueue(
            session=session,
            key=f"status:{request.id}:{person.id}:{decision.id}",
            payload={"channel": person.slack_user_id, "text": text, "blocks": blocks},
            workspace_id=request.workspace_id,
            kind=f"status_{decision.status}",
            report_to=report_to,
            report_label=f"the “{decisions.STATUS_LABELS.get(decision.status, decision.status)}” note for "
            f"“{escape(clip(request.title, 80))}” to <@{person.slack_user_id}>",
        )
        queued.people += 1
        if row is None:
            queued.already += 1
        else:
            queued.by_dm += 1
    return queued
