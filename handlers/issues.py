"""Requests linked to tracker issues, and what an issue's change does to them.

A PM links a request to an issue with *Link issue…* on the request (a form for the issue's URL). From then
on the tracker's webhook (bot/http.py → handle_webhook) or the clock's polling (bot/clock.py) reports the
issue's state, and `apply_state` acts once per change:

- moved to in progress → the request is marked *planned*, exactly as the *Planned* button does
  (storage/decisions.set_status, then a note to everyone who asked), and the PM hears why;
- closed as done → the owning PM gets "Shipped — thank everyone?" with a button that opens the *Shipped*
  form prefilled with the issue's title and link: the thank-yous go out only when the PM sends that form;
- closed as won't do / duplicate / not planned → the PM is offered *Not yet…* instead.

Nothing here ever thanks anyone by itself, and nothing is sent to a tracker the workspace hasn't connected.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from handlers.blocks import button, context, issue_ref_text, link_status_text, section
from handlers.common import actor, area_refusal, deps_of, mention
from handlers.home import publish as home
from handlers.notices import queue_status_notices
from handlers.text import clip, escape, plain
from handlers.thanks import people_count
from handlers.values import DecisionForm, ForgedValue, IssueRefValue, read, read_id
from integrations import connections
from integrations.base import (
    CANCELED,
    DONE,
    LABELS,
    OPEN,
    STARTED,
    BadCredentials,
    Issue,
    MissingScope,
    NotFound,
    ServiceError,
    tracker,
    trackers,
)
from storage import decisions, issues, outbox
from storage import requests as store
from storage.db import session_scope
from storage.models import FeatureRequest, IssueLink, Person, ProductArea, utcnow

log = logging.getLogger(__name__)

LINK_ACTION = "req_link_issue"
LINK_CALLBACK = "link_issue"
SHIP_ACTION = "issue_shipped"
NOT_YET_ACTION = "issue_not_yet"
URL_LIMIT = 500


def register(app: Any) -> None:
    app.action(LINK_ACTION)(link_issue_button)
    app.view_submission(LINK_CALLBACK)(link_issue_submission)
    app.action(SHIP_ACTION)(offered_decision_button)
    app.action(NOT_YET_ACTION)(offered_decision_button)


# -- what a change does ----------------------------------------------------------------------------
@dataclass
class Applied:
    links: int = 0
    changed: int = 0
    planned: int = 0
    offered: int = 0
    # Requests already acted on in this pass: a request merged into another that links the same issue
    # is acted on once, as the request it now is.
    acted: set[int] = field(default_factory=set)


def owner_of(session: Session, request: FeatureRequest, link: IssueLink) -> Person | None:
    """Who decides on the request: its area's PM, else the PM who linked the issue."""
    area = session.get(ProductArea, request.area_id)
    if area is not None and area.pm_id:
        pm = session.get(Person, area.pm_id)
        if pm is not None and not pm.deactivated:
            return pm
    return session.get(Person, link.linked_by_id) if link.linked_by_id else None


def apply_state(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    key: str,
    state: str,
    state_label: str,
    title: str = "",
    url: str = "",
    only: IssueLink | None = None,
    now: datetime | None = None,
) -> Applied:
    """Record the issue's state on every request linked to it (or only on `only`) and act on each change.
    Each change is acted on once: what it sends is keyed on the link and its count of changes."""
    now = now or utcnow()
    done = Applied()
    links = (
        [only]
        if only is not None
        else issues.links_of_issue(session, workspace_id=workspace_id, kind=kind, key=key)
    )
    for link in links:
        done.links += 1
        if title:
            link.title = title
        if url and url.startswith("http"):
            link.url = url
        link.state_label = state_label[:255]
        link.checked_at = now
        if link.state == state:
            session.add(link)
            continue
        first = not link.state
        link.state = state
        if first and state == OPEN:  # first seen open (linked while the tracker was down): nothing to do
            session.add(link)
            continue
        link.changes += 1
        session.add(link)
        session.flush()
        done.changed += 1
        _act(session, link, done)
    return done


