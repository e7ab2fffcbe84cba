"""After a request is logged as new: "Asked for before in other words?"

When the matcher shows no "Same thing?" step (nothing looked close enough), the view that says the
request is logged carries the step's search too. The requester who knows it was asked before finds it
by any word of its title or of a phrasing confirmed as it, and their just-logged request is merged into
it: the count, the customers and the money land on the one request, the PM's rules weigh it there, and
the matcher learns the pair. So no repeat stays split because the matcher missed it.

Only the requester's own, just-logged request moves, and only while it is theirs alone and still open;
anything else is for a PM's Merge…. The picked option and the view's metadata are untrusted: the draft
must be the clicker's, the request this workspace's and searchable (storage.search.SEARCHABLE).
"""

from __future__ import annotations

import json
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, func, select

from handlers import standing
from handlers.blocks import context as context_block
from handlers.blocks import section
from handlers.common import actor, deps_of, sees_other_requests
from handlers.home.publish import refresh_for_request
from handlers.logging_flow import queue_alert
from handlers.text import clip, escape
from handlers.thanks import queue_not_yet
from handlers.values import ForgedValue
from handlers.views.repeat_builder import request_of_option
from handlers.views.request_modal_builder import draft_id_of
from storage import decisions, thresholds
from storage import requests as store
from storage.db import session_scope
from storage.matching import record_answer
from storage.models import Draft, FeatureRequest, Occurrence, Person, ProductArea, Workspace
from storage.search import SEARCHABLE

LOGGED_CALLBACK = "request_logged"
SEARCH_BLOCK = "logged_search"
SEARCH_ACTION = "logged_same_as"
LOST = "I lost track of this request; `/requests mine` shows it."
NOT_OFFERED = "That isn't a request I offered; type a few words of it and pick it from the list."


def logged_view(*, title: str, area: str, draft_id: int | None = None, note: str = "") -> dict[str, Any]:
    """The form's last view: logged. With `draft_id`, the search for the request it repeats (for people
    who see other people's requests); `note`: what the last pick in that search came to."""
    blocks = [
        section(f":white_check_mark: Logged for *{escape(area)}*: *{escape(clip(title, 300))}*"),
        context_block("Your receipt, with where it stands, is in your DMs."),
    ]
    if note:
        blocks.append(section(note))
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": LOGGED_CALLBACK,
        "title": {"type": "plain_text", "text": "Request logged"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": blocks,
    }
    if draft_id is not None:
        view["private_metadata"] = json.dumps({"draft": draft_id})
        blocks.append(
            {
                "type": "section",
                "block_id": SEARCH_BLOCK,
                "text": {
                    "type": "mrkdwn",
                    "text": "*Asked for before, in other words?* Find it, and I'll count this there instead.",
                },
                "accessory": {
                    "type": "external_select",
                    "action_id": SEARCH_ACTION,
                    "min_query_length": 2,
                    "placeholder": {"type": "plain_text", "text": "e.g. okta, csv export, rbac…"},
                },
            }
        )
    return view


def counted_view(*, request: FeatureRequest, area: ProductArea, lines: list[str]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": LOGGED_CALLBACK,
        "title": {"type": "plain_text", "text": "Request logged"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": [
            section(
                f":link: Counted with #{request.id} *{escape(clip(request.title, 300))}* "
                f"in *{escape(area.name)}* instead of as a new request."
            ),
            *([section("\n".join(lines))] if lines else []),
        ],
    }


def searched_request(
    session: Session, workspace: Workspace, request_id: int, *, then: str
) -> tuple[FeatureRequest | None, str]:
    """The request picked in a search (the step's or the logged view's), or why it can't be counted with
    (ending with `then`: what to do instead). The value came from the client: it must be this workspace's,
    and open, planned or not yet; one merged since it was offered counts with the request it went into
    (as a suggestion does)."""
    request = store.get_request(session=session, request_id=request_id, workspace_id=workspace.id)
    seen = set()
    while request is not None and request.status == "merged" and request.merged_into_id not in seen:
        seen.add(request.id)
        request = store.get_request(
            session=session, request_id=request.merged_into_id or 0, workspace_id=workspace.id
        )
    if request is None:
        return None, NOT_OFFERED
    if request.status not in SEARCHABLE:
        return None, (
            f"#{request.id} is {request.status.replace('_', ' ')} already, so it can't be counted again "
            f"here; {then}"
        )
    return request, ""


