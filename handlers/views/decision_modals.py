"""The PM's decision forms — *Not yet…* (a reason), *Shipped…* (note, link, customer note), *Merge into…*
(pick or type the request) — as pure builders, and what happens when each is submitted."""

from __future__ import annotations

import json
import re
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from handlers.blocks import REQUEST_ACTIONS, context, request_action_buttons, section
from handlers.common import Deps, actor, deps_of, fetch_message, mention
from handlers.home import publish as home
from handlers.standing import heard_text, rule_text
from handlers.text import clip, escape, plain, quote
from handlers.thanks import (
    default_customer_note,
    not_yet_summary,
    people_count,
    queue_dm,
    queue_not_yet,
    queue_thanks,
    shipped_summary,
)
from handlers.values import DecisionForm, as_id, read
from storage import decisions, people, thresholds
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, Occurrence, Person, ProductArea
from storage.requests import RequestStats

NOT_YET = "decision_not_yet"
SHIPPED = "decision_shipped"
MERGE = "decision_merge"
SPLIT = "decision_split"
MERGE_TARGET_ACTION = "merge_target_pick"  # its options come from handlers/views/suggestions.py
STATIC_OPTIONS = 100  # Slack's limit for a static select's options
REASON_LIMIT = 1500
NOTE_LIMIT = 1500
LINK_LIMIT = 500
_LINK = re.compile(r"^https?://\S+$", re.IGNORECASE)


def _input(
    block_id: str,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    max_length: int = 3000,
    placeholder: str = "",
    initial: str = "",
    hint: str = "",
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": plain(placeholder, 150)}
    if initial:
        element["initial_value"] = initial[:max_length]
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


def _modal(callback_id: str, title: str, submit: str, meta: dict[str, Any], blocks: list) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def request_line(request: FeatureRequest, stats: RequestStats) -> str:
    return f"*#{request.id} {escape(request.title)}* — {heard_text(stats.count, stats)}"


def not_yet_modal(
    *,
    request: FeatureRequest,
    stats: RequestStats,
    area: ProductArea | None,
    meta: dict[str, Any],
    reason: str = "",
) -> dict[str, Any]:
    focus = (
        f"your current focus (“{escape(clip(area.focus, 300))}”)"
        if area and area.focus
        else "your current focus (none set yet: `/focus [area]: [focus]`)"
    )
    blocks = [
        section(request_line(request, stats)),
        context(
            f"Everyone who asked ({people_count(len(stats.requesters))}) gets your reason by DM, with {focus}, "
            "and hears that their occurrences stay counted."
        ),
        _input(
            "reason",
            "Why not yet?",
            multiline=True,
            max_length=REASON_LIMIT,
            placeholder="e.g. This quarter goes to self-serve onboarding; we'll revisit in Q3.",
            initial=reason,
        ),
    ]
    return _modal(NOT_YET, "Not yet", "Tell them", {**meta, "r": request.id}, blocks)


def shipped_modal(
    *, request: FeatureRequest, stats: RequestStats, meta: dict[str, Any], note: str = "", link: str = ""
) -> dict[str, Any]:
    """`note` and `link` prefill the form (from a tracker's issue that closed as done)."""
    accounts = f" across {stats.customer_count} account{'s' if stats.customer_count != 1 else ''}"
    blocks = [
        section(request_line(request, stats)),
        context(
            f"{people_count(len(stats.requesters))}{accounts if stats.customer_count else ''} "
            f"{'gets' if len(stats.requesters) == 1 else 'get'} a thank-you, "
            "in the thread where they raised it or by DM, with the note below to forward to their customer."
        ),
        _input(
            "note",
            "Note for the people who asked (optional)",
            multiline=True,
            optional=True,
            max_length=NOTE_LIMIT,
            placeholder="What shipped, any caveats, who to ask",
            initial=note,
        ),
        _input(
            "link",
            "Link (optional)",
            optional=True,
            max_length=LINK_LIMIT,
            placeholder="https://… release notes or docs",
            initial=link,
        ),
        _input(
            "customer_note",
            "Note they can forward to their customer",
            multiline=True,
            max_length=NOTE_LIMIT,
            initial=default_customer_note(request),
        ),
    ]
    return _modal(SHIPPED, "Shipped", "Thank them", {**meta, "r": request.id}, blocks)


def merge_modal(
    *,
    request: FeatureRequest,
    stats: RequestStats,
    candidates: list[decisions.Listed],
    meta: dict[str, Any],
) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        section(request_line(request, stats)),
        context(
            "Its occurrences move to the request you pick; nothing is lost, and everyone who asked either one "
            "is kept (and thanked when it ships)."
        ),
    ]
    if len(candidates) > STATIC_OPTIONS:
        # More than a menu lists: the request is found by typing its number or words.
        blocks.append(
            {
                "type": "input",
                "block_id": "target",
                "optional": True,
                "element": {
                    "type": "external_select",
                    "action_id": MERGE_TARGET_ACTION,
                    "min_query_length": 1,
                    "placeholder": {"type": "plain_text", "text": "Type a request's number or words"},
                },
                "label": {"type": "plain_text", "text": "Merge into"},
            }
        )
    elif candidates:
        options = [
            {
                "text": {
                    "type": "plain_text",
                    "text": plain(f"#{c.request.id} {c.request.title} ({c.stats.count}×)", 75),
                },
                "value": str(c.request.id),
            }
            for c in candidates[:100]
        ]
        blocks.append(
            {
                "type": "input",
                "block_id": "target",
                "optional": True,
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "placeholder": {"type": "plain_text", "text": "Pick a request"},
                    "options": options,
                },
                "label": {"type": "plain_text", "text": "Merge into"},
            }
        )
    blocks.append(
        _input(
            "number",
            "Or type the request number" if candidates else "Merge into request number",
            optional=bool(candidates),
            max_length=20,
            placeholder="e.g. 42",
            hint="Request numbers are shown as #42 in alerts, digests and /requests.",
        )
    )
    return _modal(MERGE, "Merge into…", "Merge", {**meta, "r": request.id}, blocks)


