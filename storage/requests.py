"""Requests, their occurrences, and the drafts that keep what a user typed until it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import Session, select

from storage.models import Draft, FeatureRequest, Occurrence, utcnow
from storage.search import SEARCHABLE

FREQUENCIES = {
    "first_time": "First time",
    "monthly": "A few times a month",
    "weekly": "Weekly",
    "daily": "Daily",
}
IMPACTS = {
    "lost_deal": "Lost deal",
    "churn_risk": "Churn risk",
    "blocked_onboarding": "Blocked onboarding",
    "support_load": "Support load",
    "other": "Other",
}
# The follow-up questions that can be skipped in the form and asked again by DM.
FOLLOWUP_FIELDS = ("customer", "amount", "frequency", "root_problem", "impacts", "focus_tie")
TITLE_LIMIT = 150


def make_title(text: str) -> str:
    """A one-line title from the first line of what was typed."""
    first = " ".join((text or "").strip().splitlines()[0].split()) if (text or "").strip() else ""
    if len(first) > TITLE_LIMIT:
        first = first[: TITLE_LIMIT - 1].rstrip() + "…"
    return first or "(untitled request)"


def create_draft(*, session: Session, workspace_id: int, person_id: int, **fields) -> Draft:
    draft = Draft(workspace_id=workspace_id, person_id=person_id, **fields)
    session.add(draft)
    session.flush()
    return draft


_DRAFT_COLUMNS = (
    "workspace_id", "person_id", "source", "text", "channel_id", "message_ts", "thread_ts", "permalink",
    "raised_by_id", "answers", "occurrence_id", "created_at",
)  # fmt: skip
# Built once, on the table: the request form's draft is written on the way to opening the form, inside
# the write lock, where an ORM flush costs three times as much CPU as this insert.
_INSERT_DRAFT = (
    insert(Draft.__table__)
    .values({name: bindparam(name) for name in _DRAFT_COLUMNS})
    .returning(Draft.__table__.c.id)
)


def insert_draft(
    *,
    session: Session,
    workspace_id: int,
    person_id: int,
    source: str,
    text: str = "",
    channel_id: str = "",
    message_ts: str = "",
    thread_ts: str = "",
    permalink: str = "",
    raised_by_id: int | None = None,
) -> int:
    """create_draft as one prebuilt insert; returns the draft's id (session.get loads it when needed)."""
    values = {
        "workspace_id": workspace_id,
        "person_id": person_id,
        "source": source,
        "text": text,
        "channel_id": channel_id,
        "message_ts": message_ts,
        "thread_ts": thread_ts,
        "permalink": permalink,
        "raised_by_id": raised_by_id,
        "answers": "",
        "occurrence_id": None,
        "created_at": utcnow(),
    }
    return session.exec(_INSERT_DRAFT, params=values).scalar_one()


def get_draft(*, session: Session, draft_id: int, workspace_id: int) -> Draft | None:
    draft = session.get(Draft, draft_id)
    if draft is None or draft.workspace_id != workspace_id:
        return None
    return draft


def create_request(*, session: Session, workspace_id: int, area_id: int, title: str) -> FeatureRequest:
    request = FeatureRequest(workspace_id=workspace_id, area_id=area_id, title=make_title(title))
    session.add(request)
    session.flush()
    return request


def has_other_requests(*, session: Session, workspace_id: int) -> bool:
    """Whether the workspace holds a searchable request besides the one just logged (two or more): the
    "Request logged" view offers its search only then."""
    found = session.exec(
        select(FeatureRequest.id)
        .where(FeatureRequest.workspace_id == workspace_id, FeatureRequest.status.in_(SEARCHABLE))
        .limit(2)
    ).all()
    return len(found) >= 2


def record_occurrence(
    *, session: Session, request: FeatureRequest, logged_by_id: int, text: str, **fields
) -> Occurrence:
    if fields.get("customer"):
        # A name merged into another customer counts as that customer (storage/customers.py imports this).
        from storage.customers import canonical_name

        fields["customer"] = canonical_name(
            session=session, workspace_id=request.workspace_id, name=fields["customer"]
        )
    occurrence = Occurrence(
        workspace_id=request.workspace_id,
        request_id=request.id,
        logged_by_id=logged_by_id,
        text=text,
        **fields,
    )
    request.updated_at = utcnow()
    session.add(request)
    session.add(occurrence)
    session.flush()
    return occurrence


def missing_answers(occurrence: Occurrence) -> list[str]:
    """Which follow-up questions are still unanswered, in the order they are asked."""
    missing = []
    if not occurrence.customer:
        missing.append("customer")
    if occurrence.amount_cents is None:
        missing.append("amount")
    if not occurrence.frequency:
        missing.append("frequency")
    if not occurrence.root_problem:
        missing.append("root_problem")
    if not occurrence.impacts:
        missing.append("impacts")
    if not occurrence.focus_tie:
        missing.append("focus_tie")
    return missing


