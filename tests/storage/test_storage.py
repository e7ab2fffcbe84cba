"""Storage functions, run against both SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect
from sqlmodel import Session, select

from storage import outbox, people, thresholds
from storage import requests as store
from storage.db import make_engine, migrate, normalize_url, session_scope
from storage.models import FeatureRequest, Occurrence, Outbox, utcnow


def test_migrations_create_every_table_and_run_twice(engine):
    migrate(engine)  # already migrated by the fixture: a second run changes nothing
    tables = set(inspect(engine).get_table_names())
    assert {
        "workspace",
        "person",
        "productarea",
        "feature_request",
        "occurrence",
        "draft",
        "outbox",
        "thresholdcrossing",
        "oneonone",
        "agendaitem",
        "scheduledsend",
        "alembic_version",
    } <= tables


def test_heroku_postgres_urls_are_accepted():
    assert normalize_url("postgres://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    assert normalize_url("postgresql://h/db") == "postgresql+psycopg://h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_first_person_is_admin_unless_admins_are_configured(engine):
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        first = people.ensure_person(session=s, workspace=ws, slack_user_id="U1", name="A")
        second = people.ensure_person(session=s, workspace=ws, slack_user_id="U2", name="B")
        assert first.is_admin and not second.is_admin
        ws2 = people.ensure_workspace(session=s, team_id="T2")
        named = people.ensure_person(session=s, workspace=ws2, slack_user_id="U1", admin_user_ids=("U9",))
        configured = people.ensure_person(
            session=s, workspace=ws2, slack_user_id="U9", admin_user_ids=("U9",)
        )
        assert not named.is_admin and configured.is_admin
        assert people.ensure_workspace(session=s, team_id="T1").id == ws.id
        # Same team id in another enterprise is another workspace.
        assert people.ensure_workspace(session=s, team_id="T1", enterprise_id="E1").id != ws.id
        s.commit()


def test_areas_are_unique_per_workspace_ignoring_case(engine):
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        a = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting")
        b = people.ensure_area(session=s, workspace_id=ws.id, name="  reporting ")
        assert a.id == b.id
        other = people.ensure_workspace(session=s, team_id="T2")
        assert people.ensure_area(session=s, workspace_id=other.id, name="Reporting").id != a.id
        assert (
            people.default_area(
                session=s, workspace_id=people.ensure_workspace(session=s, team_id="T3").id
            ).name
            == "General"
        )
        s.commit()


def _request_with(s, ws, area, person, customers):
    request = store.create_request(
        session=s, workspace_id=ws.id, area_id=area.id, title="CSV export\nmore text"
    )
    for customer, cents in customers:
        store.record_occurrence(
            session=s,
            request=request,
            logged_by_id=person.id,
            text="csv",
            customer=customer,
            amount_cents=cents,
            currency="USD" if cents else "",
        )
    return request


def test_occurrences_stats_count_customers_once_and_keep_every_answer(engine):
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        me = people.ensure_person(session=s, workspace=ws, slack_user_id="U1")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting")
        request = _request_with(
            s, ws, area, me, [("Acme", 4_000_000), ("acme ", 5_000_000), ("Globex", None), ("", 100_000)]
        )
        assert request.title == "CSV export"
        stats = store.request_stats(session=s, request_id=request.id)
        assert stats.count == 4 and stats.customer_count == 2
        assert stats.money == {"USD": 5_000_000 + 100_000}  # Acme's larger amount, counted once
        s.commit()


def test_threshold_crossed_once_per_window_and_again_after_reset(engine):
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        me = people.ensure_person(session=s, workspace=ws, slack_user_id="U1")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting")
        thresholds.set_count_rule(session=s, area=area, count=3, days=30)
        request = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="SSO")
        crossings = []
        for i in range(6):
            occ = store.record_occurrence(
                session=s, request=request, logged_by_id=me.id, text="sso", customer=f"C{i}"
            )
            standing, new = thresholds.evaluate(session=s, request=request, area=area, occurrence=occ)
            crossings.append(len(new))
        assert crossings == [0, 0, 1, 0, 0, 0]
        assert standing.count == 6 and standing.over
        assert thresholds.reset(session=s, request_id=request.id) == 1
        occ = store.record_occurrence(session=s, request=request, logged_by_id=me.id, text="sso")
        _, new = thresholds.evaluate(session=s, request=request, area=area, occurrence=occ)
        assert [c.rule for c in new] == ["count"]
        s.commit()


def test_old_occurrences_fall_out_of_the_window(engine):
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        me = people.ensure_person(session=s, workspace=ws, slack_user_id="U1")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting")
        thresholds.set_count_rule(session=s, area=area, count=2, days=7)
        request = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="SSO")
        old = store.record_occurrence(session=s, request=request, logged_by_id=me.id, text="sso")
        old.created_at = utcnow() - timedelta(days=8)
        s.add(old)
        s.flush()
        occ = store.record_occurrence(session=s, request=request, logged_by_id=me.id, text="sso")
        standing, new = thresholds.evaluate(session=s, request=request, area=area, occurrence=occ)
        assert standing.count == 1 and standing.total.count == 2 and new == []


def test_money_rule_fires_once_per_customer(engine):
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T1")
        me = people.ensure_person(session=s, workspace=ws, slack_user_id="U1")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting")
        thresholds.set_amount_rule(session=s, area=area, cents=10_000_000)
        request = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="SSO")
        results = []
        for customer, cents in [
            ("Small", 50_000),
            ("Big", 25_000_000),
            ("big", 30_000_000),
            ("Huge", 10_000_000),
        ]:
            occ = store.record_occurrence(
                session=s,
                request=request,
                logged_by_id=me.id,
                text="x",
                customer=customer,
                amount_cents=cents,
                currency="USD",
            )
            results.append(
                [
                    c.rule
                    for c in thresholds.evaluate(session=s, request=request, area=area, occurrence=occ)[1]
                ]
            )
        assert results == [[], ["amount"], [], ["amount"]]


def test_outbox_keys_make_enqueue_idempotent_and_claims_exclusive(engine):
    with Session(engine) as s:
        first = outbox.enqueue(session=s, key="thanks:1:1", payload={"channel": "U1", "text": "hi"})
        again = outbox.enqueue(session=s, key="thanks:1:1", payload={"channel": "U1", "text": "hi again"})
        later = outbox.enqueue(
            session=s,
            key="later",
            payload={"channel": "U1", "text": "x"},
            not_before=utcnow() + timedelta(hours=1),
        )
        s.commit()
        assert first is not None and again is None and later is not None
    with Session(engine, expire_on_commit=False) as s:
        claimed = outbox.claim_due(session=s, worker_id="w1")
        s.commit()
    with Session(engine) as s:
        assert outbox.claim_due(session=s, worker_id="w2") == []
        s.commit()
    assert [r.key for r in claimed] == ["thanks:1:1"]
    with Session(engine) as s:
        row = s.exec(select(Outbox).where(Outbox.key == "thanks:1:1")).one()
        assert row.status == "sending" and row.claimed_by == "w1" and row.attempts == 1


def test_workspaces_never_see_each_others_rows(engine):
    with Session(engine) as s:
        a = people.ensure_workspace(session=s, team_id="TA")
        b = people.ensure_workspace(session=s, team_id="TB")
        pa = people.ensure_person(session=s, workspace=a, slack_user_id="U1")
        area = people.ensure_area(session=s, workspace_id=a.id, name="General")
        request = store.create_request(session=s, workspace_id=a.id, area_id=area.id, title="x")
        occ = store.record_occurrence(session=s, request=request, logged_by_id=pa.id, text="x")
        assert store.get_request(session=s, request_id=request.id, workspace_id=b.id) is None
        assert store.get_occurrence(session=s, occurrence_id=occ.id, workspace_id=b.id) is None
        assert store.get_request(session=s, request_id=request.id, workspace_id=a.id).id == request.id
        assert s.exec(select(FeatureRequest).where(FeatureRequest.workspace_id == b.id)).all() == []
        assert s.exec(select(Occurrence).where(Occurrence.workspace_id == b.id)).all() == []


def test_the_migrations_build_exactly_the_tables_the_models_describe(engine):
    """A column added to a model without its migration (or the other way round) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    from storage.search import include_name

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_someone_from_another_organisation_is_never_the_first_user_admin(engine):
    with session_scope(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="T0INSTALLED")
        kaz = people.ensure_person(
            session=s, workspace=ws, slack_user_id="W0KAZ", home_team_id="T0OTHERSIDE", external=True
        )
        rae = people.ensure_person(session=s, workspace=ws, slack_user_id="U0REP", home_team_id="T0INSTALLED")
        assert (kaz.is_admin, kaz.external, kaz.home_team_id) == (False, True, "T0OTHERSIDE")
        assert (rae.is_admin, rae.external) == (True, False)
