"""A workspace's adapter on query embeddings (matching.adapter): switched in only when it beats the base
model on held-back "Same as" answers and does not make the labelled set worse; refused otherwise; fitted
by the clock from stored answers and used by every process."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import Session, select

from matching import adapter, encoder
from matching.encoder import VECTOR_TAG
from matching.index import Matcher
from storage import people
from storage import requests as store
from storage.matching import load_adapters, record_answer, refit_adapters
from storage.models import Draft, MatchAdapter

D = 384


def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(D, D)))
    return q.astype(np.float32)


def _workspace(seed: int, n_requests: int = 200, n_pairs: int = 400, scramble: bool = False):
    """Requests as random unit vectors; the workspace phrases each need in its own words, modelled as a
    fixed rotation of the request's vector plus noise (an adapter can learn it). ``scramble``: the
    answers point at random requests (nothing to learn)."""
    rng = np.random.default_rng(seed)
    requests = adapter.unit(rng.normal(size=(n_requests, D)))
    rot = _rotation(seed + 1)
    wanted = [int(x) for x in rng.integers(0, n_requests, size=n_pairs)]
    mixed = 0.25 * requests[wanted] + 0.75 * (requests[wanted] @ rot)
    queries = adapter.unit(mixed + 0.1 * rng.normal(size=(n_pairs, D)))
    if scramble:
        wanted = [int(x) for x in rng.integers(0, n_requests, size=n_pairs)]
    return list(range(1, n_pairs + 1)), queries, wanted, requests


def test_an_adapter_that_helps_on_held_back_answers_is_switched_in():
    ids, queries, wanted, requests = _workspace(3)
    verdict = adapter.decide(ids, queries, wanted, requests, labelled=lambda w: 0.86)
    assert verdict.adapter is not None, verdict
    assert verdict.held_adapted > verdict.held_base + 0.1


def test_an_adapter_no_better_on_held_back_answers_is_refused():
    ids, queries, wanted, requests = _workspace(5, scramble=True)
    verdict = adapter.decide(ids, queries, wanted, requests, labelled=lambda w: 0.86)
    assert verdict.adapter is None and verdict.reason == "no better on the held-back pairs"


def test_an_adapter_that_makes_the_labelled_set_worse_is_refused():
    ids, queries, wanted, requests = _workspace(3)
    # Better on the workspace's own answers, but the project's labelled set loses recall with it.
    verdict = adapter.decide(ids, queries, wanted, requests, labelled=lambda w: 0.86 if w is None else 0.80)
    assert verdict.held_adapted > verdict.held_base
    assert verdict.adapter is None and verdict.reason == "worse on the labelled set"


def test_too_few_answers_fit_nothing():
    ids, queries, wanted, requests = _workspace(3, n_pairs=adapter.MIN_PAIRS - 1)
    assert adapter.decide(ids, queries, wanted, requests, labelled=lambda w: 1.0).adapter is None


@pytest.mark.embeddings
def test_an_adapter_changes_only_its_own_workspace_ranking():
    if encoder.missing_reason():
        pytest.skip(encoder.missing_reason())
    m = Matcher()
    titles = {1: "SSO with Okta", 2: "Dark mode in the iOS app", 3: "Export the usage report to Excel"}
    for rid, title in titles.items():
        m.add(request_id=rid, scope=(1, 1), text=title)
        m.add(request_id=10 + rid, scope=(2, 1), text=title)
    text = "the board pack thing"
    before = [rid for rid, _ in m.suggest_many(scopes=[(1, 1)], text=text, limit=3)]
    # An adapter that sends this phrasing onto "Dark mode" (a rank-one map for the test).
    q = np.frombuffer(m.vector(text), dtype=np.float32)
    target = np.frombuffer(m.vector("Dark mode in the iOS app"), dtype=np.float32)
    w = np.outer(q, target).astype(np.float32)
    m.set_adapters({1: w.tobytes()})
    after = [rid for rid, _ in m.suggest_many(scopes=[(1, 1)], text=text, limit=3)]
    assert after[0] == 2 and before[:1] != [2]
    other = [rid for rid, _ in m.suggest_many(scopes=[(2, 1)], text=text, limit=3)]
    assert [rid - 10 for rid in other] == before  # workspace 2 has no adapter


@pytest.mark.embeddings
def test_a_refit_that_hurts_the_labelled_set_drops_the_stored_adapter(engine, monkeypatch):
    """The clock's refit from stored "Same as" answers: an adapter judged worse on the labelled set is not
    stored, and the one stored before is dropped, so no process uses it any more."""
    if encoder.missing_reason():
        pytest.skip(encoder.missing_reason())
    from matching import live
    from matching.live import MatchIndex
    from storage.models import utcnow

    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        rep = people.ensure_person(session=s, workspace=ws, slack_user_id="U1", name="rep")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Core")
        index = MatchIndex()
        requests = []
        for title in ["SSO with Okta", "Dark mode in the iOS app", "Export the usage report to Excel"]:
            r = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=title)
            index.add(s, r)
            requests.append(r)
        # Answers that contradict the words: each phrasing confirmed as an unrelated request.
        wording = ["okta login", "night theme on iphone", "usage numbers in a spreadsheet"]
        for i in range(adapter.MIN_PAIRS + 4):
            draft = Draft(workspace_id=ws.id, person_id=rep.id, text="x")
            s.add(draft)
            s.flush()
            text = f"{wording[i % 3]} {i}"
            record_answer(
                s,
                workspace_id=ws.id,
                draft_id=draft.id,
                text=text,
                same_as=requests[(i + 1) % 3].id,
                shown=[],
            )
        stored = MatchAdapter(
            workspace_id=ws.id, matrix=np.eye(D, dtype=np.float32).tobytes(), last_pair_id=0, model="old"
        )
        s.add(stored)
        s.commit()
        assert load_adapters(s) == {}  # fitted on vectors of another version: not used
        stored.model = VECTOR_TAG
        s.commit()
        assert set(load_adapters(s)) == {ws.id}
        monkeypatch.setattr(live, "REFUSED_EVERY", 0.0)
        index.refresh(s)
        assert set(index.matcher._adapters) == {ws.id}  # noqa: SLF001
        monkeypatch.setattr(adapter, "labelled_recall", lambda encode: lambda w: 0.86 if w is None else 0.5)
        verdicts = refit_adapters(s, now=utcnow())
        s.commit()
        assert [ws_id for ws_id, _ in verdicts] == [ws.id]
        assert verdicts[0][1] in ("worse on the labelled set", "no better on the held-back pairs")
        assert s.exec(select(MatchAdapter)).all() == [] and load_adapters(s) == {}
        index.refresh(s)
        assert index.matcher._adapters == {}  # noqa: SLF001
