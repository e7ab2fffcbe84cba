"""Opening the request form from a command, a shortcut or a button, keeping a draft of what was typed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from handlers.common import Deps
from handlers.views.request_modal_builder import request_modal
from storage import people
from storage import requests as store
from storage.db import one_writer

log = logging.getLogger(__name__)


def open_request_form(
    *,
    session: Session,
    deps: Deps,
    client: WebClient,
    trigger_id: str,
    workspace_id: int,
    person_id: int,
    text: str,
    source: str,
    channel_id: str = "",
    message_ts: str = "",
    thread_ts: str = "",
    permalink: str = "",
    raised_by_id: int | None = None,
    claim: Callable[[Session], bool] | None = None,
) -> tuple[int | None, str | None]:
    """Save a draft, then open the form. Returns the draft's id and Slack's error when the form could not
    open. `claim`, when given, claims the payload in the draft's transaction (handlers/once.py, claim_in);
    when it says the payload was handled already, nothing is saved or opened and the id is None."""
    # Read before writing: on SQLite the write lock is then held only for the inserts and the commit.
    areas: list[Any] = people.form_areas(session=session, workspace_id=workspace_id)
    if not areas:
        areas = [people.default_area(session=session, workspace_id=workspace_id)]
    with one_writer(session):
        if claim is not None and not claim(session):
            return None, None
        draft_id = store.insert_draft(
            session=session,
            workspace_id=workspace_id,
            person_id=person_id,
            source=source,
            text=text,
            channel_id=channel_id,
            message_ts=message_ts,
            thread_ts=thread_ts,
            permalink=permalink,
            raised_by_id=raised_by_id,
        )
        # Commit before calling Slack: the form's submission may arrive on another worker.
        session.commit()
    view = request_modal(
        text=text,
        draft_id=draft_id,
        areas=areas,
        # With several areas nothing is preselected: a request filed under the wrong PM by a hurried
        # Enter is worse than being asked to pick.
        default_area_id=areas[0].id if len(areas) == 1 else None,
        full_length=len(text),
        permalink=permalink,
    )
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as e:
        error = str(e.response.get("error") or e)
        log.warning("views.open failed: %s", error)
        return draft_id, error
    return draft_id, None
