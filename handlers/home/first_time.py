"""After someone logs a request: the first time they log one in an area, that area's "how I work" card
(sent once per person and area, through the outbox); and their Home and the PM's are refreshed."""

from __future__ import annotations

from sqlmodel import Session

from handlers.home import publish
from handlers.home.builder import how_i_work_card
from handlers.text import clip, escape
from storage import outbox
from storage.models import Occurrence, Person, ProductArea


def after_logging(*, session: Session, person: Person, area: ProductArea, occurrence: Occurrence) -> None:
    pm = session.get(Person, area.pm_id) if area.pm_id else None
    if pm is None or pm.id != person.id:
        # Keyed per area and person: the card comes with the first request only, however many follow.
        outbox.enqueue(
            session=session,
            key=f"howiwork:{area.id}:{person.id}",
            payload={
                "channel": person.slack_user_id,
                "text": clip(f"How {escape(area.name)} works", 300),
                "blocks": how_i_work_card(area, pm),
            },
            workspace_id=area.workspace_id,
            kind="how_i_work",
        )
    publish.queue_refresh(session, people=[person, pm], key=f"o{occurrence.id}")