def _act(session: Session, link: IssueLink, done: Applied) -> None:
    request = session.get(FeatureRequest, link.request_id)
    if request is None:
        return
    if request.status == "merged":
        request = decisions.final_target(session=session, request=request)
    if request.id in done.acted:
        return
    done.acted.add(request.id)
    pm = owner_of(session, request, link)
    if pm is None:
        log.info("issue %s changed but request #%s has no PM to act for", link.issue_key, request.id)
        return
    label = LABELS.get(link.kind, link.kind)
    what = f"#{request.id} “{escape(request.title)}”"
    if link.state == STARTED and request.status in ("open", "not_yet"):
        try:
            decision = decisions.set_status(session=session, request=request, status="planned", by=pm)
        except decisions.DecisionError:
            return
        told = queue_status_notices(
            session=session, request=request, decision=decision, pm=pm, report_to=pm.slack_user_id
        )
        home.refresh_for_request(session, request_id=request.id, key=f"d{decision.id}")
        who = f"told the {people_count(told.people)} who asked" if told.people else "nobody had logged it yet"
        _dm(
            session,
            pm,
            key=f"issue-planned:{link.id}:{link.changes}",
            text=f":calendar: {issue_ref_text(link)} moved to *{escape(link.state_label or 'in progress')}*, so I "
            f"marked {what} *planned* and {who}.",
            workspace_id=request.workspace_id,
        )
        done.planned += 1
    elif link.state == DONE and request.status not in ("shipped", "merged"):
        stats = store.request_stats(session=session, request_id=request.id)
        text = (
            f":tada: Shipped — thank everyone? {issue_ref_text(link)} was closed as "
            f"*{escape(link.state_label or 'done')}*. {what} was asked for by {people_count(len(stats.requesters))}."
        )
        _dm(
            session,
            pm,
            key=f"issue-done:{link.id}:{link.changes}",
            text=text,
            workspace_id=request.workspace_id,
            blocks=_offer_blocks(
                text,
                request,
                link,
                "Shipped… thank them",
                SHIP_ACTION,
                style="primary",
                note=f"The form opens with {label}'s title and link filled in; nobody is thanked until you send it.",
            ),
        )
        done.offered += 1
    elif link.state == CANCELED and request.status not in ("shipped", "merged", "not_yet"):
        text = (
            f":no_entry_sign: {issue_ref_text(link)} was closed as *{escape(link.state_label or 'not done')}*. "
            f"Tell the people who asked for {what} it's *not yet*, and why?"
        )
        _dm(
            session,
            pm,
            key=f"issue-canceled:{link.id}:{link.changes}",
            text=text,
            workspace_id=request.workspace_id,
            blocks=_offer_blocks(text, request, link, "Not yet…", NOT_YET_ACTION),
        )
        done.offered += 1


