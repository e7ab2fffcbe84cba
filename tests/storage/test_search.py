"""storage/search.py on both databases (the `engine` fixture): what a person types finds the request by its
title or by any phrasing confirmed as it, inside their workspace only, and no input is ever syntax."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select, text
from sqlmodel import Session

from storage import decisions, lifecycle, people
from storage import requests as store
from storage.db import alembic_config, migrate
from storage.models import FeatureRequest
from storage.search import RANKED, search_requests


def _request(s, ws, area, person, title, *phrasings, status="open"):
    request = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title=title)
    for said in (title, *phrasings):
        store.record_occurrence(session=s, request=request, logged_by_id=person.id, text=said)
    if status != "open":
        decisions.set_status(session=s, request=request, status=status, by=person, reason="later")
    s.flush()
    return request


@pytest.fixture
def world(engine):
    with Session(engine, expire_on_commit=False) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        other = people.ensure_workspace(session=s, team_id="T2")
        me = people.ensure_person(session=s, workspace=ws, slack_user_id="U1")
        them = people.ensure_person(session=s, workspace=other, slack_user_id="U2")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Platform")
        their_area = people.ensure_area(session=s, workspace_id=other.id, name="Platform")
        r = {
            "okta": _request(s, ws, area, me, "Okta SSO login for the admin console"),
            "rbac": _request(
                s, ws, area, me, "Role-based access (RBAC) for projects", "custom roles per team"
            ),
            "scim": _request(s, ws, area, me, "SCIM user provisioning", status="planned"),
            "wcag": _request(s, ws, area, me, "WCAG 2.1 AA accessibility audit", status="not_yet"),
            "csv": _request(s, ws, area, me, "Export reports to CSV", "excel download of the weekly report"),
            "umlaut": _request(s, ws, area, me, "Überweisung per SEPA für Kunden in München"),
            "cjk": _request(s, ws, area, me, "日本語 の 請求書"),
            "shipped": _request(s, ws, area, me, "Dark mode for dashboards", status="shipped"),
            "theirs": _request(s, other, their_area, them, "Okta SSO for everyone", "excel download"),
        }
        s.commit()
        yield s, ws, other, me, area, r


def find(s, ws, typed, **kw):
    return search_requests(s, workspace_id=ws.id, text=typed, **kw)


def test_title_words_find_the_request_best_first(world):
    s, ws, _, _, _, r = world
    assert find(s, ws, "okta sso")[0] == r["okta"].id
    assert find(s, ws, "Export CSV") == [r["csv"].id]
    assert find(s, ws, "accessibility") == [r["wcag"].id]


def test_confirmed_phrasings_find_the_request(world):
    s, ws, _, _, _, r = world
    assert find(s, ws, "excel download") == [r["csv"].id]
    assert find(s, ws, "custom roles") == [r["rbac"].id]


def test_a_partly_typed_word_is_a_prefix(world):
    s, ws, _, _, _, r = world
    assert find(s, ws, "okt") == [r["okta"].id]
    assert find(s, ws, "provis") == [r["scim"].id]
    assert find(s, ws, "excel down") == [r["csv"].id]


@pytest.mark.parametrize(
    "typed,key", [("RBAC", "rbac"), ("rbac", "rbac"), ("SCIM", "scim"), ("WCAG", "wcag"), ("OKTA", "okta")]
)
def test_acronyms(world, typed, key):
    s, ws, _, _, _, r = world
    assert find(s, ws, typed) == [r[key].id]


def test_shorthand_also_finds_what_it_stands_for(world):
    """matching.glossary: a typed acronym also finds the request written out in words, and only that."""
    s, ws, _, me, area, r = world
    sso = _request(s, ws, area, me, "Single sign-on for contractors")
    sla = _request(s, ws, area, me, "Report on the service level agreement per customer")
    s.commit()
    assert set(find(s, ws, "sso")) == {sso.id, r["okta"].id}
    assert find(s, ws, "SLA") == [sla.id]
    assert find(s, ws, "sla customer") == [sla.id]
    assert find(s, ws, "single sign") == [sso.id]  # the words themselves, as ever
    assert find(s, ws, "rbac") == [r["rbac"].id]  # the title has the word; not spelt out there


def test_unicode_words(world):
    s, ws, _, _, _, r = world
    assert find(s, ws, "überweisung") == [r["umlaut"].id]
    assert find(s, ws, "MÜNCHEN") == [r["umlaut"].id]
    assert find(s, ws, "Überw") == [r["umlaut"].id]
    assert find(s, ws, "請求書") == [r["cjk"].id]


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "<!channel>",
        "<!here> okta",
        '"okta',
        'okta"',
        "okta*",
        "*",
        "okta AND",
        "AND",
        "OR NOT",
        "NEAR(okta sso",
        "NEAR(",
        "-okta",
        "title:okta",
        "okta:*",
        "'okta'",
        "okta & | ! <->",
        "(((",
        "^okta",
        "{title}: okta",
        "\\",
        "\x00okta",
        "okta\ud800",
        "a" * 10_000,
        "okta " * 5_000,
        "`okta` *sso* _login_ ~admin~",
    ],
)
def test_any_input_is_words_or_nothing_never_syntax(world, typed):
    s, ws, _, _, _, r = world
    found = find(s, ws, typed)  # never raises
    assert r["theirs"].id not in found
    if "okta" in typed.lower() and "near(" not in typed.lower():
        assert r["okta"].id in found


def test_empty_finds_nothing(world):
    s, ws, _, _, _, _ = world
    assert find(s, ws, "") == [] and find(s, ws, "   ") == [] and find(s, ws, "<!>") == []


def test_no_request_has_every_word_then_any_word_will_do(world):
    s, ws, _, _, _, r = world
    found = find(s, ws, "okta zebra")
    assert found == [r["okta"].id]


def test_other_workspaces_requests_are_never_found(world):
    s, ws, other, _, _, r = world
    assert r["theirs"].id not in find(s, ws, "okta sso for everyone")
    assert r["theirs"].id not in find(s, ws, "excel download")
    assert find(s, other, "okta") == [r["theirs"].id]
    assert find(s, other, "accessibility") == []


def test_statuses_shipped_and_merged_are_left_out(world):
    s, ws, _, me, _, r = world
    assert find(s, ws, "dark mode") == []
    assert find(s, ws, "dark mode", statuses=("open", "shipped")) == [r["shipped"].id]
    decisions.merge_requests(session=s, source=r["rbac"], target=r["okta"], by=me)
    s.commit()
    for statuses in [("open", "planned", "not_yet"), ("open", "planned", "not_yet", "shipped")]:
        assert r["rbac"].id not in find(s, ws, "rbac", statuses=statuses)
    # The merged request's phrasings moved with its occurrences: they now find the target.
    assert find(s, ws, "custom roles") == [r["okta"].id]
    assert find(s, ws, "rbac") == [r["okta"].id]


def test_limit(world):
    s, ws, _, me, area, _ = world
    for i in range(30):
        _request(s, ws, area, me, f"Webhook retries number {i}")
    s.commit()
    assert len(find(s, ws, "webhook", limit=7)) == 7
    assert len(find(s, ws, "webhook")) == 30


def test_split_rename_and_erase_keep_the_index_true(world):
    s, ws, _, me, _, r = world
    occ = store.occurrences_of(session=s, request_id=r["csv"].id)[-1]  # "excel download of the weekly report"
    new = decisions.split_occurrence(session=s, request=r["csv"], occurrence_id=occ.id)
    s.commit()
    assert find(s, ws, "excel download") == [new.id]
    r["okta"].title = "Okta and Azure AD single sign-on"
    s.add(r["okta"])
    s.commit()
    assert find(s, ws, "azure") == [r["okta"].id]
    lifecycle.erase_person(session=s, person=me)
    s.commit()
    assert find(s, ws, "excel download") == []


def test_the_migration_backfills_and_downgrades(engine, world):
    """Down to 0015 drops the index; up again fills it from the rows already there."""
    s, ws, _, _, _, r = world
    s.close()
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015_oauth")
    assert not any(t.startswith("request_search") for t in inspect(engine).get_table_names())
    assert "ix_feature_request_general" not in {
        i["name"] for i in inspect(engine).get_indexes("feature_request")
    }
    migrate(engine)
    if engine.dialect.name == "sqlite":  # every request is in the walk's order: length(title), then id
        with engine.connect() as conn:
            keyed = conn.execute(
                text(
                    "SELECT count(*) FROM request_search_general g JOIN feature_request r "
                    "ON g.rowid = length(r.title) * 4294967296 + r.id"
                )
            )
            assert keyed.scalar() == conn.execute(text("SELECT count(*) FROM feature_request")).scalar() == 9
    with Session(engine) as s2:
        assert search_requests(s2, workspace_id=ws.id, text="excel") == [r["csv"].id]
        assert search_requests(s2, workspace_id=ws.id, text="okt")[0] == r["okta"].id


def test_only_the_newest_matches_are_ranked_and_they_are_the_workspaces_own(world, monkeypatch):
    """A broad query ranks the newest RANKED matches of this workspace: another workspace's newer ones
    never crowd them out. The general ones (shortest title, then oldest) come in turn with them."""
    import storage.search

    s, ws, other, me, area, _ = world
    them = people.ensure_person(session=s, workspace=other, slack_user_id="U3")
    their_area = people.ensure_area(session=s, workspace_id=other.id, name="Platform")
    ours = [_request(s, ws, area, me, f"Webhook retries {i}").id for i in range(5)]
    for i in range(12):
        _request(s, other, their_area, them, f"Webhook signing {i}")
    s.commit()
    monkeypatch.setattr(storage.search, "RANKED", 3)
    found = find(s, ws, "webhook", limit=3)
    # The best of the 3 newest, the oldest of the shortest titles, the next of the 3 newest.
    assert set(found) <= set(ours) and len(found) == 3
    assert found[1] == ours[0] and {found[0], found[2]} <= set(ours[2:])
    assert set(find(s, ws, "webhook", limit=50)) == set(ours)
    assert find(s, ws, "webhook retries 1", limit=3) == [ours[1]]  # more words: the older one is found


T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _bulk(s, ws, area, titles, status="open"):
    """Many requests in one statement (the triggers index each); ids in the order given, so newer."""
    s.execute(
        insert(FeatureRequest),
        [
            dict(workspace_id=ws.id, area_id=area.id, title=t, status=status, created_at=T0, updated_at=T0)
            for t in titles
        ],
    )
    s.flush()


@pytest.fixture
def crowded(world, clock):
    """An old general request, "Audit log", then more than RANKED newer requests with its words."""
    s, ws, other, me, area, r = world
    clock.set(T0)
    audit = _request(s, ws, area, me, "Audit log")
    many = RANKED + 100
    _bulk(s, ws, area, [f"Audit log export for team {i} with a weekly summary" for i in range(many)])
    _bulk(s, ws, area, ["Audit"], status="shipped")  # shorter still, but shipped
    their_area = people.ensure_area(session=s, workspace_id=other.id, name="Platform")
    _bulk(s, other, their_area, ["Audit", "Log audit"])  # shorter, but another workspace's
    s.commit()
    return s, ws, other, me, area, audit


def _titles(s, ids):
    rows = s.execute(select(FeatureRequest.id, FeatureRequest.workspace_id, FeatureRequest.title)).all()
    return [(ws_id, title) for rid, ws_id, title in sorted(rows) if rid in set(ids)]


def test_an_old_general_request_is_found_by_one_word_among_many_newer(crowded):
    s, ws, other, _, _, audit = crowded
    typed_in = ["audit", "log", "aud", "lo", "audit zebra"]  # whole, partly typed, any word
    if s.get_bind().dialect.name == "sqlite":  # PostgreSQL: one word or any word (storage/search.py)
        typed_in.append("Audit log")
    for typed in typed_in:
        found = find(s, ws, typed)
        assert len(found) == 50, typed
        assert audit.id in found[:2], typed  # the general request comes first or second
        shown = _titles(s, found)
        assert {ws_id for ws_id, _ in shown} == {ws.id}, typed  # never another workspace's
        assert "Audit" not in {title for _, title in shown}, typed  # never the shipped one
    # The newest matches are still ranked with them.
    newest = max(
        rid
        for (rid,) in s.execute(
            select(FeatureRequest.id).where(
                FeatureRequest.workspace_id == ws.id, FeatureRequest.status == "open"
            )
        )
    )
    assert newest in find(s, ws, "audit")
    assert _titles(s, find(s, other, "audit")) == [(other.id, "Audit"), (other.id, "Log audit")]


def test_the_general_walk_follows_a_rename_and_an_erase(crowded):
    s, ws, _, me, _, audit = crowded
    audit.title = "Weekly summary"
    s.add(audit)
    s.commit()
    assert audit.id in find(s, ws, "weekly")[:2]  # its new title is the shortest with "weekly"
    assert audit.id not in find(s, ws, "audit")[:2]
    lifecycle.erase_person(session=s, person=me)
    s.commit()
    assert audit.id not in find(s, ws, "weekly")
