"""`/requests [area]`: an area's requests with status, count, customers and money (PMs get buttons to act);
`/requests mine`: the caller's own requests and where each stands."""

from __future__ import annotations

from logging import Logger
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from handlers.blocks import context, issue_lines, pack, request_action_buttons, section, sections
from handlers.common import EXTERNAL_SEES_OWN, actor, deps_of, mention, sees_other_requests
from handlers.standing import money_text, occurrence_line
from handlers.text import clip, escape, from_slack, quote
from handlers.thanks import and_list, customers_of, local_date
from handlers.values import as_id
from storage import decisions, people
from storage import issues as issue_store
from storage import requests as store
from storage.db import session_scope
from storage.models import Person, ProductArea
from storage.requests import RequestStats

PM_LIMIT = 15  # each with a row of buttons: 2 blocks apiece, under Slack's 50
LIST_LIMIT = 40
MINE_LIMIT = 30
DETAIL_BLOCKS = 44  # occurrence blocks in `/requests #N`, beside the header, a note and the buttons
USAGE = (
    "`/requests [area]` for an area's requests, `/requests #[number]` for one request with every occurrence, "
    "`/requests mine` for yours, `/requests` for every area"
)


def stats_text(stats: RequestStats) -> str:
    parts = [f"heard {stats.count}×"]
    if stats.customer_count:
        parts.append(f"{stats.customer_count} customer{'s' if stats.customer_count != 1 else ''}")
    money = money_text(stats)
    if money:
        parts.append(money)
    return " · ".join(parts)


def status_text(listed: decisions.Listed, tz: str) -> str:
    r = listed.request
    label = f"_{decisions.STATUS_LABELS.get(r.status, r.status)}_"
    when = f" {local_date(r.status_changed_at, tz)}" if r.status_changed_at and r.status != "open" else ""
    return label + when


def requests_command(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, logger: Logger
) -> None:
    typed = " ".join(from_slack(body.get("text") or "").split())
    deps = deps_of(context)
    with session_scope(deps.engine) as session:
        workspace, me = actor(session, deps, context)
        if typed.lower() in ("help", "?"):
            ack(text=f"Try {USAGE}.")
            return
        if typed.lower() in ("mine", "me", "my"):
            ack(**mine(session, workspace.id, me))
            return
        if not sees_other_requests(deps, me):
            ack(text=EXTERNAL_SEES_OWN)
            return
        number = as_id(typed.lstrip("#"))
        if number is not None:
            ack(**request_detail(session, workspace.id, number, me, typed))
            return
        areas = people.list_areas(session=session, workspace_id=workspace.id)
        if not typed:
            if len(areas) == 1:
                ack(**area_listing(session, areas[0], me))
                return
            ack(**overview(session, areas))
            return
        area = people.get_area(session=session, workspace_id=workspace.id, name=typed)
        if area is None and typed.startswith("#"):
            ack(
                text=f"“{quote(typed, 40)}” isn't a request number: those are digits, e.g. `/requests #12`. "
                f"You typed: `/requests {quote(typed, 200)}`. Try {USAGE}."
            )
            return
        if area is None:
            known = ", ".join(a.name for a in areas)
            ack(
                text=f"There is no area called “{quote(typed, 80)}”"
                + (f" (areas: {escape(known)})" if known else " — there are no product areas yet")
                + f". You typed: `/requests {quote(typed, 200)}`. Try {USAGE}."
            )
            return
        ack(**area_listing(session, area, me))


def request_detail(session, workspace_id: int, request_id: int, me: Person, typed: str) -> dict[str, Any]:
    """`/requests #12`: one request and every occurrence of it (what alerts and digests only summarise)."""
    request = store.get_request(session=session, request_id=request_id, workspace_id=workspace_id)
    if request is None:
        return {"text": f"There is no request #{request_id} here. You typed: `/requests {quote(typed, 40)}`."}
    if request.status == "merged" and request.merged_into_id:
        return {
            "text": f"#{request.id} “{escape(request.title)}” was merged into #{request.merged_into_id}; "
            f"`/requests #{request.merged_into_id}` shows it with every occurrence."
        }
    area = session.get(ProductArea, request.area_id)
    stats = store.request_stats(session=session, request_id=request.id)
    occurrences = store.occurrences_of(session=session, request_id=request.id)
    who = people.of_occurrences(session=session, occurrences=occurrences)
    label = decisions.STATUS_LABELS.get(request.status, request.status)
    header = (
        f"*#{request.id} {escape(request.title)}* ({escape(area.name)}) — *{label}* · {stats_text(stats)}"
        + (f"\n_Why not yet:_ {quote(request.status_reason, 300)}" if request.status == "not_yet" else "")
    )
    links = issue_store.links_of_request(session, request_id=request.id)
    if links:
        header += issue_lines(links, most=len(links))
    lines = [
        f"• {occurrence_line(o, who.get(o.logged_by_id), request.title, who.get(o.raised_by_id))}"
        for o in reversed(occurrences)
    ]
    listed = ["*Every occurrence, newest first*", *lines]
    blocks = [section(header), *sections(listed, most=DETAIL_BLOCKS)]
    shown = sum(len(group) for group in pack(listed)[:DETAIL_BLOCKS]) - 1
    if shown < len(lines):
        blocks.append(context(f"…and {len(lines) - shown} older ones that don't fit in one Slack message."))
    if people.may_manage(person=me, area=area):
        blocks.append(request_action_buttons(request.id, request.status))
    return {"text": clip(f"#{request.id} {request.title}", 300), "blocks": blocks}


