"""Building a person's Home tab and putting it in Slack: at once when they open it, and through the
outbox (one `views.publish` per person and change) when something they see changes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, select

from handlers.home.builder import home_view
from storage import charts, home, outbox
from storage.models import FeatureRequest, Occurrence, Person, ProductArea, utcnow

log = logging.getLogger(__name__)

# People whose Home is refreshed for one change: beyond this, they see it the next time they open it.
REFRESH_MOST = 50


def build(session: Session, person: Person, *, chart_ids: dict[int, str] | None = None) -> dict[str, Any]:
    now = utcnow()
    pm = home.pm_home(session=session, pm=person, now=now) if person.is_pm else None
    if pm is not None and chart_ids is None:
        chart_ids = charts.latest_charts(session=session, area_ids=[a.id for a in pm.areas])
    stakeholder = home.stakeholder_home(session=session, person=person, now=now)
    return home_view(
        me=person,
        stakeholder=stakeholder,
        pm=pm,
        admin=home.admin_home(session=session, admin=person) if person.is_admin else None,
        charts=chart_ids,
        links=home.issue_links(session, stakeholder=stakeholder, pm=pm),
        now=now,
    )


def publish(client: WebClient, user_id: str, view: dict[str, Any]) -> bool:
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as e:
        log.warning("views.publish for %s: %s", user_id, e.response.get("error"))
        return False
    return True


def queue_refresh(session: Session, *, people: Iterable[Person | None], key: str) -> int:
    """Queue each person's fresh Home (once per person for the change named by `key`)."""
    queued = 0
    seen: set[int] = set()
    for person in people:
        if person is None or person.id in seen or len(seen) >= REFRESH_MOST:
            continue
        seen.add(person.id)
        row = outbox.enqueue(
            session=session,
            key=f"home:{person.id}:{key}",
            method="views.publish",
            payload={"user_id": person.slack_user_id, "view": build(session, person)},
            workspace_id=person.workspace_id,
            kind="home",
        )
        queued += row is not None
    return queued


def people_of_request(session: Session, request_id: int) -> list[Person]:
    """Everyone whose Home shows a request: who logged or raised it, and its area's PM."""
    ids: set[int] = set()
    for logged, raised in session.exec(
        select(Occurrence.logged_by_id, Occurrence.raised_by_id).where(Occurrence.request_id == request_id)
    ).all():
        ids.add(logged)
        if raised:
            ids.add(raised)
    request = session.get(FeatureRequest, request_id)
    area = session.get(ProductArea, request.area_id) if request is not None else None
    if area is not None and area.pm_id:
        ids.add(area.pm_id)
    return list(session.exec(select(Person).where(Person.id.in_(ids or {-1}))).all())


def refresh_for_request(session: Session, *, request_id: int, key: str) -> int:
    return queue_refresh(session, people=people_of_request(session, request_id), key=key)
