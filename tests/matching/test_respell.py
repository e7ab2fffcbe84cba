"""Stored vectors from before the glossary (texts prepared the earlier way) after an upgrade: used as they
are at start-up, so no process re-encodes the whole store before serving, then recomputed by the clock a
batch at a time and re-learnt by every process; on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import Session

from matching import encoder
from matching.index import Matcher
from matching.live import MatchIndex
from matching.normalize import normalize
from storage import people
from storage import requests as store
from storage.matching import respell_vectors
from storage.models import FeatureRequest

pytestmark = pytest.mark.embeddings

TITLES = ["Custom roles and permissions", "Dark mode", "Export the usage report", "Gantt chart"]
RBAC = "RBAC for their admins"


def test_vectors_of_the_earlier_spelling_serve_at_once_and_are_recomputed_by_the_clock(engine, clock):
    if encoder.missing_reason():
        pytest.skip(encoder.missing_reason())
    matcher = Matcher()
    old_encode = encoder.load_encoder().encode
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        rep = people.ensure_person(session=s, workspace=ws, slack_user_id="U1", name="rep")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Core")
        ids = []
        for title in TITLES:
            r = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=title)
            store.record_occurrence(session=s, request=r, logged_by_id=rep.id, text=title)
            # As the version before stored it: the text without its shorthand spelt out, the bare tag.
            r.embedding = old_encode([normalize(title, spell_out=False)])[0].tobytes()
            r.embedding_model = encoder.MODEL_NAME
            s.add(r)
            ids.append(r.id)
        rbac_before = s.get(FeatureRequest, ids[0]).embedding
        gantt_before = s.get(FeatureRequest, ids[3]).embedding
        ws_id, area_id = ws.id, area.id
        s.commit()

    web = MatchIndex()
    with Session(engine) as s:
        web.refresh(s)
        s.commit()
        # Used as stored: nothing was recomputed before serving.
        assert s.get(FeatureRequest, ids[0]).embedding_model == encoder.MODEL_NAME
        assert s.get(FeatureRequest, ids[0]).embedding == rbac_before

    made = []

    def get_matcher():
        made.append(1)
        return matcher

    with Session(engine) as s:
        assert respell_vectors(s, get_matcher, now=clock.now(), limit=3) == 3
        s.commit()
        assert respell_vectors(s, get_matcher, now=clock.now(), limit=3) == 1
        s.commit()
        assert respell_vectors(s, get_matcher, now=clock.now(), limit=3) == 0
        rows = [s.get(FeatureRequest, rid) for rid in ids]
        assert {r.embedding_model for r in rows} == {encoder.VECTOR_TAG}
        assert all(r.embedding_at is not None for r in rows)
        expected = np.frombuffer(matcher.phrasing_vector([TITLES[0], TITLES[0]]), dtype=np.float32)
        assert np.allclose(np.frombuffer(rows[0].embedding, dtype=np.float32), expected, atol=1e-6)
        # "Gantt chart" is now encoded with the glossary's words ("gantt timeline chart").
        assert rows[3].embedding != gantt_before
        gantt = np.frombuffer(matcher.phrasing_vector([TITLES[3]]), dtype=np.float32)
        assert np.allclose(np.frombuffer(rows[3].embedding, dtype=np.float32), gantt, atol=1e-6)
    assert len(made) == 2  # the model is asked for only when there is work

    # The web process re-learns the recomputed vectors on its next look-up.
    with Session(engine) as s:
        found = web.suggest(s, workspace_id=ws_id, area_id=area_id, text=RBAC)
    assert found and found[0].request.id == ids[0]