def overview(session, areas) -> dict[str, Any]:
    if not areas:
        return {
            "text": "No product areas yet, so no requests to list. A PM creates one with `/focus [area]: [focus]`; "
            "`/requests mine` shows what you logged."
        }
    lines = []
    for area in areas:
        listed, merged = decisions.area_requests(session=session, area=area)
        by_status: dict[str, int] = {}
        for x in listed:
            by_status[x.request.status] = by_status.get(x.request.status, 0) + 1
        counts = ", ".join(
            f"{n} {decisions.STATUS_LABELS[s]}"
            for s, n in sorted(by_status.items(), key=lambda i: decisions.STATUS_ORDER[i[0]])
        )
        lines.append(f"• *{escape(area.name)}* — {counts or 'no requests yet'}")
    text = "*Requests by area*\n" + "\n".join(lines) + f"\n_{USAGE}._"
    return {"text": clip(text, 3000), "blocks": [section(text)]}


def area_listing(session, area, me: Person) -> dict[str, Any]:
    listed, merged = decisions.area_requests(session=session, area=area)
    pm = session.get(Person, area.pm_id) if area.pm_id else None
    owner = f" ({mention(pm)})" if pm else ""
    if not listed:
        text = f"No requests in *{escape(area.name)}*{owner} yet. Anyone can log one with `/request [what the customer needs]`."
        return {"text": text}
    # Buttons only for those who may act on this area: another PM pressing them would only be refused.
    may_act = people.may_manage(person=me, area=area)
    limit = PM_LIMIT if may_act else LIST_LIMIT
    header = f"*{escape(area.name)}*{owner} — {len(listed)} request{'s' if len(listed) != 1 else ''}"
    if area.focus:
        header += f"\nCurrent focus: {escape(clip(area.focus, 300))}"
    blocks: list[dict[str, Any]] = [section(header)]
    linked = issue_store.links_of_requests(session, request_ids=[x.request.id for x in listed[:limit]])
    for x in listed[:limit]:
        line = (
            f"*#{x.request.id} {escape(x.request.title)}* — {status_text(x, me.tz)} · {stats_text(x.stats)}"
        )
        if x.customers:
            line += f"\nFor {and_list(x.customers, 6)}"
        if x.request.status == "not_yet" and x.request.status_reason:
            line += f"\n_Why not yet:_ {quote(x.request.status_reason, 200)}"
        line += issue_lines(linked.get(x.request.id, []))
        blocks.append(section(line))
        if may_act:
            blocks.append(request_action_buttons(x.request.id, x.request.status))
    notes = []
    if len(listed) > limit:
        notes.append(f"…and {len(listed) - limit} more (showing {limit}: open first, most heard first).")
    if merged:
        notes.append(f"{merged} merged into others (their occurrences are counted there).")
    if not may_act:
        notes.append(
            (f"{mention(pm)} decides on these" if pm else "The area's PM decides on these")
            + " (plan, ship or merge). `/requests mine` shows yours."
        )
    if notes:
        blocks.append(context(" ".join(notes)))
    return {"text": clip(header, 300), "blocks": blocks}


def mine(session, workspace_id: int, me: Person) -> dict[str, Any]:
    rows = decisions.person_requests(session=session, workspace_id=workspace_id, person_id=me.id)
    if not rows:
        return {
            "text": "You haven't logged any requests yet. Log one with `/request [what the customer needs]`, "
            "or from any message: ⋯ → *Log as request*."
        }
    lines = []
    for x, occs in rows[:MINE_LIMIT]:
        r = x.request
        where = f" ({escape(x.area.name)})" if x.area else ""
        customers = customers_of(occs)
        raised = f"you raised it {local_date(occs[0].created_at, me.tz)}" + (
            f" for {and_list(customers, 4)}" if customers else ""
        )
        line = f"• *#{r.id} {escape(r.title)}*{where} — *{decisions.STATUS_LABELS.get(r.status, r.status)}*"
        if r.status == "shipped":
            line += f" {local_date(r.status_changed_at, me.tz)}" if r.status_changed_at else ""
            if r.shipped_note:
                line += f": {quote(r.shipped_note, 200)}"
        elif r.status == "not_yet" and r.status_reason:
            line += f": {quote(r.status_reason, 200)}"
        line += f"\n    {raised} · {stats_text(x.stats)}"
        lines.append(line)
    blocks = [section("*Your requests*")]
    for start in range(0, len(lines), 8):
        blocks.append(section("\n".join(lines[start : start + 8])))
    if len(rows) > MINE_LIMIT:
        blocks.append(context(f"…and {len(rows) - MINE_LIMIT} older ones."))
    return {"text": f"Your requests: {len(rows)}", "blocks": blocks}
