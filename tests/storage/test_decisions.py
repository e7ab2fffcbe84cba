"""PM decisions and merges on SQLite and PostgreSQL: statuses recorded with who/when/why, merges move
occurrences and threshold crossings and keep everything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from storage import decisions, people, thresholds
from storage import requests as store
from storage.models import FeatureRequest, Occurrence, ThresholdCrossing, utcnow


@pytest.fixture
def world(engine):
    with Session(engine, expire_on_commit=False) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        other = people.ensure_workspace(session=s, team_id="T2")
        pm = people.ensure_person(session=s, workspace=ws, slack_user_id="UPM", name="Pat")
        people.set_pm(session=s, person=pm, is_pm=True)
        ana = people.ensure_person(session=s, workspace=ws, slack_user_id="UANA", name="Ana")
        bo = people.ensure_person(session=s, workspace=ws, slack_user_id="UBO", name="Bo")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting", pm=pm)
        s.commit()
        yield s, ws, other, pm, ana, bo, area


def log(s, request, person, customer, days_ago=0, **kw):
    occ = store.record_occurrence(
        session=s, request=request, logged_by_id=person.id, text=request.title, customer=customer, **kw
    )
    occ.created_at = utcnow() - timedelta(days=days_ago)
    s.add(occ)
    s.flush()
    return occ


def test_status_changes_record_who_when_and_why(world):
    s, ws, _, pm, ana, _, area = world
    req = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
    first = decisions.set_status(session=s, request=req, status="not_yet", by=pm, reason="Q3 goes to SSO")
    assert req.status == "not_yet" and req.status_reason == "Q3 goes to SSO" and req.status_by_id == pm.id
    assert req.status_changed_at is not None
    decisions.set_status(
        session=s, request=req, status="shipped", by=pm, note="In Reports > Export", link="https://x.io"
    )
    assert (req.status, req.shipped_note, req.shipped_link, req.status_reason) == (
        "shipped",
        "In Reports > Export",
        "https://x.io",
        "",
    )
    decisions.set_status(session=s, request=req, status="open", by=pm)
    s.commit()
    history = decisions.history(session=s, request_id=req.id)
    assert [(d.from_status, d.status) for d in history] == [
        ("open", "not_yet"),
        ("not_yet", "shipped"),
        ("shipped", "open"),
    ]
    assert history[0].id == first.id and history[0].reason == "Q3 goes to SSO"
    with pytest.raises(decisions.DecisionError):
        decisions.set_status(session=s, request=req, status="bogus", by=pm)


def test_merge_moves_occurrences_and_crossings_and_keeps_both_requesters(world):
    s, ws, _, pm, ana, bo, area = world
    target = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
    source = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="Excel download")
    older = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="Spreadsheet dump")
    log(s, target, ana, "Acme", days_ago=3)
    o1 = log(s, source, bo, "Globex", days_ago=2, amount_cents=9_000_000)
    log(s, source, bo, "Initech", days_ago=1)
    log(s, older, ana, "Umbrella")
    decisions.merge_requests(session=s, source=older, target=source, by=pm)  # an earlier merge into source
    # Both crossed the count rule in the same window key: the move must keep both rows.
    for req in (target, source):
        s.add(
            ThresholdCrossing(
                workspace_id=ws.id,
                request_id=req.id,
                rule="count",
                window_key="count:w0:r0",
                occurrence_id=o1.id,
            )
        )
    s.commit()

    merge = decisions.merge_requests(session=s, source=source, target=target, by=pm)
    s.commit()
    assert merge.moved_occurrences == 3 and merge.moved_crossings == 1
    occs = store.occurrences_of(session=s, request_id=target.id)
    assert len(occs) == 4 and store.occurrences_of(session=s, request_id=source.id) == []
    assert set(decisions.requesters(session=s, request_id=target.id)) == {ana.id, bo.id}
    stats = store.request_stats(session=s, request_id=target.id)
    assert stats.customers == {"acme", "globex", "initech", "umbrella"} and stats.money == {"USD": 9_000_000}
    crossings = thresholds.open_crossings(session=s, request_id=target.id)
    assert sorted(c.window_key for c in crossings) == ["count:w0:r0", f"count:w0:r0:m{source.id}"]
    src = s.get(FeatureRequest, source.id)
    assert (src.status, src.merged_into_id, src.status_by_id) == ("merged", target.id, pm.id)
    assert s.get(FeatureRequest, older.id).merged_into_id == target.id  # the chain points at the survivor
    assert s.exec(select(Occurrence)).all().__len__() == 4  # nothing deleted
    assert decisions.history(session=s, request_id=source.id)[-1].moved_occurrences == 3
    # The merged request is no longer offered or listed, and is counted as merged.
    listed, merged = decisions.area_requests(session=s, area=area)
    assert [x.request.id for x in listed] == [target.id] and merged == 2
    assert listed[0].customers == ["Acme", "Globex", "Initech", "Umbrella"]
    # Merging into a merged request goes to where its occurrences went.
    third = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV again")
    log(s, third, ana, "Acme")
    again = decisions.merge_requests(session=s, source=third, target=src, by=pm)
    assert again.target.id == target.id


def test_merge_refuses_what_makes_no_sense(world):
    s, ws, other, pm, ana, _, area = world
    a = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="A")
    elsewhere_area = people.ensure_area(session=s, workspace_id=other.id, name="Other")
    elsewhere = store.create_request(session=s, workspace_id=other.id, area_id=elsewhere_area.id, title="B")
    with pytest.raises(decisions.DecisionError, match="itself"):
        decisions.merge_requests(session=s, source=a, target=a, by=pm)
    with pytest.raises(decisions.DecisionError, match="different workspaces"):
        decisions.merge_requests(session=s, source=a, target=elsewhere, by=pm)
    b = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="B")
    decisions.merge_requests(session=s, source=a, target=b, by=pm)
    with pytest.raises(decisions.DecisionError, match="merged"):
        decisions.set_status(session=s, request=s.get(FeatureRequest, a.id), status="planned", by=pm)


def test_a_persons_requests_are_theirs_only(world):
    s, ws, _, pm, ana, bo, area = world
    a = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="A")
    b = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="B")
    log(s, a, ana, "Acme", days_ago=5)
    log(s, b, ana, "Globex", days_ago=1)
    log(s, b, bo, "Initech")
    s.commit()
    mine = decisions.person_requests(session=s, workspace_id=ws.id, person_id=ana.id)
    assert [x.request.title for x, _ in mine] == ["B", "A"]  # most recently raised first
    assert [len(o) for _, o in mine] == [1, 1] and mine[0][0].stats.count == 2
    assert decisions.person_requests(session=s, workspace_id=ws.id, person_id=pm.id) == []
    assert [c.request.title for c in decisions.merge_candidates(session=s, request=a)] == ["B"]


def test_two_decisions_read_before_either_was_stored_make_one(world, engine):
    """Two clicks (or two PMs) that both read the request while it was open: the first decides, the second
    finds the status changed under it and records nothing."""
    s, ws, _, pm, ana, _, area = world
    req = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
    other = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="Excel export")
    log(s, req, ana, "Acme")
    s.commit()
    with Session(engine, expire_on_commit=False) as first, Session(engine, expire_on_commit=False) as second:
        mine, theirs = first.get(FeatureRequest, req.id), second.get(FeatureRequest, req.id)
        me, them = first.merge(pm), second.merge(pm)
        decisions.set_status(session=first, request=mine, status="shipped", by=me, note="Out")
        first.commit()
        with pytest.raises(decisions.AlreadyDecided, match="just marked shipped"):
            decisions.set_status(session=second, request=theirs, status="shipped", by=them, note="Out")
        second.rollback()
        # A merge read before the request shipped, too late, moves nothing either.
        stale = second.get(FeatureRequest, other.id)
        decisions.set_status(
            session=first, request=first.get(FeatureRequest, other.id), status="planned", by=me
        )
        first.commit()
        with pytest.raises(decisions.AlreadyDecided):
            decisions.merge_requests(
                session=second, source=stale, target=second.get(FeatureRequest, req.id), by=them
            )
        second.rollback()
    s.expire_all()
    assert [(d.from_status, d.status) for d in decisions.history(session=s, request_id=req.id)] == [
        ("open", "shipped")
    ]
    assert s.get(FeatureRequest, other.id).status == "planned"
    # The same decision again is refused up front: nobody is thanked twice.
    with pytest.raises(decisions.AlreadyDecided, match="already shipped"):
        decisions.set_status(session=s, request=s.get(FeatureRequest, req.id), status="shipped", by=pm)