def get_occurrence(*, session: Session, occurrence_id: int, workspace_id: int) -> Occurrence | None:
    occurrence = session.get(Occurrence, occurrence_id)
    if occurrence is None or occurrence.workspace_id != workspace_id:
        return None
    return occurrence


def get_request(*, session: Session, request_id: int, workspace_id: int) -> FeatureRequest | None:
    request = session.get(FeatureRequest, request_id)
    if request is None or request.workspace_id != workspace_id:
        return None
    return request


@dataclass
class RequestStats:
    count: int = 0
    customers: set[str] = field(default_factory=set)
    # Money per currency: the largest amount each customer brings, summed (a customer counts once).
    money: dict[str, int] = field(default_factory=dict)
    requesters: set[int] = field(default_factory=set)
    first_at: datetime | None = None
    last_at: datetime | None = None

    @property
    def customer_count(self) -> int:
        return len(self.customers)


def customer_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def account_key(occ: Occurrence) -> str:
    """The customer an occurrence counts for on its own: the CRM account the CRM confirmed it was picked as
    (`crm:hubspot:123`), else its name; "" when it names none."""
    if getattr(occ, "crm_ref", "") and getattr(occ, "crm_verified", False):
        return "crm:" + occ.crm_ref
    return customer_key(occ.customer) if occ.customer else ""


def account_keys(occurrences: list[Occurrence]) -> list[str]:
    """Each occurrence's customer as counted: two names picked as one CRM account are one customer, and a
    name typed without picking counts as the account another occurrence picked under that name."""
    linked: dict[str, str] = {}
    for occ in occurrences:
        key = account_key(occ)
        if key.startswith("crm:") and occ.customer:
            linked.setdefault(customer_key(occ.customer), key)
    return [linked.get(k, k) for k in (account_key(o) for o in occurrences)]


def stats_from_occurrences(occurrences: list[Occurrence]) -> RequestStats:
    stats = RequestStats()
    best: dict[tuple[str, str], int] = {}
    for occ, who in zip(occurrences, account_keys(occurrences), strict=True):
        stats.count += 1
        stats.requesters.add(occ.logged_by_id)
        if who:
            stats.customers.add(who)
        if occ.amount_cents is not None:
            key = (who or f"#occ{occ.id}", occ.currency or "USD")
            best[key] = max(best.get(key, 0), occ.amount_cents)
        if stats.first_at is None or occ.created_at < stats.first_at:
            stats.first_at = occ.created_at
        if stats.last_at is None or occ.created_at > stats.last_at:
            stats.last_at = occ.created_at
    for (_, currency), cents in best.items():
        stats.money[currency] = stats.money.get(currency, 0) + cents
    return stats


def occurrences_of(*, session: Session, request_id: int, since: datetime | None = None) -> list[Occurrence]:
    stmt = select(Occurrence).where(Occurrence.request_id == request_id)
    if since is not None:
        stmt = stmt.where(Occurrence.created_at >= since)
    return list(session.exec(stmt.order_by(Occurrence.created_at, Occurrence.id)))


def request_stats(*, session: Session, request_id: int, since: datetime | None = None) -> RequestStats:
    return stats_from_occurrences(occurrences_of(session=session, request_id=request_id, since=since))


def request_stats_many(*, session: Session, request_ids: list[int]) -> dict[int, RequestStats]:
    """Stats of several requests from one query (every request asked for gets an entry)."""
    grouped: dict[int, list[Occurrence]] = {request_id: [] for request_id in request_ids}
    if request_ids:
        stmt = select(Occurrence).where(Occurrence.request_id.in_(request_ids))
        for occ in session.exec(stmt.order_by(Occurrence.created_at, Occurrence.id)):
            grouped[occ.request_id].append(occ)
    return {request_id: stats_from_occurrences(occs) for request_id, occs in grouped.items()}


def count_occurrences(*, session: Session, request_id: int, since: datetime | None = None) -> int:
    stmt = select(func.count()).select_from(Occurrence).where(Occurrence.request_id == request_id)
    if since is not None:
        stmt = stmt.where(Occurrence.created_at >= since)
    return session.exec(stmt).one()


def add_impact(*, session: Session, occurrence: Occurrence, code: str, attempts: int = 5) -> Occurrence:
    """Add one impact to an occurrence. Compare-and-set, so two quick clicks never lose one another."""
    for _ in range(attempts):
        session.refresh(occurrence)
        codes = [c for c in occurrence.impacts.split(",") if c]
        if code in codes:
            return occurrence
        new = ",".join([*codes, code])
        result = session.exec(
            update(Occurrence)
            .where(Occurrence.id == occurrence.id, Occurrence.impacts == occurrence.impacts)
            .values(impacts=new)
        )
        if result.rowcount == 1:
            session.commit()
            session.refresh(occurrence)
            return occurrence
        session.rollback()
    raise RuntimeError(f"could not record impact {code} on occurrence {occurrence.id}")
