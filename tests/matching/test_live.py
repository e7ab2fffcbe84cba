"""Learning a request's phrasings in the running bot's index (embedding matcher): a confirmed repeat or
a merge in one process moves the request for every process, through the database, on SQLite and
PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import Session, select

from matching import encoder
from matching.live import MatchIndex
from storage import decisions, people
from storage import requests as store
from storage.models import FeatureRequest

pytestmark = pytest.mark.embeddings

TITLES = [
    "Export reports to CSV",
    "Dark mode for the web app",
    "Okta for all staff",
    "two-factor authentication",
    "see which users are active",
    "Microsoft Teams integration",
]
HEARD = "single sign-on through their identity provider"
AZURE = "Initech wants employees to log in with their Azure AD accounts"


@pytest.fixture
def world(engine):
    if encoder.missing_reason():
        pytest.skip(encoder.missing_reason())
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        rep = people.ensure_person(session=s, workspace=ws, slack_user_id="U1REP", name="rep")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Core")
        ids = {}
        writer = MatchIndex()
        for title in TITLES:
            request = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=title)
            store.record_occurrence(session=s, request=request, logged_by_id=rep.id, text=title)
            writer.add(s, request)
            ids[title] = request.id
        s.commit()
        yield engine, writer, ids, (ws.id, area.id, rep.id)


def _suggested(index: MatchIndex, engine, where) -> list[str]:
    ws_id, area_id, _ = where
    with Session(engine) as s:
        return [
            hit.request.title for hit in index.suggest(s, workspace_id=ws_id, area_id=area_id, text=AZURE)
        ]


def test_a_repeat_confirmed_in_one_process_is_learnt_by_another(world):
    engine, writer, ids, where = world
    reader = MatchIndex()  # another web worker, started before the repeat was confirmed
    assert "Okta for all staff" not in _suggested(reader, engine, where)
    with Session(engine) as s:
        sso = s.get(FeatureRequest, ids["Okta for all staff"])
        store.record_occurrence(session=s, request=sso, logged_by_id=where[2], text=HEARD)
        writer.learn(s, sso)
        s.commit()
        stored = s.get(FeatureRequest, sso.id)
        assert stored.embedding_at is not None
        assert np.allclose(
            np.frombuffer(stored.embedding, dtype=np.float32),
            np.frombuffer(writer.matcher.phrasing_vector(["Okta for all staff", HEARD]), dtype=np.float32),
            atol=1e-6,
        )
    assert _suggested(writer, engine, where)[0] == "Okta for all staff"
    assert _suggested(reader, engine, where)[0] == "Okta for all staff"
    # A process started afterwards loads the learnt vector with the rest.
    assert _suggested(MatchIndex(), engine, where)[0] == "Okta for all staff"


def test_a_merge_teaches_the_target_the_merged_requests_words(world):
    engine, writer, ids, where = world
    ws_id, area_id, rep_id = where
    with Session(engine) as s:
        other = store.create_request(session=s, workspace_id=ws_id, area_id=area_id, title=HEARD)
        store.record_occurrence(session=s, request=other, logged_by_id=rep_id, text=HEARD)
        writer.add(s, other)
        s.commit()
        other_id = other.id
    reader = MatchIndex()
    assert HEARD in _suggested(reader, engine, where)
    with Session(engine) as s:
        pm = people.ensure_person(
            session=s, workspace=people.ensure_workspace(session=s, team_id="T1"), slack_user_id="U0PM"
        )
        merge = decisions.merge_requests(
            session=s,
            source=s.get(FeatureRequest, other_id),
            target=s.get(FeatureRequest, ids["Okta for all staff"]),
            by=pm,
        )
        writer.forget(merge.source.id)
        writer.learn(s, merge.target)
        s.commit()
    for index in (writer, reader):
        found = _suggested(index, engine, where)
        assert found[0] == "Okta for all staff" and HEARD not in found
    with Session(engine) as s:
        assert s.exec(select(FeatureRequest).where(FeatureRequest.id == other_id)).one().status == "merged"


def test_a_request_stored_without_a_vector_gets_one_from_all_its_phrasings(world):
    """After an upgrade or a model change, start-up computes each missing vector from every phrasing."""
    engine, writer, ids, _ = world
    sso_id = ids["Okta for all staff"]
    with Session(engine) as s:
        sso = s.get(FeatureRequest, sso_id)
        store.record_occurrence(session=s, request=sso, logged_by_id=world[3][2], text=HEARD)
        sso.embedding, sso.embedding_model = None, ""
        s.add(sso)
        s.commit()
    fresh = MatchIndex()
    fresh.warm_up(engine)
    with Session(engine) as s:
        sso = s.get(FeatureRequest, sso_id)
        assert sso.embedding_model == fresh.matcher.model_name
        assert np.allclose(
            np.frombuffer(sso.embedding, dtype=np.float32),
            np.frombuffer(
                fresh.matcher.phrasing_vector(["Okta for all staff", "Okta for all staff", HEARD]),
                dtype=np.float32,
            ),
            atol=1e-6,
        )
    assert _suggested(fresh, engine, world[3])[0] == "Okta for all staff"


def test_a_split_unlearns_the_words_it_took_away(world):
    """A repeat confirmed by mistake taught the request its words; splitting it off takes them back."""
    engine, writer, ids, where = world
    reader = MatchIndex()
    with Session(engine) as s:
        sso = s.get(FeatureRequest, ids["Okta for all staff"])
        heard = store.record_occurrence(session=s, request=sso, logged_by_id=where[2], text=HEARD)
        writer.learn(s, sso)
        s.commit()
        heard_id = heard.id
    assert _suggested(reader, engine, where)[0] == "Okta for all staff"
    with Session(engine) as s:
        sso = s.get(FeatureRequest, ids["Okta for all staff"])
        new = decisions.split_occurrence(session=s, request=sso, occurrence_id=heard_id)
        writer.learn(s, sso)
        writer.add(s, new)
        s.commit()
    for index in (writer, reader):
        found = _suggested(index, engine, where)
        assert found[0] == HEARD and "Okta for all staff" not in found


def test_a_look_up_encodes_its_text_before_queueing_on_the_index(world, monkeypatch):
    """Threads of one web worker wait on each other for the index alone: the text is encoded (the slow
    part, which ONNX Runtime runs without holding the GIL) with no lock held."""
    engine, writer, ids, where = world
    ws_id, area_id, _ = where
    enc = encoder.load_encoder()
    real = enc.encode
    held: list[tuple[bool, bool]] = []

    def watched(texts, *args, **kwargs):
        held.append((writer._lock.locked(), writer.matcher._cache_lock.locked()))  # noqa: SLF001
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(enc, "encode", watched)
    with Session(engine) as s:
        found = writer.suggest(s, workspace_id=ws_id, area_id=area_id, text="csv download of the reports")
    assert [hit.request.title for hit in found][:1] == ["Export reports to CSV"]
    assert held == [(False, False)]  # encoded once, outside both locks
