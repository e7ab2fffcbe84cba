"""Logging a request: store the occurrence, confirm to the requester, and queue skipped questions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from handlers import blocks
from handlers.common import Deps
from handlers.text import clip, escape
from handlers.views.request_modal_builder import Answers
from storage import outbox
from storage import requests as store
from storage.models import Draft, FeatureRequest, Occurrence, Person, ProductArea, Workspace, utcnow
from storage.money import Money


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
            "blocks": blocks.followup_blocks(request=request, occurrence=occurrence, missing=missing),
            "text": clip(f"A few questions about: {escape(request.title)}", 300),
        },
    )
    if queued is not None:
        occurrence.followup_sent_at = queued.next_attempt_at
        session.add(occurrence)


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
) -> dict | None:
    """Store a submitted form and queue the receipt. Returns the modal response (None closes the form)."""
    logged = store_occurrence(
        session=session,
        workspace=workspace,
        person=person,
        draft=draft,
        answers=answers,
        money=money,
        area=area,
    )
    queue_confirmation(session=session, deps=deps, person=person, logged=logged)
    return None
