"""The top of a 1:1 agenda: the partnership figures since the last meeting and, when the stakeholder's
activity rose or fell a lot, a one-click change of how often to meet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from handlers.home.builder import since_last_oneonone_blocks
from storage import partnership
from storage.models import OneOnOne, Person


def partnership_blocks(
    session: Session, *, meeting: OneOnOne, pm: Person, stakeholder: Person, since: datetime, now: datetime
) -> list[dict[str, Any]]:
    found = partnership.figures(session=session, pm=pm, since=since, until=now, only=stakeholder.id)
    figures = found[0] if found else None
    latest, before = partnership.activity_change(
        session=session, pm=pm, stakeholder=stakeholder, now=now, weeks=meeting.cadence_weeks
    )
    weeks = partnership.suggested_cadence(latest, before, meeting.cadence_weeks)
    return since_last_oneonone_blocks(
        figures, oneonone_id=meeting.id, suggestion=(latest, before, weeks) if weeks else None
    )
