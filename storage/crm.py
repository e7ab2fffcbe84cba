"""Occurrences linked to a CRM account: which accounts are due a refresh, and writing what the CRM says
(its value as the amount of occurrences whose amount is the CRM's, and the confirmation of a pick that
couldn't be checked on submit). Deduplicated: one CRM call per account, however many occurrences name it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import Session, select

from storage.models import Occurrence

REFRESH_AFTER = timedelta(hours=6)  # an account's amount is asked again when older than this
MOST_PER_PASS = 50  # accounts asked per clock pass, oldest (never checked) first


@dataclass(frozen=True)
class Due:
    workspace_id: int
    ref: str  # hubspot:123


def due_accounts(
    *, session: Session, now: datetime, after: timedelta = REFRESH_AFTER, limit: int = MOST_PER_PASS
) -> list[Due]:
    """CRM accounts named by occurrences that were never checked or not since `after`, oldest first."""
    oldest = func.min(Occurrence.crm_checked_at)
    unchecked = func.count() > func.count(Occurrence.crm_checked_at)
    rows = session.exec(
        select(Occurrence.workspace_id, Occurrence.crm_ref)
        .where(Occurrence.crm_ref != "")
        .group_by(Occurrence.workspace_id, Occurrence.crm_ref)
        .having(or_(unchecked, oldest < now - after))
        .order_by(unchecked.desc(), oldest, Occurrence.crm_ref)
        .limit(limit)
    ).all()
    return [Due(workspace_id=w, ref=r) for w, r in rows]


def apply_account(
    *,
    session: Session,
    workspace_id: int,
    ref: str,
    amount_cents: int | None,
    currency: str,
    now: datetime,
) -> list[int]:
    """The CRM has the account: every occurrence naming it is confirmed, and those whose amount is the
    CRM's (or that have none) take its value. Returns the ids of the occurrences whose amount changed."""
    mine = (Occurrence.workspace_id == workspace_id, Occurrence.crm_ref == ref)
    session.exec(
        update(Occurrence)
        .where(*mine)
        .values(crm_verified=True, crm_checked_at=now)
        .execution_options(synchronize_session=False)
    )
    changed: list[int] = []
    if amount_cents is not None:
        changed = list(
            session.exec(
                select(Occurrence.id).where(
                    *mine,
                    or_(Occurrence.amount_from_crm.is_(True), Occurrence.amount_cents.is_(None)),
                    or_(
                        Occurrence.amount_cents.is_(None),
                        Occurrence.amount_cents != amount_cents,
                        Occurrence.currency != currency,
                    ),
                )
            ).all()
        )
        if changed:
            session.exec(
                update(Occurrence)
                .where(Occurrence.id.in_(changed))
                .values(amount_cents=amount_cents, currency=currency, amount_from_crm=True)
                .execution_options(synchronize_session=False)
            )
    session.expire_all()
    return changed


def forget_unknown(*, session: Session, workspace_id: int, ref: str, now: datetime) -> None:
    """The CRM has no such account for this workspace: picks never confirmed lose the link (they count by
    their name, as typed); confirmed ones keep their last known amount (the account was deleted)."""
    mine = (Occurrence.workspace_id == workspace_id, Occurrence.crm_ref == ref)
    session.exec(
        update(Occurrence)
        .where(*mine, Occurrence.crm_verified.is_(False))
        .values(crm_ref="", crm_checked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.exec(
        update(Occurrence)
        .where(*mine, Occurrence.crm_verified.is_(True))
        .values(crm_checked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
