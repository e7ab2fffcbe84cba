"""Partnership figures against hand-computed values, customer merges changing counts and money exactly,
and the area chart's figures against the database and its PNG — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from storage import charts, customers, decisions, partnership, people
from storage import requests as store
from storage.models import (
    CustomerAlias,
    Occurrence,
    OneOnOne,
    RequestDecision,
    ThresholdCrossing,
)

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture
def world(engine, clock):
    """PM Pat owns Reporting. Sam logged 4 occurrences of 3 requests, Lee 1; Pat logged one herself."""
    clock.set(NOW)
    with Session(engine) as s:
        ws = people.ensure_workspace(session=s, team_id="TGLANCE")
        pat = people.ensure_person(session=s, workspace=ws, slack_user_id="UPAT", name="Pat")
        pat.is_pm = True
        sam = people.ensure_person(session=s, workspace=ws, slack_user_id="USAM", name="Sam")
        lee = people.ensure_person(session=s, workspace=ws, slack_user_id="ULEE", name="Lee")
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting", pm=pat)
        other = people.ensure_area(session=s, workspace_id=ws.id, name="Billing")
        csv = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
        sso = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="SSO")
        pdf = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="PDF reports")
        invoices = store.create_request(session=s, workspace_id=ws.id, area_id=other.id, title="Invoices")

        def log(req, who, days_ago, customer="", cents=None, **answers):
            occ = store.record_occurrence(
                session=s,
                request=req,
                logged_by_id=who.id,
                text=req.title,
                customer=customer,
                amount_cents=cents,
                currency="USD" if cents is not None else "",
                **answers,
            )
            occ.created_at = NOW - timedelta(days=days_ago)
            s.add(occ)
            return occ

        # Sam: 4 occurrences x 6 questions = 24 asked; answered 2 + 1 + 0 + 6 = 9.
        log(csv, sam, 40, "Acme", 4_000_000)
        log(csv, sam, 20, "Acme Corp")
        log(sso, sam, 12)
        log(
            pdf,
            sam,
            9,
            "Globex",
            12_000_000,
            frequency="weekly",
            root_problem="board pack",
            impacts="churn_risk",
            focus_tie="yes",
        )
        log(csv, lee, 8, "Initech", 4_000_000)  # Lee: answered 2 of 6
        log(csv, pat, 1, "Acme")  # the PM's own: not a stakeholder's
        log(invoices, sam, 3, "Acme")  # another PM's area: not in Pat's figures
        # CSV crossed 10 days ago and was planned 2 days later; SSO crossed 4 days ago and was marked not
        # yet 6 hours later; PDF shipped without ever crossing.
        s.add(
            ThresholdCrossing(
                workspace_id=ws.id,
                request_id=csv.id,
                rule="count",
                window_key="a",
                crossed_at=NOW - timedelta(days=10),
            )
        )
        s.add(
            ThresholdCrossing(
                workspace_id=ws.id,
                request_id=sso.id,
                rule="amount",
                window_key="b",
                crossed_at=NOW - timedelta(days=4),
            )
        )
        s.flush()
        decisions.set_status(session=s, request=csv, status="planned", by=pat, now=NOW - timedelta(days=8))
        decisions.set_status(
            session=s,
            request=sso,
            status="not_yet",
            by=pat,
            reason="later",
            now=NOW - timedelta(days=4, hours=-6),
        )
        decisions.set_status(session=s, request=pdf, status="shipped", by=pat, now=NOW - timedelta(days=1))
        s.add(
            OneOnOne(
                workspace_id=ws.id,
                pm_id=pat.id,
                stakeholder_id=lee.id,
                next_meeting=NOW.date() + timedelta(days=7),
                last_meeting=NOW.date() - timedelta(days=35),
            )
        )
        s.commit()
        return {
            "ws": ws.id,
            "pat": pat.id,
            "sam": sam.id,
            "lee": lee.id,
            "csv": csv.id,
            "area": area.id,
            "sso": sso.id,
            "pdf": pdf.id,
        }


def test_partnership_figures_match_hand_computed_values(engine, world):
    with Session(engine) as s:
        pat = s.get(people.Person, world["pat"])
        found = {p.stakeholder.slack_user_id: p for p in partnership.figures(session=s, pm=pat)}
    assert set(found) == {"USAM", "ULEE"}  # not the PM herself
    sam, lee = found["USAM"], found["ULEE"]
    assert (sam.logged, len(sam.requests), sam.asked, sam.answered) == (4, 3, 24, 9)
    assert sam.answered_share == pytest.approx(9 / 24)
    assert sam.reached == {world["csv"], world["sso"]} and sam.shipped == {world["pdf"]}
    # Crossing to decision: CSV 2 days, SSO 6 hours; the median of the two is 1 day 3 hours.
    assert sorted(sam.decision_waits) == [timedelta(hours=6), timedelta(days=2)]
    assert sam.median_decision == timedelta(days=1, hours=3)
    assert sam.last_oneonone is None
    assert (lee.logged, lee.answered, lee.asked, lee.reached, lee.shipped) == (1, 2, 6, {world["csv"]}, set())
    assert lee.median_decision == timedelta(days=2) and lee.last_oneonone == NOW.date() - timedelta(days=35)
    # Since a date: only what was logged since.
    with Session(engine) as s:
        pat = s.get(people.Person, world["pat"])
        recent = partnership.figures(session=s, pm=pat, since=NOW - timedelta(days=15), only=world["sam"])
    assert [(p.logged, len(p.requests)) for p in recent] == [(2, 2)]  # SSO (12 days) and PDF (9 days)


def test_activity_change_suggests_a_cadence():
    assert partnership.suggested_cadence(8, 2, 6) == 3  # rose a lot: meet more often
    assert partnership.suggested_cadence(1, 6, 4) == 8  # fell a lot: less often
    assert partnership.suggested_cadence(3, 2, 6) is None  # about the same
    assert partnership.suggested_cadence(3, 0, 6) is None  # too few to mean anything


def test_merging_customers_changes_counts_and_money_exactly(engine, world):
    with Session(engine) as s:
        before = store.request_stats(session=s, request_id=world["csv"])
        # Acme $40k, Acme Corp (no amount), Initech $40k, Acme (Pat): Acme and Acme Corp are two customers.
        assert (before.customer_count, before.money) == (3, {"USD": 8_000_000})
        pairs = customers.near_duplicates(session=s, workspace_id=world["ws"])
        assert [(p.keep, p.fold) for p in pairs] == [("Acme", "Acme Corp")]
        assert customers.suggest(session=s, workspace_id=world["ws"], typed="ACME inc")[:2] == [
            "Acme",
            "Acme Corp",
        ]
        pat = s.get(people.Person, world["pat"])
        alias = customers.merge_customers(
            session=s, workspace_id=world["ws"], fold="acme  corp", into="Acme", by=pat
        )
        s.commit()
        assert alias.moved == 1
    with Session(engine) as s:
        after = store.request_stats(session=s, request_id=world["csv"])
        assert (after.customer_count, after.money) == (2, {"USD": 8_000_000})
        assert {o.customer for o in s.exec(select(Occurrence)).all()} == {"Acme", "Globex", "Initech", ""}
        # Money: two customers that were one now count their largest amount once.
        pat = s.get(people.Person, world["pat"])
        customers.merge_customers(session=s, workspace_id=world["ws"], fold="Initech", into="Acme", by=pat)
        s.commit()
    with Session(engine) as s:
        merged = store.request_stats(session=s, request_id=world["csv"])
        assert (merged.customer_count, merged.money) == (1, {"USD": 4_000_000})
        # Names merged before follow a later merge, and the old names map to the customer now.
        assert customers.canonical_name(session=s, workspace_id=world["ws"], name="ACME CORP") == "Acme"
        assert customers.canonical_name(session=s, workspace_id=world["ws"], name="initech") == "Acme"
        assert len(s.exec(select(CustomerAlias)).all()) == 2
        with pytest.raises(customers.CustomerError):
            customers.merge_customers(session=s, workspace_id=world["ws"], fold="Acme", into="acme", by=None)
        with pytest.raises(customers.CustomerError):
            customers.merge_customers(
                session=s, workspace_id=world["ws"], fold="Acme", into="Initech", by=None
            )


def test_the_area_chart_plots_what_the_database_holds(engine, world):
    from PIL import Image

    from handlers.charts import render_png

    with Session(engine) as s:
        area = s.get(people.ProductArea, world["area"])
        figures = charts.area_figures(session=s, area=area, now=NOW)
        rows = s.exec(
            select(Occurrence).where(Occurrence.request_id.in_([world["csv"], world["sso"], world["pdf"]]))
        ).all()
        decided = s.exec(select(RequestDecision)).all()
    assert len(figures.weeks) == 13 and figures.weeks[-1] == datetime(2026, 11, 23).date()
    in_quarter = [o for o in rows if o.created_at >= datetime(2026, 9, 1, tzinfo=UTC)]
    assert figures.total == len(in_quarter) == 6
    assert sum(figures.series[f"#{world['csv']} CSV export"]) == 4
    # This week (from Monday Nov 23) holds Pat's own occurrence from yesterday.
    assert sum(series[-1] for series in figures.series.values()) == 1
    # Top requests by customers: CSV (Acme, Acme Corp, Initech), then PDF (Globex, $120k), then SSO.
    assert [r.title for r, _ in figures.top] == ["CSV export", "PDF reports", "SSO"]
    assert figures.top[0][1].customer_count == 3 and figures.top[1][1].money == {"USD": 12_000_000}
    png = render_png(figures)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    import io

    assert Image.open(io.BytesIO(png)).size == (1000, 420)
    assert decided  # the decisions above are in the database the chart read
