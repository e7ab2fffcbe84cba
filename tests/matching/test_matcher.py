"""Repeat recognition: normalisation, both matcher backends, and loading from the database."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel

from matching import encoder
from matching.index import Matcher
from matching.normalize import MAX_TEXT, normalize
from storage.matching import load_matcher
from storage.models import FeatureRequest, ProductArea, Workspace

WEIRD_TEXTS = [
    "",
    "   ",
    "!!! ??? ...",
    "please",
    "x" * 10_000,
    "export reports " * 700,
    "Café crème — naïve façade déjà vu",
    "CSV导出报表功能 日本語のテキスト 한국어",
    "🚀🔥 export 📊 reports 🙏",
    "<@U123> <!channel> <https://example.com>",
    "\x00\u200b\ufeff zero width",
]


# -- normalize -------------------------------------------------------------------------------------


def test_normalize_casefolds_and_strips_punctuation():
    assert normalize("Export REPORTS to CSV!!!", spell_out=False) == "export reports to csv"
    assert normalize("Straße, déjà-vu; (ÉTÉ)") == "strasse deja vu ete"


def test_normalize_strips_slack_markup():
    text = "<@U02AB12> <!channel> see <https://acme.io/r/1|the weekly report> and <https://x.io> <#C1|sales> <!subteam^S1>"
    assert normalize(text) == "see the weekly report and"


def test_normalize_strips_filler():
    assert normalize("Hey team, customer wants CSV export please", spell_out=False) == "csv export"
    assert normalize("It would be great if we could get dark mode, thanks!") == "we could get dark mode"
    assert normalize("We need SSO", spell_out=False) == "sso"
    # Nothing but filler: keep it rather than return nothing.
    assert normalize("please") == "please"


def test_shorthand_is_spelt_out_after_itself_once():
    assert normalize("We need SSO") == "sso single sign on"
    assert normalize("<!here> RBAC for admins pls") == "rbac role based access control permissions for admins"
    assert normalize("SOC 2 report") == "soc 2 security audit compliance report"
    # Words the text already holds are not added again; an entry met twice is spelt out once.
    assert normalize("SSO single sign on") == "sso single sign on"
    assert normalize("SAML SSO") == "saml single sign on sso"
    # Only whole words: "Sandboxes" and "assoc" are not entries.
    assert normalize("assoc list") == "assoc list"


@pytest.mark.embeddings
def test_shorthand_finds_the_request_written_in_words(embedding_matcher):
    m = Matcher()
    titles = {
        1: "Custom roles and permissions",
        2: "Accessibility audit of the web app",
        3: "Gantt chart for projects",
        4: "Export the usage report",
        5: "Dark mode",
    }
    for rid, title in titles.items():
        m.add(request_id=rid, scope=(1, 1), text=title)
    assert m.suggest(scope=(1, 1), text="RBAC for their admins")[0][0] == 1
    assert m.suggest(scope=(1, 1), text="WCAG compliance for a government deal")[0][0] == 2


@pytest.mark.parametrize("text", WEIRD_TEXTS)
def test_normalize_never_crashes(text):
    out = normalize(text)
    assert isinstance(out, str)
    assert len(out) <= MAX_TEXT


def test_normalize_keeps_non_latin_words():
    assert "日本語のテキスト" in normalize("日本語のテキスト!")


# -- string backend --------------------------------------------------------------------------------

REQUESTS = {
    1: "Export reports to CSV",
    2: "Dark mode for the web app",
    3: "SAML single sign-on with Okta",
    4: "Import users from a CSV file",
    5: "Webhooks when an invoice is paid",
}


def _filled(matcher: Matcher, scope=(1, 1)) -> Matcher:
    for rid, text in REQUESTS.items():
        matcher.add(request_id=rid, scope=scope, text=text)
    return matcher


@pytest.fixture
def string_matcher() -> Matcher:
    matcher = Matcher(prefer_embeddings=False)
    assert matcher.backend == "string"
    assert matcher.vector("anything") is None
    return _filled(matcher)


def test_string_suggests_a_rewording(string_matcher):
    found = string_matcher.suggest(
        scope=(1, 1), text="<@U1> customer wants the reports exported as csv please"
    )
    assert found and found[0][0] == 1
    assert all(0.0 <= score <= 1.0 for _, score in found)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_string_unrelated_text_gets_no_suggestion(string_matcher):
    assert string_matcher.suggest(scope=(1, 1), text="quarterly pricing review with finance") == []


def test_string_limit(string_matcher):
    assert len(string_matcher.suggest(scope=(1, 1), text="csv", limit=1)) <= 1
    assert string_matcher.suggest(scope=(1, 1), text="csv", limit=0) == []


def test_string_never_crosses_scope(string_matcher):
    string_matcher.add(request_id=99, scope=(1, 2), text="Export reports to CSV")
    string_matcher.add(request_id=98, scope=(2, 1), text="Export reports to CSV")
    found = string_matcher.suggest(scope=(1, 1), text="Export reports to CSV")
    assert 99 not in [rid for rid, _ in found] and 98 not in [rid for rid, _ in found]
    assert [rid for rid, _ in string_matcher.suggest(scope=(1, 2), text="export reports to csv")] == [99]
    assert string_matcher.suggest(scope=(3, 3), text="export reports to csv") == []


def test_string_remove(string_matcher):
    assert len(string_matcher) == 5
    string_matcher.remove(1)
    string_matcher.remove(12345)  # unknown: ignored
    assert len(string_matcher) == 4
    assert 1 not in [rid for rid, _ in string_matcher.suggest(scope=(1, 1), text="export reports to csv")]


def test_string_readd_replaces(string_matcher):
    string_matcher.add(request_id=2, scope=(1, 1), text="Zapier integration")
    assert len(string_matcher) == 5
    assert 2 not in [rid for rid, _ in string_matcher.suggest(scope=(1, 1), text="dark mode for the web app")]
    assert string_matcher.suggest(scope=(1, 1), text="zapier integration")[0][0] == 2
    # Moving a request to another area moves it out of the old scope.
    string_matcher.add(request_id=2, scope=(1, 7), text="Zapier integration")
    assert 2 not in [rid for rid, _ in string_matcher.suggest(scope=(1, 1), text="zapier integration")]
    assert string_matcher.suggest(scope=(1, 7), text="zapier integration")[0][0] == 2


def test_string_removing_most_compacts_and_still_works():
    matcher = Matcher(prefer_embeddings=False)
    for i in range(1, 5001):
        matcher.add(request_id=i, scope=(1, 1), text=f"export widget number {i} to csv")
    for i in range(1, 4900):
        matcher.remove(i)
    assert len(matcher) == 101
    found = matcher.suggest(scope=(1, 1), text="export widget number 4950 to csv")
    assert found[0][0] == 4950


@pytest.mark.parametrize("text", WEIRD_TEXTS)
def test_string_odd_texts_do_not_crash(string_matcher, text):
    string_matcher.add(request_id=500, scope=(1, 1), text=text)
    result = string_matcher.suggest(scope=(1, 1), text=text)
    assert isinstance(result, list)


def test_string_unicode_match(string_matcher):
    string_matcher.add(request_id=600, scope=(1, 1), text="CSV导出报表功能")
    assert string_matcher.suggest(scope=(1, 1), text="CSV导出报表")[0][0] == 600
    string_matcher.add(request_id=601, scope=(1, 1), text="Exportation des factures en café")
    assert string_matcher.suggest(scope=(1, 1), text="exportation des factures en cafe")[0][0] == 601


# -- load_matcher ----------------------------------------------------------------------------------


@pytest.fixture
def session():
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        ws = Workspace(team_id="T1")
        s.add(ws)
        s.flush()
        areas = [ProductArea(workspace_id=ws.id, name=n, name_key=n) for n in ("core", "billing")]
        s.add_all(areas)
        s.flush()
        s.info["ids"] = (ws.id, areas[0].id, areas[1].id)
        yield s
    engine.dispose()


def _request(session, title, area, status="open", **kw) -> FeatureRequest:
    ws_id = session.info["ids"][0]
    request = FeatureRequest(workspace_id=ws_id, area_id=area, title=title, status=status, **kw)
    session.add(request)
    session.flush()
    return request


def test_load_matcher_skips_merged_and_is_incremental(session):
    ws, core, billing = session.info["ids"]
    a = _request(session, "Export reports to CSV", core)
    merged = _request(session, "Export reports to CSV file", core, status="merged")
    c = _request(session, "Invoices in euros", billing)
    matcher = Matcher(prefer_embeddings=False)
    assert load_matcher(session, matcher)[0] == []
    assert len(matcher) == 2 and merged.id not in matcher
    assert matcher.max_id == c.id
    assert [rid for rid, _ in matcher.suggest(scope=(ws, core), text="export reports to csv")] == [a.id]
    assert matcher.suggest(scope=(ws, billing), text="export reports to csv") == []

    d = _request(session, "Dark mode", core)
    assert load_matcher(session, matcher, since_id=matcher.max_id)[0] == []
    assert len(matcher) == 3
    assert matcher.suggest(scope=(ws, core), text="dark mode please")[0][0] == d.id
    # A later merge seen by a refresh of those rows drops it.
    d.status = "merged"
    session.add(d)
    session.flush()
    load_matcher(session, matcher, since_id=d.id - 1)
    assert d.id not in matcher


# -- embedding backend -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedding_matcher() -> Matcher:
    if encoder.missing_reason():
        pytest.skip(encoder.missing_reason())
    matcher = Matcher()
    assert matcher.backend == "embedding"
    return _filled(matcher)


@pytest.mark.embeddings
def test_embedding_vector_is_normalised_float32(embedding_matcher):
    raw = embedding_matcher.vector("Export reports to CSV")
    assert isinstance(raw, bytes) and len(raw) == encoder.EMBEDDING_DIM * 4
    vec = np.frombuffer(raw, dtype=np.float32)
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4
    assert embedding_matcher.model_name == encoder.VECTOR_TAG


@pytest.mark.embeddings
def test_embedding_finds_a_paraphrase(embedding_matcher):
    found = embedding_matcher.suggest(scope=(1, 1), text="excel download of the weekly report")
    assert found and found[0][0] == 1
    found = embedding_matcher.suggest(scope=(1, 1), text="a black background theme so it's easier at night")
    assert found and found[0][0] == 2
    assert embedding_matcher.suggest(scope=(1, 1), text="the coffee machine on floor 3 is broken") == []


@pytest.mark.embeddings
def test_embedding_scope_remove_readd(embedding_matcher):
    m = embedding_matcher
    m.add(request_id=70, scope=(9, 9), text="Dark mode for the web app")
    assert 70 not in [rid for rid, _ in m.suggest(scope=(1, 1), text="dark mode")]
    assert [rid for rid, _ in m.suggest(scope=(9, 9), text="dark theme")] == [70]
    m.add(request_id=70, scope=(9, 9), text="Invoices in euros")
    assert m.suggest(scope=(9, 9), text="bill them in EUR")[0][0] == 70
    assert m.suggest(scope=(9, 9), text="dark mode for the web app") == []
    m.remove(70)
    assert m.suggest(scope=(9, 9), text="bill them in EUR") == []


@pytest.mark.embeddings
def test_embedding_reuses_a_stored_vector_and_ignores_a_bad_one(embedding_matcher):
    m = embedding_matcher
    stored = m.vector("Zapier integration")
    m.add(request_id=80, scope=(8, 8), text="this text is ignored, the vector wins", vector=stored)
    assert m.suggest(scope=(8, 8), text="zapier integration")[0][0] == 80
    m.add(request_id=81, scope=(8, 8), text="Dark mode", vector=b"\x00" * 12)  # wrong size: recomputed
    assert m.suggest(scope=(8, 8), text="dark theme")[0][0] == 81


@pytest.mark.embeddings
@pytest.mark.parametrize("text", WEIRD_TEXTS)
def test_embedding_odd_texts_do_not_crash(embedding_matcher, text):
    embedding_matcher.add(request_id=500, scope=(5, 5), text=text)
    assert isinstance(embedding_matcher.suggest(scope=(5, 5), text=text), list)
    embedding_matcher.remove(500)


@pytest.mark.embeddings
def test_load_matcher_uses_stored_vectors_and_reports_missing(session, embedding_matcher):
    ws, core, _billing = session.info["ids"]
    model = embedding_matcher.model_name
    good = _request(
        session,
        "Export reports to CSV",
        core,
        embedding=embedding_matcher.vector("Export reports to CSV"),
        embedding_model=model,
    )
    # A vector from another model, and none at all: both must be computed and reported.
    other = _request(session, "Dark mode", core, embedding=b"\x01" * 1536, embedding_model="old-model")
    bare = _request(session, "SAML SSO with Okta", core)
    _request(session, "Merged one", core, status="merged")
    matcher = Matcher()
    missing, _ = load_matcher(session, matcher)
    assert sorted(missing) == sorted([other.id, bare.id])
    assert good.id not in missing
    assert len(matcher) == 3
    assert matcher.suggest(scope=(ws, core), text="single sign-on through Okta")[0][0] == bare.id


# -- learning a request's phrasings ----------------------------------------------------------------

SSO_WORLD = {
    1: "Export reports to CSV",
    2: "Dark mode for the web app",
    3: "Okta for all staff",
    6: "two-factor authentication",
    7: "see which users are active",
    8: "Microsoft Teams integration",
}
AZURE = "Initech wants employees to log in with their Azure AD accounts"


@pytest.mark.embeddings
def test_phrasing_vector_is_the_mean_of_distinct_phrasings(embedding_matcher):
    m = embedding_matcher
    title, other = "SAML SSO with Okta", "single sign-on through their identity provider"
    alone = np.frombuffer(m.phrasing_vector([title]), dtype=np.float32)
    assert np.allclose(alone, np.frombuffer(m.vector(title), dtype=np.float32), atol=1e-6)
    both = np.frombuffer(m.phrasing_vector([title, other]), dtype=np.float32)
    mean = np.frombuffer(m.vector(title), dtype=np.float32) + np.frombuffer(m.vector(other), dtype=np.float32)
    assert np.allclose(both, mean / np.linalg.norm(mean), atol=1e-5)
    # The same words again (any case, punctuation or filler) count once.
    again = m.phrasing_vector(
        [title, other, "Single sign-on through their identity provider!", "pls " + other]
    )
    assert np.allclose(np.frombuffer(again, dtype=np.float32), both, atol=1e-6)
    assert Matcher(prefer_embeddings=False).phrasing_vector([title, other]) is None


@pytest.mark.embeddings
def test_a_request_is_found_by_a_phrasing_its_title_alone_misses(embedding_matcher):
    m = Matcher()
    for rid, text in SSO_WORLD.items():
        m.add(request_id=rid, scope=(4, 4), text=text)
    before = [rid for rid, _ in m.suggest(scope=(4, 4), text=AZURE)]
    assert 3 not in before  # the title alone doesn't get there
    heard = [SSO_WORLD[3], "single sign-on through their identity provider"]
    m.add(request_id=3, scope=(4, 4), text=SSO_WORLD[3], vector=m.phrasing_vector(heard))
    assert m.suggest(scope=(4, 4), text=AZURE)[0][0] == 3
    assert m.suggest(scope=(4, 4), text="Okta for all staff")[0][0] == 3  # still found by its title