def split_modal(
    *,
    request: FeatureRequest,
    stats: RequestStats,
    occurrences: list[Occurrence],
    who: dict[int, Person],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Pick the occurrence that was counted here by mistake; it becomes a request of its own."""
    options = []
    for occ in reversed(occurrences[-100:]):  # newest first; Slack lists at most 100 options
        person = who.get(occ.logged_by_id)
        name = person.name if person and person.name else "someone"
        customer = f" · {occ.customer}" if occ.customer else ""
        options.append(
            {
                "text": {"type": "plain_text", "text": plain(f"{name}{customer}: “{occ.text}”", 75)},
                "value": str(occ.id),
            }
        )
    blocks: list[dict[str, Any]] = [
        section(request_line(request, stats)),
        context(
            "The occurrence you pick was counted here but is a different need: it becomes a request of its "
            "own, its requester is told, and this request stops being matched on its words. Everything "
            "else stays as it is."
        ),
        {
            "type": "input",
            "block_id": "occurrence",
            "element": {
                "type": "static_select",
                "action_id": "value",
                "placeholder": {"type": "plain_text", "text": "Pick an occurrence"},
                "options": options,
            },
            "label": {"type": "plain_text", "text": "Split off"},
        },
    ]
    return _modal(SPLIT, "Split off…", "Split off", {**meta, "r": request.id}, blocks)


# -- submissions -----------------------------------------------------------------------------------
def _values(view: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block_id, block in ((view.get("state") or {}).get("values") or {}).items():
        element = block.get("value") or next(iter(block.values()), {})
        if element.get("type") in ("static_select", "external_select"):
            out[block_id] = ((element.get("selected_option") or {}).get("value")) or ""
        else:
            out[block_id] = (element.get("value") or "").strip()
    return out


def _meta(view: dict[str, Any]) -> DecisionForm:
    return read(DecisionForm, view.get("private_metadata"), "decision form")


def _load(
    session: Session, deps: Deps, context: BoltContext, view: dict[str, Any]
) -> tuple[Person, FeatureRequest | None]:
    workspace, me = actor(session, deps, context)
    request = store.get_request(session=session, request_id=_meta(view).r, workspace_id=workspace.id)
    return me, request


def _refuse(ack: Ack, block_id: str, me: Person, request: FeatureRequest | None, session: Session) -> bool:
    """Answer the form with an error when the submitter may not decide, or the request is gone."""
    if not me.is_pm:
        ack(
            response_action="errors",
            errors={
                block_id: "Only PMs can decide on requests. Ask an admin to make you one with "
                "/partnerbot pm add @you. What you typed is still here."
            },
        )
        return True
    if request is None:
        ack(response_action="errors", errors={block_id: "I can't find that request any more."})
        return True
    if request.status == "merged":
        ack(
            response_action="errors",
            errors={
                block_id: f"#{request.id} was merged into #{request.merged_into_id}; decide on that one."
            },
        )
        return True
    area = session.get(ProductArea, request.area_id)
    if not people.may_manage(person=me, area=area):
        owner = session.get(Person, area.pm_id) if area.pm_id else None
        ack(
            response_action="errors",
            errors={
                block_id: f"{area.name} belongs to {owner.name if owner and owner.name else 'another PM'}, "
                "so only they (or an admin who is a PM) can decide on its requests. What you typed is still here."
            },
        )
        return True
    return False


def refresh_message(
    client: WebClient,
    channel: str,
    message: dict[str, Any],
    request_id: int,
    status: str,
    who: str,
    logger: Logger,
) -> None:
    """Show the new status on the message the button was in (alerts, digests): new buttons, and who did it."""
    if not message.get("ts") or not channel:
        return
    ours = {a for a, _, _ in REQUEST_ACTIONS}
    blocks = []
    for block in message.get("blocks") or []:
        if block.get("block_id") == f"req_status_{request_id}":
            continue
        if block.get("block_id") == f"req_actions_{request_id}":
            fresh = request_action_buttons(request_id, status)
            fresh["elements"] += [e for e in block.get("elements", []) if e.get("action_id") not in ours]
            blocks.append(fresh)
            label = decisions.STATUS_LABELS.get(status, status)
            status_block = context(f"Marked *{label}* by {mention(who)}.")
            status_block["block_id"] = f"req_status_{request_id}"
            blocks.append(status_block)
            continue
        blocks.append(block)
    try:
        client.chat_update(channel=channel, ts=message["ts"], text=message.get("text") or "", blocks=blocks)
    except SlackApiError as e:  # an old or deleted message: the decision stands anyway
        logger.info("could not update the message: %s", e.response.get("error"))


def refresh_origin(
    client: WebClient, view: dict[str, Any], request_id: int, status: str, who: str, logger: Logger
):
    """After a form opened from a button: show the decision on the message that button was in."""
    meta = _meta(view)
    channel, ts = meta.c, meta.ts
    if channel and ts:
        message = fetch_message(client, channel, ts)
        if message:
            refresh_message(client, channel, message, request_id, status, who, logger)


def not_yet_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    deps = deps_of(context)
    values = _values(view)
    reason = values.get("reason", "")
    with session_scope(deps.engine) as session:
        me, request = _load(session, deps, context, view)
        if _refuse(ack, "reason", me, request, session):
            return
        if not reason:
            ack(
                response_action="errors",
                errors={"reason": "Please say why — everyone who asked will read it."},
            )
            return
        area = session.get(ProductArea, request.area_id)
        try:
            decision = decisions.set_status(
                session=session, request=request, status="not_yet", by=me, reason=reason
            )
        except decisions.AlreadyDecided as e:  # another form, or another PM, decided it a moment ago
            ack(response_action="errors", errors={"reason": f"{e} Cancel to leave it as it stands."})
            return
        queued = queue_not_yet(
            session=session, request=request, area=area, decision=decision, pm=me, report_to=me.slack_user_id
        )
        queue_dm(
            session=session,
            to=me,
            key=f"summary:{decision.id}",
            text=not_yet_summary(request, queued) + f"\n> Your reason: {quote(reason, 600)}",
            workspace_id=request.workspace_id,
        )
        home.refresh_for_request(session, request_id=request.id, key=f"d{decision.id}")
        done = (request.id, request.status, me.slack_user_id)
    ack()
    deps.kick()
    refresh_origin(client, view, *done, logger)


def shipped_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    deps = deps_of(context)
    values = _values(view)
    link = values.get("link", "")
    if link and not _LINK.match(link):
        ack(
            response_action="errors",
            errors={"link": f"A link starts with https:// and has no spaces. You typed: {clip(link, 200)}"},
        )
        return
    with session_scope(deps.engine) as session:
        me, request = _load(session, deps, context, view)
        if _refuse(ack, "note", me, request, session):
            return
        try:
            decision = decisions.set_status(
                session=session,
                request=request,
                status="shipped",
                by=me,
                note=values.get("note", ""),
                link=link,
                customer_note=values.get("customer_note", "") or default_customer_note(request),
            )
        except decisions.AlreadyDecided as e:  # another form, or another PM, shipped it a moment ago
            ack(response_action="errors", errors={"note": f"{e} Cancel to leave it as it stands."})
            return
        queued = queue_thanks(
            session=session, request=request, decision=decision, pm=me, report_to=me.slack_user_id
        )
        queue_dm(
            session=session,
            to=me,
            key=f"summary:{decision.id}",
            text=shipped_summary(request, queued),
            workspace_id=request.workspace_id,
        )
        home.refresh_for_request(session, request_id=request.id, key=f"d{decision.id}")
        done = (request.id, request.status, me.slack_user_id)
    ack()
    deps.kick()
    refresh_origin(client, view, *done, logger)


def merge_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    deps = deps_of(context)
    values = _values(view)
    picked, typed = values.get("target", ""), values.get("number", "")
    field = "number"
    with session_scope(deps.engine) as session:
        me, source = _load(session, deps, context, view)
        if _refuse(ack, field, me, source, session):
            return
        if picked and typed and picked != typed.lstrip("#").strip():
            ack(
                response_action="errors",
                errors={
                    field: f"Pick one or type one, not both (you picked #{picked} and typed “{clip(typed, 20)}”)."
                },
            )
            return
        wanted = picked or typed.lstrip("#").strip()
        if not wanted:
            ack(
                response_action="errors",
                errors={field: "Pick the request to merge into, or type its number."},
            )
            return
        target = (
            store.get_request(session=session, request_id=as_id(wanted), workspace_id=source.workspace_id)
            if as_id(wanted) is not None
            else None
        )
        if target is None:
            ack(
                response_action="errors",
                errors={
                    field: f"There is no request #{clip(wanted, 20)} here. You typed: {clip(typed or picked, 20)}"
                },
            )
            return
        if not people.may_manage(person=me, area=session.get(ProductArea, target.area_id)):
            ack(
                response_action="errors",
                errors={
                    field: f"#{target.id} is in an area another PM owns; merge only into your own areas."
                },
            )
            return
        try:
            merge = decisions.merge_requests(session=session, source=source, target=target, by=me)
        except decisions.DecisionError as e:
            ack(response_action="errors", errors={field: str(e)})
            return
        target = merge.target
        if deps.matcher is not None:  # the target is now found by the merged request's phrasings too
            deps.matcher.forget(merge.source.id)
            deps.matcher.learn(session, target)
        stats = store.request_stats(session=session, request_id=target.id)
        text = (
            f":twisted_rightwards_arrows: Merged #{merge.source.id} *{escape(merge.source.title)}* into "
            f"#{target.id} *{escape(target.title)}*: {merge.moved_occurrences} occurrence"
            f"{'s' if merge.moved_occurrences != 1 else ''} moved. It's now {heard_text(stats.count, stats)}, "
            f"from {people_count(len(stats.requesters))}; everyone who asked either one is kept."
        )
        latest = store.occurrences_of(session=session, request_id=target.id)[-1:]
        if latest and target.status not in ("shipped", "merged"):
            area = session.get(ProductArea, target.area_id)
            _, crossings = thresholds.evaluate(
                session=session, request=target, area=area, occurrence=latest[0]
            )
            if crossings:
                # Recorded like any crossing (the digest shows it); the PM merging it is told here.
                text += (
                    f" Together they are over the threshold for *{escape(area.name)}* "
                    f"({rule_text(area)}): go over them with the people who asked."
                )
        if target.status == "not_yet":
            # It is "not yet": the people who asked for the merged-in request hear why, as the others did.
            last = decisions.last_decision(session=session, request_id=target.id, status="not_yet")
            if last is not None:
                queued = queue_not_yet(
                    session=session,
                    request=target,
                    area=session.get(ProductArea, target.area_id),
                    decision=last,
                    pm=me,
                    report_to=me.slack_user_id,
                )
                new = queued.people - queued.already
                if new:
                    text += f" It is *not yet*, so I told the {people_count(new)} who hadn't heard why."
        if target.status == "shipped":
            # It already shipped: the people who asked for the merged-in request are thanked now.
            last = decisions.last_decision(session=session, request_id=target.id, status="shipped")
            if last is not None:
                queued = queue_thanks(
                    session=session, request=target, decision=last, pm=me, report_to=me.slack_user_id
                )
                new = queued.people - queued.already
                text += (
                    f" It has shipped, so I'm thanking the {people_count(new)} who hadn't been thanked yet."
                )
        queue_dm(
            session=session,
            to=me,
            key=f"summary:{merge.decision.id}",
            text=text,
            workspace_id=target.workspace_id,
        )
        home.refresh_for_request(session, request_id=target.id, key=f"d{merge.decision.id}")
    ack()
    deps.kick()


def split_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    deps = deps_of(context)
    picked = _values(view).get("occurrence", "")
    with session_scope(deps.engine) as session:
        me, request = _load(session, deps, context, view)
        if _refuse(ack, "occurrence", me, request, session):
            return
        picked_id = as_id(picked)
        if picked_id is None:
            ack(response_action="errors", errors={"occurrence": "Pick the occurrence to split off."})
            return
        try:
            new = decisions.split_occurrence(session=session, request=request, occurrence_id=picked_id)
        except decisions.DecisionError as e:
            ack(response_action="errors", errors={"occurrence": str(e)})
            return
        occurrence = session.get(Occurrence, picked_id)
        if deps.matcher is not None:  # neither is matched on the other's words any more
            deps.matcher.learn(session, request)
            deps.matcher.add(session, new)
        area = session.get(ProductArea, request.area_id)
        _, crossings = thresholds.evaluate(session=session, request=new, area=area, occurrence=occurrence)
        stats = store.request_stats(session=session, request_id=request.id)
        text = (
            f":scissors: Split “{escape(clip(occurrence.text, 200))}” off #{request.id} *{escape(request.title)}* "
            f"into a request of its own, #{new.id}. #{request.id} is now {heard_text(stats.count, stats)}."
        )
        if crossings:
            text += (
                f" On its own, #{new.id} is over the threshold for *{escape(area.name)}* ({rule_text(area)})."
            )
        requester = session.get(Person, occurrence.logged_by_id)
        if requester is not None and requester.id != me.id:
            queue_dm(
                session=session,
                to=requester,
                key=f"split:{occurrence.id}:{new.id}",
                text=(
                    f"{mention(me)} looked at what you logged, “{escape(clip(occurrence.text, 300))}”"
                    + (f" for {escape(occurrence.customer)}" if occurrence.customer else "")
                    + f", and it's a different need from *{escape(request.title)}*: it now counts as a request "
                    f"of its own, #{new.id}. Your answers are kept; `/requests mine` shows where it stands."
                ),
                workspace_id=request.workspace_id,
                kind="split_note",
            )
            text += f" I told {mention(requester)}."
        queue_dm(
            session=session,
            to=me,
            key=f"split-summary:{occurrence.id}:{new.id}",
            text=text,
            workspace_id=request.workspace_id,
        )
    ack()
    deps.kick()
