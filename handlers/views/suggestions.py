"""Typeahead options for the select menus that can hold more than Slack lists (100): the customer field
of the request form (the workspace's known customers, fuzzy, plus "New customer: …"), the product area
when there are many, the request to merge into, and the "Same thing?" step's search for the request the
matcher missed. Answered afresh on every keystroke, so read-only."""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz, process
from slack_bolt import Ack, BoltContext
from sqlalchemy import func
from sqlmodel import Session, select

from handlers import crm_pick
from handlers.common import deps_of, sees_other_requests, workspace_of
from handlers.text import plain
from handlers.values import DecisionForm, DraftRef, ForgedValue, as_id, read
from handlers.views.repeat_builder import search_option
from handlers.views.request_modal_builder import crm_option, customer_option
from storage import customers, decisions, people
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, Occurrence
from storage.requests import customer_key
from storage.search import search_requests

MOST = 50  # options shown per keystroke: plenty to pick from, small to send


def _typed(body: dict[str, Any]) -> str:
    return " ".join(str(body.get("value") or "").split())


def customer_suggestions(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    typed = _typed(body)
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace = workspace_of(session, context)
        names = customers.suggest(session=session, workspace_id=workspace.id, typed=typed, limit=MOST)
        if typed:
            # A name merged away is offered as the customer it now counts as.
            merged = customers.canonical_name(session=session, workspace_id=workspace.id, name=typed)
            if customer_key(merged) != customer_key(typed) and merged not in names:
                names.insert(0, merged)
        crms = crm_pick.connected_crms(session, workspace.id) if typed else {}
    # A connected CRM's accounts first, each with its value and owner (at most 1 s; without them when the
    # CRM is down or slow); a known name that is one of them is offered once, as the account.
    accounts = crm_pick.search(crms, typed)
    taken = {customer_key(a.name) for a in accounts}
    options = [crm_option(a) for a in accounts]
    options += [customer_option(name) for name in names if customer_key(name) not in taken]
    if typed and not any(customer_key(name) == customer_key(typed) for name in [*names, *taken]):
        options.append(customer_option(typed, new=True))
    ack(options=options[:100])


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": plain(text, 75)}, "value": value}


def area_suggestions(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    typed = _typed(body).casefold()
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace = workspace_of(session, context)
        areas = people.list_areas(session=session, workspace_id=workspace.id)
    if typed:
        starts = [a for a in areas if a.name_key.startswith(typed)]
        fuzzy = [
            areas[i]
            for _, score, i in process.extract(
                typed, [a.name_key for a in areas], scorer=fuzz.WRatio, limit=MOST, score_cutoff=60
            )
        ]
        areas = list(dict.fromkeys([*starts, *fuzzy]))
    ack(options=[_option(str(a.id), a.name) for a in areas[:MOST]])


def _found(session: Session, ids: list[int]) -> list[tuple[FeatureRequest, int]]:
    """The requests of `ids` in that order, each with how many times it was heard (one query each)."""
    if not ids:
        return []
    rows = {r.id: r for r in session.exec(select(FeatureRequest).where(FeatureRequest.id.in_(ids)))}
    counts = dict(
        session.exec(
            select(Occurrence.request_id, func.count())
            .where(Occurrence.request_id.in_(ids))
            .group_by(Occurrence.request_id)
        ).all()
    )
    return [(rows[i], counts.get(i, 0)) for i in ids if i in rows]


# The merge form's search looks this far down the ranking for the source's own area's requests.
MERGE_SEARCH_DEPTH = 300


def merge_target_suggestions(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    typed = _typed(body)
    deps = deps_of(context)
    try:
        source_id = read(DecisionForm, (body.get("view") or {}).get("private_metadata"), "merge form").r
    except ForgedValue:
        ack(options=[])
        return
    number = as_id(typed.lstrip("#"))
    with session_scope(deps.engine) as session:
        workspace = workspace_of(session, context)
        source = store.get_request(session=session, request_id=source_id, workspace_id=workspace.id)
        if source is None:
            ack(options=[])
            return
        found: list[tuple[FeatureRequest, int]] = []
        if typed and number is None:
            # Words: the full-text index, any status a merge may go into (shipped too), the same area.
            ids = search_requests(
                session,
                workspace_id=workspace.id,
                text=typed,
                limit=MERGE_SEARCH_DEPTH,
                statuses=("open", "planned", "not_yet", "shipped"),
            )
            found = [
                (r, n) for r, n in _found(session, ids) if r.area_id == source.area_id and r.id != source.id
            ]
        if found:
            options = [_option(str(r.id), f"#{r.id} {r.title} ({n}×)") for r, n in found[:MOST]]
        else:
            # A number, nothing typed, or words the index has not (a typo): as before, every candidate.
            candidates = decisions.merge_candidates(session=session, request=source, limit=10**6)
            if number is not None:
                picked = [c for c in candidates if str(c.request.id).startswith(str(number))]
            elif typed:
                titles = [c.request.title.casefold() for c in candidates]
                picked = [
                    candidates[i]
                    for _, _, i in process.extract(
                        typed.casefold(), titles, scorer=fuzz.WRatio, limit=MOST, score_cutoff=50
                    )
                ]
            else:
                picked = candidates
            options = [
                _option(str(c.request.id), f"#{c.request.id} {c.request.title} ({c.stats.count}×)")
                for c in picked[:MOST]
            ]
    ack(options=options)


def repeat_search_suggestions(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """The "Same thing?" step's search: the workspace's open, planned and not-yet requests with the words
    typed in their title or in a phrasing confirmed as them. Only for the person whose form it is, and
    only for someone who may see other people's requests (as the step itself)."""
    typed = _typed(body)
    deps = deps_of(context)
    try:
        draft_id = read(DraftRef, (body.get("view") or {}).get("private_metadata"), "request form").draft
    except ForgedValue:
        ack(options=[])
        return
    user_id = context.get("user_id") or ((body.get("user") or {}).get("id")) or ""
    with session_scope(deps.engine) as session:
        workspace = workspace_of(session, context)
        person = people.get_person(session=session, workspace_id=workspace.id, slack_user_id=user_id)
        draft = store.get_draft(session=session, draft_id=draft_id, workspace_id=workspace.id)
        if (
            person is None
            or draft is None
            or draft.person_id != person.id
            or not sees_other_requests(deps, person)
        ):
            ack(options=[])
            return
        ids = search_requests(session, workspace_id=workspace.id, text=typed, limit=MOST + 1)
        if draft.occurrence_id:  # asked from the logged view: the request just logged is not offered
            logged = session.get(Occurrence, draft.occurrence_id)
            ids = [i for i in ids if logged is None or i != logged.request_id]
        options = [search_option(r.id, r.title, n, r.status) for r, n in _found(session, ids[:MOST])]
    ack(options=options)
