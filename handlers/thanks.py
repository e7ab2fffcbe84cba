"""Closing the loop: the thank-you everyone who asked gets when a request ships, the "not yet" note
with the PM's reason, and the PM's summary. Messages are built here and queued in the outbox (keyed
per person, so a retry never sends twice); the delivery worker sends them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from handlers.blocks import context, section
from handlers.dates import slack_date
from handlers.standing import focus_text, pm_name
from handlers.text import clip, escape, quote, safe_link
from storage import decisions, outbox
from storage.models import FeatureRequest, Occurrence, Person, ProductArea, RequestDecision
from storage.requests import customer_key, request_stats

CUSTOMER_LIMIT = 8


def local_date(when: datetime, tz: str) -> str:
    """The reader's own date (a Slack token); the fallback is in their zone as Slack last told us."""
    return slack_date(when, tz=tz)


def customers_of(occurrences: list[Occurrence]) -> list[str]:
    """Distinct customer names, as first typed, in the order they were raised."""
    seen: dict[str, str] = {}
    for occ in occurrences:
        if occ.customer and customer_key(occ.customer) not in seen:
            seen[customer_key(occ.customer)] = occ.customer
    return list(seen.values())


def and_list(names: list[str], limit: int = CUSTOMER_LIMIT) -> str:
    names = [f"*{escape(clip(n, 80))}*" for n in names]
    if len(names) > limit:
        names = [*names[:limit], f"{len(names) - limit} more"]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def thread_of(occurrences: list[Occurrence]) -> tuple[str, str] | None:
    """(channel, thread ts) of the person's first occurrence logged from a message, if any."""
    for occ in occurrences:
        if occ.channel_id and (occ.thread_ts or occ.message_ts):
            return occ.channel_id, occ.thread_ts or occ.message_ts
    return None


def default_customer_note(request: FeatureRequest) -> str:
    return (
        f"Good news: {request.title} is now available. Thank you for telling us you needed it — "
        "your feedback is why we built it."
    )


def thanks_blocks(
    *,
    request: FeatureRequest,
    person: Person,
    occurrences: list[Occurrence],
    pm: Person | None,
    decision: RequestDecision,
    in_thread: bool,
) -> tuple[str, list[dict[str, Any]]]:
    """The thank-you one requester gets: what shipped, when they raised it, for which customers."""
    first = local_date(occurrences[0].created_at, person.tz)
    customers = customers_of(occurrences)
    for_whom = f" for {and_list(customers)}" if customers else ""
    times = (
        f" (and {len(occurrences) - 1} more time{'s' if len(occurrences) > 2 else ''} since)"
        if len(occurrences) > 1
        else ""
    )
    hello = f"<@{person.slack_user_id}> " if in_thread else ""
    headline = (
        f":tada: {hello}Yes, we finally shipped the thing you raised on {first}{for_whom}{times}: "
        f"*{escape(request.title)}*. Thank you — you're the reason it got built."
    )
    blocks = [section(headline)]
    note = decision.note or request.shipped_note
    link = decision.link or request.shipped_link
    from_pm = []
    if note:
        from_pm.append(quote(note, 1500))
    if link:
        from_pm.append(f"<{safe_link(link)}|{escape(clip(link, 100))}>")
    if from_pm:
        blocks.append(section(f"*From {pm_name(pm)}:* " + "\n".join(from_pm)))
    customer_note = decision.customer_note or default_customer_note(request)
    if link and link not in customer_note:
        customer_note += f" Details: {link}"
    forward = "\n".join(f"> {line}" if line else ">" for line in quote(customer_note, 1500).splitlines())
    blocks.append(section("*A note you can forward to your customer:*\n" + forward))
    blocks.append(
        context(
            "You're getting this because you logged it with Partnerbot. "
            "See everything you raised with `/requests mine`."
        )
    )
    text = clip(f"Yes, we finally shipped the thing you raised on {first}: {escape(request.title)}", 300)
    return text, blocks


@dataclass
class Queued:
    """What was queued for one decision, for the PM's summary."""

    people: int = 0
    accounts: int = 0
    in_threads: int = 0
    by_dm: int = 0
    already: int = 0
    names: list[str] = field(default_factory=list)


def queue_thanks(
    *,
    session: Session,
    request: FeatureRequest,
    decision: RequestDecision,
    pm: Person | None,
    report_to: str = "",
) -> Queued:
    """One thank-you per person who logged it (key thanks:<request>:<person>), in the thread of their first
    occurrence that has one, else by DM. People thanked before for this request are not thanked twice."""
    queued = Queued()
    grouped = decisions.requesters(session=session, request_id=request.id)
    accounts: set[str] = set()
    for person_id, occurrences in grouped.items():
        person = session.get(Person, person_id)
        if person is None:
            continue
        accounts |= {customer_key(o.customer) for o in occurrences if o.customer}
        thread = thread_of(occurrences)
        text, blocks = thanks_blocks(
            request=request,
            person=person,
            occurrences=occurrences,
            pm=pm,
            decision=decision,
            in_thread=thread is not None,
        )
        payload: dict[str, Any] = {"channel": person.slack_user_id, "text": text, "blocks": blocks}
        if thread is not None:
            payload.update(channel=thread[0], thread_ts=thread[1])
        row = outbox.enqueue(
            session=session,
            key=f"thanks:{request.id}:{person.id}",
            payload=payload,
            workspace_id=request.workspace_id,
            kind="thanks",
            fallback_user_id=person.slack_user_id,
            report_to=report_to,
            report_label=f"the thank-you for “{escape(clip(request.title, 80))}” to <@{person.slack_user_id}>"
            + (f" ({and_list(customers_of(occurrences), 3)})" if customers_of(occurrences) else ""),
        )
        queued.people += 1
        if row is None:
            queued.already += 1
        elif thread is not None:
            queued.in_threads += 1
        else:
            queued.by_dm += 1
    queued.accounts = len(accounts)
    return queued


