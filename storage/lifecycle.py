"""A workspace's and a person's lifecycle: parking a workspace's outbox when the app is uninstalled (and
resuming it on a reinstall), a person's Slack profile changes, erasing a person's personal data, dropping
message text past the retention period, and the admin's export of everything a workspace logged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, select

from storage.models import (
    AgendaItem,
    Draft,
    FeatureRequest,
    Occurrence,
    Outbox,
    Person,
    ProductArea,
    RequestDecision,
    Workspace,
    utcnow,
)

ERASED = "[erased]"
# An occurrence's free text: the person's own words.
OCCURRENCE_WORDS = ("text", "source_text", "frequency_detail", "root_problem", "impact_detail", "focus_tie")


# -- parking -------------------------------------------------------------------------------------
def park(*, session: Session, workspace: Workspace, reason: str, now: datetime | None = None) -> int:
    """Stop every send to the workspace at once: its waiting outbox rows (also one a worker holds right
    now, whose later update then finds the row no longer its own) are parked. Returns how many."""
    now = now or utcnow()
    if workspace.parked_at is None:
        workspace.parked_at = now
    workspace.parked_reason = reason[:32]
    session.add(workspace)
    result = session.exec(
        update(Outbox)
        .where(Outbox.workspace_id == workspace.id, Outbox.status.in_(("pending", "sending")))
        .values(status="parked", claim_token="", claimed_by="", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def resume(*, session: Session, workspace: Workspace) -> int:
    """The app is back in the workspace: its parked rows go out as they fall due (most are overdue by
    now: at once). Returns how many."""
    if workspace.parked_at is None:
        return 0
    workspace.parked_at = None
    workspace.parked_reason = ""
    session.add(workspace)
    result = session.exec(
        update(Outbox)
        .where(Outbox.workspace_id == workspace.id, Outbox.status == "parked")
        .values(status="pending")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def parked_workspace(*, session: Session, team_id: str, enterprise_id: str = "") -> Workspace | None:
    return session.exec(
        select(Workspace).where(
            Workspace.team_id == team_id,
            Workspace.enterprise_id == enterprise_id,
            Workspace.parked_at.is_not(None),
        )
    ).first()


def parked_keys(*, session: Session) -> set[tuple[str, str]]:
    """(team_id, enterprise_id) of every parked workspace."""
    rows = session.exec(
        select(Workspace.team_id, Workspace.enterprise_id).where(Workspace.parked_at.is_not(None))
    ).all()
    return {(team, enterprise) for team, enterprise in rows}


# -- profile changes -----------------------------------------------------------------------------
def refresh_person(
    *, session: Session, person: Person, name: str, tz: str, deleted: bool
) -> list[ProductArea]:
    """Name, time zone and deactivation as Slack now has them. Returns the areas of a PM who has just been
    deactivated (an admin should hand them over); [] otherwise."""
    if name:
        person.name = name[:255]
    if tz:
        person.tz = tz[:64]
    newly = deleted and not person.deactivated
    person.deactivated = deleted
    session.add(person)
    if not (newly and person.is_pm):
        return []
    return list(
        session.exec(
            select(ProductArea).where(ProductArea.pm_id == person.id).order_by(ProductArea.name)
        ).all()
    )


# -- erasure -------------------------------------------------------------------------------------
def erase_person(*, session: Session, person: Person) -> dict[str, int]:
    """Remove a person's personal data: their name, their words in what they logged or raised, their
    drafts and agenda items, and a request's title when only their words make it. The rows stay (the
    counts, customers and money of requests are the organisation's), tied to a person with no name.
    Their Slack id goes too: if they use the bot again they are someone new."""
    mine = or_(Occurrence.logged_by_id == person.id, Occurrence.raised_by_id == person.id)
    occurrences = list(session.exec(select(Occurrence).where(mine)).all())
    for occ in occurrences:
        for column in OCCURRENCE_WORDS:
            setattr(occ, column, ERASED if column == "text" else "")
        occ.permalink = ""
        session.add(occ)
    titles = 0
    for request_id in {o.request_id for o in occurrences}:
        others = session.exec(
            select(Occurrence.id).where(
                Occurrence.request_id == request_id,
                Occurrence.logged_by_id != person.id,
                or_(Occurrence.raised_by_id.is_(None), Occurrence.raised_by_id != person.id),
            )
        ).first()
        if others is None:
            request = session.get(FeatureRequest, request_id)
            if request is not None:
                request.title = ERASED
                request.embedding = None
                session.add(request)
                titles += 1
    drafts = list(session.exec(select(Draft).where(Draft.person_id == person.id)).all())
    for draft in drafts:
        session.delete(draft)
    items = list(session.exec(select(AgendaItem).where(AgendaItem.added_by_id == person.id)).all())
    for item in items:
        item.text = ERASED
        session.add(item)
    session.flush()
    for area in session.exec(select(ProductArea).where(ProductArea.pm_id == person.id)).all():
        area.pm_id = None
        session.add(area)
    person.name = ERASED
    person.tz = "UTC"
    person.slack_user_id = f"erased-{person.id}"
    person.home_team_id = ""
    person.is_pm = False
    person.is_admin = False
    person.digest_cadence = "off"
    session.add(person)
    return {
        "occurrences": len(occurrences),
        "titles": titles,
        "drafts": len(drafts),
        "agenda_items": len(items),
    }


# -- retention -----------------------------------------------------------------------------------
def drop_old_text(*, session: Session, days: int, now: datetime | None = None) -> int:
    """Empty the words of occurrences logged more than `days` ago (their counts, customers and money
    stay). Returns how many occurrences were emptied; already-emptied ones are not touched again."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    has_words = or_(*(getattr(Occurrence, c) != "" for c in OCCURRENCE_WORDS))
    result = session.exec(
        update(Occurrence)
        .where(Occurrence.created_at < cutoff, has_words)
        .values(**{c: "" for c in OCCURRENCE_WORDS}, permalink="")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# The export's columns per kind (a CSV of a kind with no rows still has its header).
EXPORT_COLUMNS = {
    "requests": ("id", "area", "title", "status", "status_reason", "merged_into_id", "created_at"),
    "occurrences": (
        "id",
        "request_id",
        "logged_by",
        "raised_by",
        "source",
        "text",
        "customer",
        "amount",
        "currency",
        "frequency",
        "root_problem",
        "impacts",
        "permalink",
        "created_at",
    ),
    "decisions": ("id", "request_id", "status", "from_status", "reason", "note", "link", "by", "created_at"),
}


# -- export --------------------------------------------------------------------------------------
def export_rows(*, session: Session, workspace_id: int) -> dict[str, list[dict[str, Any]]]:
    """Everything the workspace logged, one list of plain rows per kind (requests, occurrences,
    decisions), with people's Slack ids and names beside their row ids."""
    people = {p.id: p for p in session.exec(select(Person).where(Person.workspace_id == workspace_id)).all()}
    areas = {
        a.id: a.name
        for a in session.exec(select(ProductArea).where(ProductArea.workspace_id == workspace_id)).all()
    }

    def who(person_id: int | None) -> str:
        person = people.get(person_id) if person_id else None
        return f"{person.slack_user_id} ({person.name})" if person else ""

    def when(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    requests = [
        {
            "id": r.id,
            "area": areas.get(r.area_id, ""),
            "title": r.title,
            "status": r.status,
            "status_reason": r.status_reason,
            "merged_into_id": r.merged_into_id or "",
            "created_at": when(r.created_at),
        }
        for r in session.exec(
            select(FeatureRequest)
            .where(FeatureRequest.workspace_id == workspace_id)
            .order_by(FeatureRequest.id)
        ).all()
    ]
    occurrences = [
        {
            "id": o.id,
            "request_id": o.request_id,
            "logged_by": who(o.logged_by_id),
            "raised_by": who(o.raised_by_id),
            "source": o.source,
            "text": o.text,
            "customer": o.customer,
            "amount": o.amount_text,
            "currency": o.currency,
            "frequency": o.frequency,
            "root_problem": o.root_problem,
            "impacts": o.impacts,
            "permalink": o.permalink,
            "created_at": when(o.created_at),
        }
        for o in session.exec(
            select(Occurrence).where(Occurrence.workspace_id == workspace_id).order_by(Occurrence.id)
        ).all()
    ]
    decisions = [
        {
            "id": d.id,
            "request_id": d.request_id,
            "status": d.status,
            "from_status": d.from_status,
            "reason": d.reason,
            "note": d.note,
            "link": d.link,
            "by": who(d.by_id),
            "created_at": when(d.created_at),
        }
        for d in session.exec(
            select(RequestDecision)
            .where(RequestDecision.workspace_id == workspace_id)
            .order_by(RequestDecision.id)
        ).all()
    ]
    return {"requests": requests, "occurrences": occurrences, "decisions": decisions}
