"""The PM's buttons on a request (alert, digest, `/requests`): *Planned* and *Reopen* act at once;
*Not yet…*, *Shipped…*, *Merge into…* and *Split off…* open a form (handlers/views/decision_modals.py).
Only PMs may act; anyone else gets a clear refusal."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks import REQUEST_ACTIONS
from handlers.common import actor, area_refusal, deps_of, mention
from handlers.home import publish as home
from handlers.notices import queue_status_notices
from handlers.text import escape
from handlers.values import read_id
from handlers.views import decision_modals
from storage import decisions, people
from storage import requests as store
from storage.db import session_scope
from storage.models import ProductArea

LABELS = {action_id: label for action_id, label, _ in REQUEST_ACTIONS}
VERBS = {
    "req_planned": "mark requests planned",
    "req_not_yet": "mark requests not yet",
    "req_shipped": "mark requests shipped",
    "req_merge": "merge requests",
    "req_split": "split requests",
    "req_reopen": "reopen requests",
}


def _where(body: dict[str, Any], fallback: str) -> str:
    return (body.get("channel") or {}).get("id", "") or fallback


def _say(client: WebClient, body: dict[str, Any], user: str, text: str, logger: Logger) -> None:
    """An ephemeral answer where the button was clicked (a DM by user id when that is not possible)."""
    try:
        client.chat_postEphemeral(channel=_where(body, user), user=user, text=text)
    except SlackApiError as e:
        logger.warning("ephemeral reply failed (%s); sending a DM", e.response.get("error"))
        client.chat_postMessage(channel=user, text=text)


def request_decision_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """One listener for req_planned, req_not_yet, req_shipped, req_merge and req_reopen."""
    ack()
    deps = deps_of(context)
    action_id = action.get("action_id", "")
    value = str(action.get("value") or "")
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        request = store.get_request(
            session=session, request_id=read_id(value, "decision button"), workspace_id=workspace.id
        )
        what = f"*{LABELS.get(action_id, action_id)}* on " + (
            f"#{request.id} “{escape(request.title)}”" if request else f"request “{escape(value)}”"
        )
        if not me.is_pm:
            _say(
                client,
                body,
                me.slack_user_id,
                f"Only PMs can {VERBS.get(action_id, 'decide on requests')}, so I changed nothing (you clicked "
                f"{what}). An admin can make you a PM with `/partnerbot pm add {mention(me)}`; "
                "`/requests mine` shows where your own requests stand.",
                logger,
            )
            return
        if request is None:
            _say(client, body, me.slack_user_id, f"I can't find that request (you clicked {what}).", logger)
            return
        if request.status == "merged":
            _say(
                client,
                body,
                me.slack_user_id,
                f"#{request.id} “{escape(request.title)}” was merged into #{request.merged_into_id}, and its "
                f"occurrences live there now — act on #{request.merged_into_id} instead (`/requests`).",
                logger,
            )
            return
        refusal = area_refusal(
            session, me, session.get(ProductArea, request.area_id), VERBS.get(action_id, "decide on requests")
        )
        if refusal:
            _say(client, body, me.slack_user_id, f"{refusal} I changed nothing (you clicked {what}).", logger)
            return
        meta = {
            "c": (body.get("channel") or {}).get("id", ""),
            "ts": (body.get("message") or {}).get("ts", ""),
        }
        if action_id in ("req_not_yet", "req_shipped", "req_merge", "req_split"):
            stats = store.request_stats(session=session, request_id=request.id)
            if action_id == "req_split" and stats.count < 2:
                _say(
                    client,
                    body,
                    me.slack_user_id,
                    f"#{request.id} “{escape(request.title)}” has only its first occurrence, so there is nothing "
                    "to split off it.",
                    logger,
                )
                return
            if action_id == "req_split":
                occurrences = store.occurrences_of(session=session, request_id=request.id)
                who = people.of_occurrences(session=session, occurrences=occurrences)
                view = decision_modals.split_modal(
                    request=request, stats=stats, occurrences=occurrences, who=who, meta=meta
                )
            elif action_id == "req_not_yet":
                area = session.get(ProductArea, request.area_id)
                view = decision_modals.not_yet_modal(request=request, stats=stats, area=area, meta=meta)
            elif action_id == "req_shipped":
                view = decision_modals.shipped_modal(request=request, stats=stats, meta=meta)
            else:
                candidates = decisions.merge_candidates(
                    session=session, request=request, limit=decision_modals.STATIC_OPTIONS + 1
                )
                view = decision_modals.merge_modal(
                    request=request, stats=stats, candidates=candidates, meta=meta
                )
            trigger = body.get("trigger_id", "")
        else:
            new_status = "planned" if action_id == "req_planned" else "open"
            if request.status == new_status:
                label = decisions.STATUS_LABELS[new_status]
                _say(
                    client,
                    body,
                    me.slack_user_id,
                    f"#{request.id} “{escape(request.title)}” is already {label}.",
                    logger,
                )
                return
            try:
                decision = decisions.set_status(session=session, request=request, status=new_status, by=me)
            except decisions.AlreadyDecided as e:  # a second click racing the first
                _say(client, body, me.slack_user_id, f"{e} (you clicked {what})", logger)
                return
            # Everyone who asked hears it (once each), and every Home showing it is refreshed.
            told = queue_status_notices(
                session=session, request=request, decision=decision, pm=me, report_to=me.slack_user_id
            )
            home.refresh_for_request(session, request_id=request.id, key=f"d{decision.id}")
            stats = store.request_stats(session=session, request_id=request.id)
            view = None
    if view is not None:
        try:
            client.views_open(trigger_id=trigger, view=view)
        except SlackApiError as e:
            logger.warning("views.open failed: %s", e.response.get("error"))
            _say(
                client,
                body,
                me.slack_user_id,
                f"Slack didn't let me open the form (it said `{escape(str(e.response.get('error')))}`). "
                f"Please click {what} again.",
                logger,
            )
        return
    deps.kick()
    n = told.people
    who = f"I told the {n} people who asked" if n != 1 else "I told the person who asked"
    if not n:
        who = "Nobody had logged it, so no one to tell"
    if request.status == "planned":
        text = (
            f":calendar: Marked #{request.id} “{escape(request.title)}” *planned*. {who}; "
            "when it ships, click *Shipped…* and I'll thank each of them."
        )
    else:
        text = (
            f":arrows_counterclockwise: Reopened #{request.id} “{escape(request.title)}”; it counts toward its "
            f"threshold again. {who}."
        )
    _say(client, body, me.slack_user_id, text, logger)
    if not (body.get("container") or {}).get("is_ephemeral"):
        channel = (body.get("channel") or {}).get("id", "")
        decision_modals.refresh_message(
            client, channel, body.get("message") or {}, request.id, request.status, me.slack_user_id, logger
        )