def logged_same_as(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """A request picked in the logged view's search: count the just-logged request there."""
    ack()
    deps = deps_of(context)
    view = body.get("view") or {}
    try:
        draft_id = draft_id_of(view)
    except ForgedValue:
        draft_id = None
    with session_scope(deps.engine) as session:
        workspace, person = actor(session, deps, context)
        draft = (
            store.get_draft(session=session, draft_id=draft_id, workspace_id=workspace.id)
            if draft_id
            else None
        )
        shown = _count_with(
            session,
            deps,
            workspace,
            person,
            draft,
            request_of_option(action.get("selected_option") if isinstance(action, dict) else None),
        )
    deps.kick()
    if shown is None:
        logger.warning("a pick in someone else's logged view was ignored")
        return
    try:
        client.views_update(view_id=str(view.get("id") or ""), hash=view.get("hash"), view=shown)
    except SlackApiError as e:  # closed meanwhile, or changed by another click: the DMs say what happened
        logger.warning("could not update the logged view: %s", e.response.get("error"))


def _count_with(
    session: Session,
    deps: Any,
    workspace: Workspace,
    me: Person,
    draft: Draft | None,
    picked: int | None,
) -> dict[str, Any] | None:
    """Merge the draft's just-logged request into the picked one; the view to show either way (None: the
    form isn't the clicker's)."""
    if draft is None or draft.person_id != me.id:
        return None  # not this person's form (a forged payload): nothing to show them, nothing moves
    if not draft.occurrence_id:
        return _again(None, None, LOST, None)
    occurrence = session.get(Occurrence, draft.occurrence_id)
    source = session.get(FeatureRequest, occurrence.request_id) if occurrence else None
    if occurrence is None or source is None or source.workspace_id != workspace.id:
        return _again(None, None, LOST, None)
    if source.status == "merged":
        target = decisions.final_target(session=session, request=source)
        area = session.get(ProductArea, target.area_id)
        return counted_view(request=target, area=area, lines=[])
    area_of_source = session.get(ProductArea, source.area_id)
    if not sees_other_requests(deps, me):
        return _again(source, area_of_source, "", None)
    target, problem = searched_request(session, workspace, picked or 0, then="pick another.")
    if problem:
        return _again(source, area_of_source, problem, draft.id)
    if target.id == source.id:
        return _again(
            source, area_of_source, "That's the request you just logged; pick the earlier one.", draft.id
        )
    others = session.exec(
        select(func.count()).select_from(Occurrence).where(Occurrence.request_id == source.id)
    ).one()
    if others != 1 or source.status != "open":
        return _again(
            source,
            area_of_source,
            f"#{source.id} isn't only yours any more (others counted with it, or its PM decided on it), so "
            f"I left it: ask the PM to merge #{source.id} into #{target.id}.",
            None,
        )
    try:
        merge = decisions.merge_requests(session=session, source=source, target=target, by=me)
    except decisions.DecisionError as e:
        return _again(source, area_of_source, str(e), None)
    target = merge.target
    record_answer(
        session,
        workspace_id=workspace.id,
        draft_id=draft.id,
        text=occurrence.text,
        same_as=target.id,
        shown=[],
    )
    if deps.matcher is not None:  # the request is now found by this phrasing too
        deps.matcher.forget(source.id)
        deps.matcher.learn(session, target)
    area = session.get(ProductArea, target.area_id)
    occurrence = session.get(Occurrence, occurrence.id)
    current, crossings = thresholds.evaluate(
        session=session, request=target, area=area, occurrence=occurrence
    )
    urgent = [c for c in crossings if c.rule == "amount" or area.alert_mode != "digest"]
    if urgent:
        queue_alert(session=session, request=target, area=area, current=current, crossings=urgent)
    pm = session.get(Person, area.pm_id) if area.pm_id else None
    lines = standing.status_lines(
        request=target, area=area, pm=pm, standing=current, new_crossings=crossings, occurrence=occurrence
    )
    if target.status == "not_yet":
        # Everyone else who asked heard why; so does this requester (by DM, once).
        last = decisions.last_decision(session=session, request_id=target.id, status="not_yet")
        if last is not None:
            queue_not_yet(
                session=session,
                request=target,
                area=area,
                decision=last,
                pm=session.get(Person, last.by_id) if last.by_id else pm,
            )
    refresh_for_request(session, request_id=target.id, key=f"d{merge.decision.id}")
    return counted_view(request=target, area=area, lines=lines)


def _again(source: FeatureRequest | None, area: ProductArea | None, note: str, draft_id: int | None) -> dict:
    """The logged view again, with what the last pick came to (and the search, to pick another)."""
    if source is None or area is None:
        return logged_view(title="your request", area="its area", note=note)
    return logged_view(title=source.title, area=area.name, draft_id=draft_id, note=note)
