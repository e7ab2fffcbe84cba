"""Text either database would refuse is cleaned the same way on both, wherever it is written from."""

from __future__ import annotations

import json

from sqlalchemy import insert, update
from sqlmodel import Session, select

from storage import people
from storage import requests as store
from storage.db import clean_text
from storage.models import Occurrence, ProductArea

# What a form can carry in its JSON: a NUL, a lone surrogate, and a pair written as two escapes.
NASTY = json.loads('"CSV\\u0000 export <script>alert(1)</script> \\ud800 & \\ud83d\\ude80"')
CLEAN = "CSV export <script>alert(1)</script> \ufffd & 🚀"


def test_clean_text_drops_nul_and_repairs_surrogates():
    assert clean_text(NASTY) == CLEAN
    assert clean_text("\ud83d\ude80") == "🚀"  # two escapes that make one character
    assert clean_text("plain <b> & text") == "plain <b> & text"


def test_refused_text_is_stored_cleaned_on_both_databases(engine):
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        me = people.ensure_person(session=s, workspace=ws, slack_user_id="U1", name="Dana\x00")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting")
        people.set_focus(session=s, area=area, focus=NASTY, by=me)
        request = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=NASTY)
        store.record_occurrence(
            session=s,
            request=request,
            logged_by_id=me.id,
            text=NASTY,
            customer=NASTY,
            root_problem=NASTY,
        )
        s.commit()
        # Core statements, an executemany and an UPDATE pass the same boundary as the ORM.
        s.exec(update(Occurrence).values(impact_detail=NASTY))
        s.exec(
            insert(Occurrence),
            params=[
                {"workspace_id": ws.id, "request_id": request.id, "logged_by_id": me.id, "text": NASTY},
                {"workspace_id": ws.id, "request_id": request.id, "logged_by_id": me.id, "text": "ok\x00"},
            ],
        )
        s.commit()
        workspace_id = ws.id
    with Session(engine) as s:
        occurrences = s.exec(select(Occurrence).order_by(Occurrence.id)).all()
        assert [o.text for o in occurrences] == [CLEAN, CLEAN, "ok"]
        assert (occurrences[0].customer, occurrences[0].root_problem) == (CLEAN, CLEAN)
        assert occurrences[0].impact_detail == CLEAN
        assert s.exec(select(ProductArea)).one().focus == CLEAN
        # Looking text up cleans it the same way, so it finds what was stored.
        assert people.get_person(session=s, workspace_id=workspace_id, slack_user_id="U1\x00") is not None