def _offer_blocks(
    text: str,
    request: FeatureRequest,
    link: IssueLink,
    label: str,
    action_id: str,
    *,
    style: str | None = None,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """The PM's offer after a linked issue closed: the message, one button naming the request and the
    link, and an optional line under it."""
    value = json.dumps({"r": request.id, "l": link.id})
    blocks = [
        section(text),
        {
            "type": "actions",
            "block_id": f"issue_offer_{link.id}",
            "elements": [button(label, action_id, value, style)],
        },
    ]
    return blocks + [context(note)] if note else blocks


def _dm(
    session: Session,
    to: Person,
    *,
    key: str,
    text: str,
    workspace_id: int,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    outbox.enqueue(
        session=session,
        key=key,
        payload={"channel": to.slack_user_id, "text": clip(text, 3000), "blocks": blocks or [section(text)]},
        workspace_id=workspace_id,
        kind="issue_note",
    )


# -- webhooks --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookAnswer:
    status: str
    body: dict[str, Any]
    acted: bool = False


def handle_webhook(
    engine: Engine, kind: str, headers: Mapping[str, str], body: bytes, now: datetime | None = None
) -> WebhookAnswer:
    """A tracker's POST to /integrations/<kind>: verified against each connection's webhook secret (the
    tracker's own signature scheme), deduplicated on its delivery id and its body, then acted on."""
    now = now or utcnow()
    found = tracker(kind)
    if found is None:
        return WebhookAnswer("404 Not Found", {"error": "not found"})
    with session_scope(engine) as session:
        candidates = [(c.id, c.workspace_id) for c in connections.of_kind(session, kind=kind)]
    workspace_id = None
    reasons = []
    for _, ws in candidates:
        with session_scope(engine) as session:
            creds = connections.credentials(session, workspace_id=ws, kind=kind)
        if creds is None:
            continue
        problem = found.verify_webhook(creds, headers, body, now)
        if problem is None:
            workspace_id = ws
            break
        reasons.append(problem)
    if workspace_id is None:
        log.warning(
            "refused an unverified %s webhook: %s", kind, "; ".join(sorted(set(reasons))) or "no connection"
        )
        return WebhookAnswer("401 Unauthorized", {"error": "invalid signature"})
    try:
        delivery = found.parse_webhook(headers, body)
    except (ValueError, TypeError, AttributeError, KeyError):
        log.warning("a verified %s webhook could not be read", kind)
        return WebhookAnswer("400 Bad Request", {"error": "unreadable payload"})
    digest = issues.body_digest(body)
    with session_scope(engine) as session:
        claim = issues.claim_delivery(
            session,
            kind=kind,
            delivery_id=delivery.delivery_id or digest,
            body_sha=digest,
            workspace_id=workspace_id,
            now=now,
        )
        if claim == "replay":
            session.rollback()
            log.warning("refused a replayed %s webhook (delivery %s)", kind, delivery.delivery_id[:80])
            return WebhookAnswer("401 Unauthorized", {"error": "replayed delivery"})
        if claim == "duplicate":
            return WebhookAnswer("200 OK", {"ok": True, "duplicate": True})
        change = delivery.change
        if change is None:
            return WebhookAnswer("200 OK", {"ok": True, "ignored": True})
        applied = apply_state(
            session,
            workspace_id=workspace_id,
            kind=kind,
            key=change.key,
            state=change.state,
            state_label=change.state_label,
            title=change.title,
            url=change.url,
            now=now,
        )
    return WebhookAnswer(
        "200 OK", {"ok": True, "links": applied.links, "changed": applied.changed}, acted=applied.changed > 0
    )


# -- polling ---------------------------------------------------------------------------------------
def poll_connection(
    engine: Engine,
    *,
    workspace_id: int,
    kind: str,
    limit: int = 50,
    budget_s: float = 20.0,
    now: datetime | None = None,
):
    """Fetch the issues linked in one workspace from one tracker and act on what changed. Each observed
    change is claimed like a webhook delivery (`poll:` ids), so two clocks polling at once act once.
    Returns (issues fetched, changes acted on); a ServiceError stops the pass and is noted on the
    connection."""
    now = now or utcnow()
    found = tracker(kind)
    with session_scope(engine) as session:
        creds = connections.credentials(session, workspace_id=workspace_id, kind=kind)
        watched = issues.watched_issues(session, workspace_id=workspace_id, kind=kind, limit=limit)
        conn = connections.get_connection(session, workspace_id=workspace_id, kind=kind)
        conn_id = conn.id if conn else None
    if found is None or creds is None or not watched:
        return 0, 0
    fetched = changed = 0
    error = ""
    deadline = time.monotonic() + budget_s
    for item in watched:
        if time.monotonic() > deadline:  # the rest wait for the next pass (least recently checked first)
            break
        try:
            issue = found.get_issue(creds, issues_ref(item))
        except NotFound:
            continue
        except ServiceError as e:
            error = str(e)
            break
        fetched += 1
        with session_scope(engine) as session:
            links = issues.links_of_issue(session, workspace_id=workspace_id, kind=kind, key=item.key)
            stale = [lnk for lnk in links if lnk.state != issue.state]
            if stale:
                marker = f"poll:{workspace_id}:{item.key}:{issue.state}:{min(lnk.changes for lnk in stale)}"
                claim = issues.claim_delivery(
                    session,
                    kind=kind,
                    delivery_id=marker,
                    body_sha=issues.body_digest(marker.encode()),
                    workspace_id=workspace_id,
                    now=now,
                )
                if claim != "new":
                    continue
            applied = apply_state(
                session,
                workspace_id=workspace_id,
                kind=kind,
                key=item.key,
                state=issue.state,
                state_label=issue.state_label,
                title=issue.title,
                url=issue.url,
                now=now,
            )
            changed += applied.changed
    if conn_id is not None:
        with session_scope(engine) as session:
            connections.note_check(session, connection_id=conn_id, error=error, now=now)
    return fetched, changed


def issues_ref(item: issues.Watched):
    from integrations.base import IssueRef

    return IssueRef(item.kind, item.key, item.url)


def polled_connections(engine: Engine, *, with_webhooks: bool = False) -> list[tuple[int, str]]:
    """(workspace, kind) of every tracker connection without a webhook secret (and, `with_webhooks`, those
    with one too: a catch-up for deliveries missed while this app was down)."""
    out = []
    for t in trackers():
        with session_scope(engine) as session:
            rows = [(c.workspace_id, c.kind) for c in connections.of_kind(session, kind=t.kind)]
        for ws, kind in rows:
            with session_scope(engine) as session:
                creds = connections.credentials(session, workspace_id=ws, kind=kind)
            if creds is not None and (with_webhooks or not creds.get("webhook_secret")):
                out.append((ws, kind))
    return out


# -- Slack: Link issue… ----------------------------------------------------------------------------
def _say(client: WebClient, body: dict[str, Any], user: str, text: str, logger: Logger) -> None:
    channel = (body.get("channel") or {}).get("id", "") or user
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as e:
        logger.warning("ephemeral reply failed (%s); sending a DM", e.response.get("error"))
        client.chat_postMessage(channel=user, text=text)


def link_modal(
    *, request: FeatureRequest, links: list[IssueLink], connected: list[str], meta: dict[str, Any]
) -> dict[str, Any]:
    names = " or ".join(LABELS[k] for k in connected)
    blocks: list[dict[str, Any]] = [
        section(f"*#{request.id} {escape(request.title)}*"),
        context(
            f"Paste the {names} issue this request is tracked in. When it moves to in progress I mark the request "
            "planned; when it closes I ask you whether to thank everyone who asked."
        ),
    ]
    if links:
        blocks.append(context("Linked already: " + "; ".join(link_status_text(lnk) for lnk in links)))
    blocks.append(
        {
            "type": "input",
            "block_id": "url",
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "max_length": URL_LIMIT,
                "placeholder": {"type": "plain_text", "text": "https://github.com/acme/app/issues/12"},
            },
            "label": {"type": "plain_text", "text": "Issue link"},
        }
    )
    return {
        "type": "modal",
        "callback_id": LINK_CALLBACK,
        "private_metadata": json.dumps({**meta, "r": request.id}),
        "title": {"type": "plain_text", "text": "Link issue"},
        "submit": {"type": "plain_text", "text": "Link"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _may_decide(session: Session, me: Person, request: FeatureRequest | None, verb: str) -> str | None:
    if not me.is_pm:
        return (
            f"Only PMs can {verb}, so I changed nothing. An admin can make you a PM with "
            f"`/partnerbot pm add {mention(me)}`."
        )
    if request is None:
        return "I can't find that request."
    if request.status == "merged":
        return f"#{request.id} was merged into #{request.merged_into_id}; act on that one instead."
    return area_refusal(session, me, session.get(ProductArea, request.area_id), verb)


def link_issue_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    ack()
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        request = store.get_request(
            session=session,
            request_id=read_id(str(action.get("value") or ""), "link issue button"),
            workspace_id=workspace.id,
        )
        refusal = _may_decide(session, me, request, "link requests to issues")
        if refusal:
            _say(client, body, me.slack_user_id, refusal, logger)
            return
        connected = [k for k in connections.connected_kinds(session, workspace_id=workspace.id) if tracker(k)]
        if not connected:
            _say(
                client,
                body,
                me.slack_user_id,
                "No issue tracker is connected here yet: an admin connects one with `/partnerbot connect github` "
                "(or `linear`, `jira`), then *Link issue…* takes the issue's link.",
                logger,
            )
            return
        meta = {
            "c": (body.get("channel") or {}).get("id", ""),
            "ts": (body.get("message") or {}).get("ts", ""),
        }
        view = link_modal(
            request=request,
            links=issues.links_of_request(session, request_id=request.id),
            connected=connected,
            meta=meta,
        )
        user = me.slack_user_id
    try:
        client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
    except SlackApiError as e:
        _say(
            client,
            body,
            user,
            f"Slack didn't let me open the form (it said `{escape(str(e.response.get('error')))}`). "
            "Please click *Link issue…* again.",
            logger,
        )


def link_issue_submission(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    deps = deps_of(context)
    state = ((view.get("state") or {}).get("values") or {}).get("url") or {}
    typed = str((state.get("value") or {}).get("value") or "").strip()
    try:
        meta = read(DecisionForm, view.get("private_metadata"), "link issue form")
    except ForgedValue as e:
        ack(response_action="errors", errors={"url": f"{e}; open the form again from the request."})
        return
    url = typed.split()[0] if typed else ""
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        request = store.get_request(session=session, request_id=meta.r, workspace_id=workspace.id)
        refusal = _may_decide(session, me, request, "link requests to issues")
        if refusal:
            ack(
                response_action="errors",
                errors={"url": plain(refusal, 300) + " What you typed is still here."},
            )
            return
        ref = next((r for r in (t.parse_issue_url(url) for t in trackers()) if r is not None), None)
        if ref is None:
            ack(
                response_action="errors",
                errors={
                    "url": "That isn't a link to a GitHub, Linear or Jira issue (like https://github.com/acme/app/"
                    f"issues/12). You typed: {clip(typed, 150)}"
                },
            )
            return
        label = LABELS[ref.kind]
        creds = connections.credentials(session, workspace_id=workspace.id, kind=ref.kind)
        if creds is None:
            ack(
                response_action="errors",
                errors={
                    "url": f"{label} isn't connected here, so I can't follow that issue: an admin connects it with "
                    f"/partnerbot connect {ref.kind}."
                },
            )
            return
        request_id, me_id, workspace_id = request.id, me.id, workspace.id
    # The tracker is asked outside any transaction, within the form's time (integrations/http.py).
    issue: Issue | None = None
    trouble = ""
    try:
        issue = tracker(ref.kind).get_issue(creds, ref)
    except (NotFound, BadCredentials, MissingScope) as e:
        ack(response_action="errors", errors={"url": clip(str(e), 150)})
        return
    except ServiceError as e:  # down, slow, rate-limited: link it anyway, its status comes later
        trouble = str(e)
    with session_scope(deps.engine) as session:
        request = session.get(FeatureRequest, request_id)
        link, new = issues.link_issue(
            session,
            request=request,
            kind=ref.kind,
            key=issue.key if issue else ref.key,
            url=issue.url if issue else ref.url,
            title=issue.title if issue else "",
            by_id=me_id,
        )
        applied = Applied()
        if issue is not None:
            applied = apply_state(
                session,
                workspace_id=workspace_id,
                kind=ref.kind,
                key=link.issue_key,
                state=issue.state,
                state_label=issue.state_label,
                title=issue.title,
                url=issue.url,
                only=link,
            )
        status = link_status_text(link)
        linked_status = request.status
    lines = [f":link: {'Linked' if new else 'Already linked'}: #{request_id} → {status}."]
    if trouble:
        lines.append(f"{escape(trouble)} I linked it anyway and will check its status later.")
    if applied.planned:
        lines.append("It's in progress, so I marked the request *planned* and told the people who asked.")
    elif issue is not None and issue.state == DONE and linked_status != "shipped":
        lines.append("It's closed as done: I've sent you *Shipped… thank them* in our DM.")
    else:
        lines.append("When it moves to in progress I mark the request planned; when it closes I'll ask you.")
    ack(
        response_action="update",
        view={
            "type": "modal",
            "title": {"type": "plain_text", "text": "Issue linked"},
            "close": {"type": "plain_text", "text": "Done"},
            "blocks": [section("\n".join(lines))],
        },
    )
    deps.kick()


def offered_decision_button(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: Logger,
) -> None:
    """*Shipped… thank them* / *Not yet…* from a closed issue's DM: the decision form, prefilled."""
    from handlers.views import decision_modals

    ack()
    deps = deps_of(context)
    action_id = action.get("action_id", "")
    value = read(IssueRefValue, action.get("value"), "issue button")
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        request = store.get_request(session=session, request_id=value.r, workspace_id=workspace.id)
        link = session.get(IssueLink, value.l)
        if (
            link is None
            or request is None
            or link.request_id != request.id
            or link.workspace_id != workspace.id
        ):
            _say(client, body, me.slack_user_id, "I can't find that request's issue link any more.", logger)
            return
        verb = "mark requests shipped" if action_id == SHIP_ACTION else "mark requests not yet"
        refusal = _may_decide(session, me, request, verb)
        if refusal:
            _say(client, body, me.slack_user_id, refusal, logger)
            return
        if request.status == "shipped" or (action_id == NOT_YET_ACTION and request.status == "not_yet"):
            label = decisions.STATUS_LABELS[request.status]
            _say(
                client,
                body,
                me.slack_user_id,
                f"#{request.id} “{escape(request.title)}” is already {label}.",
                logger,
            )
            return
        stats = store.request_stats(session=session, request_id=request.id)
        meta = {
            "c": (body.get("channel") or {}).get("id", ""),
            "ts": (body.get("message") or {}).get("ts", ""),
        }
        tracker_label = LABELS.get(link.kind, link.kind)
        if action_id == SHIP_ACTION:
            note = f"{link.title} ({tracker_label} {link.issue_key})" if link.title else ""
            view = decision_modals.shipped_modal(
                request=request, stats=stats, meta=meta, note=note, link=link.url
            )
        else:
            area = session.get(ProductArea, request.area_id)
            reason = f"The {tracker_label} issue for this was closed as {link.state_label or 'not planned'}."
            view = decision_modals.not_yet_modal(
                request=request, stats=stats, area=area, meta=meta, reason=reason
            )
        user = me.slack_user_id
    try:
        client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
    except SlackApiError as e:
        _say(
            client,
            body,
            user,
            f"Slack didn't let me open the form (it said `{escape(str(e.response.get('error')))}`); click again.",
            logger,
        )
