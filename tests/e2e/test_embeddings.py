"""The sentence-embedding matcher in the running bot (optional extra `embeddings`): a paraphrase that
shares almost no words with the stored request is still suggested, and the vector is kept with it."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from matching import encoder
from storage.db import make_engine
from storage.models import FeatureRequest, MatchPair, Occurrence
from tests.conftest import SIGNING_SECRET
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_thresholds import log

pytestmark = pytest.mark.embeddings

AZURE = "Initech wants employees to log in with their Azure AD accounts"


@pytest.fixture(params=[1], ids=["1-worker"])
def embedding_server(request, tmp_path, fake_slack):
    if encoder.missing_reason():
        pytest.skip(encoder.missing_reason())
    from bot.driver import HttpDriver

    url = f"sqlite:///{tmp_path / 'emb.db'}"
    proc, base = start_server(
        url,
        fake_slack,
        tmp_path / "server.log",
        workers=request.param,
        extra_env={"PARTNERBOT_EMBEDDINGS": "1"},
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


@pytest.mark.parametrize("embedding_server", [2], ids=["2-workers"], indirect=True)
def test_a_confirmed_repeat_teaches_the_request_its_words_in_every_worker(embedding_server):
    """ "Same as this" makes the request findable by that phrasing's words: a third rep's wording that
    the title alone doesn't reach is suggested, whichever of the two web workers takes the form."""
    d, engine = embedding_server
    for i, title in enumerate(
        [
            "SAML SSO with Okta",
            "Two-factor authentication",
            "See which users are active",
            "Microsoft Teams integration",
        ]
    ):
        log(d, f"U{i}REP", title, {"customer": f"Customer {i}"})
    step = log(
        d,
        "U5CSM",
        "single sign-on through their identity provider",
        {"customer": "Globex"},
        same_as="SAML SSO",
    )
    assert step is not None
    step = log(d, "U6AM", AZURE, {"customer": "Initech"}, same_as="SAML SSO")
    assert step is not None, "the learnt request was not suggested"
    first = step["blocks"][1]["element"]["options"][0]["text"]["text"]
    assert "SAML SSO with Okta" in first
    with Session(engine) as s:
        sso = s.exec(select(FeatureRequest).where(FeatureRequest.title == "SAML SSO with Okta")).one()
        texts = [o.text for o in s.exec(select(Occurrence).where(Occurrence.request_id == sso.id))]
        assert len(s.exec(select(FeatureRequest)).all()) == 4
    assert texts == ["SAML SSO with Okta", "single sign-on through their identity provider", AZURE]
    assert sso.embedding_at is not None


def test_its_new_is_remembered_and_the_refused_request_is_not_offered_again(embedding_server):
    """A requester answers "It's new" to the step: each request shown is stored once as *not* that
    phrasing, and the next rep typing it is not offered those requests again (only the new one)."""
    d, engine = embedding_server
    log(d, "U1REP", "SAML SSO with Okta", {"customer": "Acme"})
    log(d, "U2REP", "Dark mode for the dashboard", {"customer": "Initech"})
    wording = "single sign-on for the franchise stores through Okta"
    step = log(d, "U3CSM", wording, {"customer": "Globex"})  # answers "It's new"
    assert step is not None and "SAML SSO with Okta" in json.dumps(step)
    again = log(d, "U4AM", wording, {"customer": "Umbrella"}, same_as=wording[:20])
    assert again is not None
    offered = [o["text"]["text"] for o in again["blocks"][1]["element"]["options"]]
    assert offered[0].startswith("Same as: single sign-on for the franchise")
    assert not any("SAML SSO with Okta" in o for o in offered)
    with Session(engine) as s:
        sso = s.exec(select(FeatureRequest).where(FeatureRequest.title == "SAML SSO with Okta")).one()
        pairs = s.exec(select(MatchPair).order_by(MatchPair.id)).all()
    refused = [(p.request_id, p.text, p.same) for p in pairs if not p.same]
    assert (sso.id, wording, False) in refused and len(refused) == len(set(refused))
    assert [p.same for p in pairs].count(True) == 1  # U4AM's "Same as" the request U3CSM logged