def not_yet_blocks(
    *,
    request: FeatureRequest,
    area: ProductArea | None,
    person: Person,
    occurrences: list[Occurrence],
    pm: Person | None,
    reason: str,
    total_count: int,
    total_customers: int,
) -> tuple[str, list[dict[str, Any]]]:
    first = local_date(occurrences[0].created_at, person.tz)
    customers = customers_of(occurrences)
    for_whom = f" for {and_list(customers)}" if customers else ""
    yours = f"your {len(occurrences)} occurrence{'s' if len(occurrences) != 1 else ''}"
    blocks = [
        section(
            f":hourglass_flowing_sand: {pm_name(pm, start=True)} looked at *{escape(request.title)}*, which you "
            f"raised on {first}{for_whom}, and marked it *not yet* — not no."
        ),
        section(f"*Why:* {quote(reason, 1500)}"),
    ]
    if area is not None:
        blocks.append(section(focus_text(area, pm)))
    blocks.append(
        section(
            f"Nothing is lost: {yours} {'stays' if len(occurrences) == 1 else 'stay'} counted (it's heard "
            f"{total_count}× from "
            f"{total_customers} customer{'s' if total_customers != 1 else ''} so far), and every new one is "
            "added. If it becomes more pressing, log it again with the new details."
        )
    )
    text = clip(f"Not yet: {escape(request.title)} — {escape(reason)}", 300)
    return text, blocks


def queue_not_yet(
    *,
    session: Session,
    request: FeatureRequest,
    area: ProductArea | None,
    decision: RequestDecision,
    pm: Person | None,
    report_to: str = "",
) -> Queued:
    """A DM to every person who logged it with the PM's reason (key notyet:<request>:<person>:<decision>,
    so a later "not yet" notifies again but a retry never does)."""
    queued = Queued()
    stats = request_stats(session=session, request_id=request.id)
    for person_id, occurrences in decisions.requesters(session=session, request_id=request.id).items():
        person = session.get(Person, person_id)
        if person is None:
            continue
        text, blocks = not_yet_blocks(
            request=request,
            area=area,
            person=person,
            occurrences=occurrences,
            pm=pm,
            reason=decision.reason,
            total_count=stats.count,
            total_customers=stats.customer_count,
        )
        row = outbox.enqueue(
            session=session,
            key=f"notyet:{request.id}:{person.id}:{decision.id}",
            payload={"channel": person.slack_user_id, "text": text, "blocks": blocks},
            workspace_id=request.workspace_id,
            kind="not_yet",
            report_to=report_to,
            report_label=f"the “not yet” note for “{escape(clip(request.title, 80))}” to <@{person.slack_user_id}>",
        )
        queued.people += 1
        queued.accounts = stats.customer_count
        if row is None:
            queued.already += 1
        else:
            queued.by_dm += 1
    return queued


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def people_count(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def shipped_summary(request: FeatureRequest, queued: Queued) -> str:
    if not queued.people:
        return f":white_check_mark: Marked *{escape(request.title)}* shipped. Nobody had logged it, so no one to thank."
    where = []
    if queued.in_threads:
        where.append(f"{queued.in_threads} in their original thread")
    if queued.by_dm:
        where.append(f"{queued.by_dm} by DM")
    if queued.already:
        where.append(f"{queued.already} thanked earlier, not again")
    return (
        f":tada: Marked *{escape(request.title)}* shipped and thanked {people_count(queued.people)} "
        f"across {plural(queued.accounts, 'account')} ({', '.join(where)}). "
        "If I can't reach someone, I'll tell you here."
    )


def not_yet_summary(request: FeatureRequest, queued: Queued) -> str:
    if not queued.people:
        return f"Marked *{escape(request.title)}* not yet. Nobody had logged it, so no one to tell."
    return (
        f":hourglass_flowing_sand: Marked *{escape(request.title)}* not yet and told "
        f"{people_count(queued.people)} who asked "
        f"({plural(queued.accounts, 'account')}) your reason and current focus; their occurrences stay counted."
        + (f" {queued.already} had already been told." if queued.already else "")
        + " If I can't reach someone, I'll tell you here."
    )


def queue_dm(
    *, session: Session, to: Person, key: str, text: str, workspace_id: int, kind: str = "decision_summary"
) -> None:
    """A DM through the outbox (durable, sent once per key): PM summaries and notes to anyone."""
    text = clip(text, 3000)
    outbox.enqueue(
        session=session,
        key=key,
        payload={"channel": to.slack_user_id, "text": text, "blocks": [section(text)]},
        workspace_id=workspace_id,
        kind=kind,
    )
