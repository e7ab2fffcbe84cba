"""Build the threshold digests for 200 PMs over 100,000 occurrences; report time and SQL queries per digest.

One request in ten is linked to a tracker issue, whose status the digest shows beside it.

    .venv/bin/python benchmark/bench_digest.py                 # SQLite file and the local PostgreSQL
    .venv/bin/python benchmark/bench_digest.py --db sqlite --pms 200 --occurrences 100000

Data is generated with bulk inserts into a fresh database (dropped afterwards). The query count comes from
a SQLAlchemy before_cursor_execute listener and must not grow with the data (no N+1).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event, insert, text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from handlers.digest_builder import digest_blocks  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402
from storage.digest import digest_data  # noqa: E402
from storage.models import (  # noqa: E402
    FeatureRequest,
    IssueLink,
    Occurrence,
    Person,
    ProductArea,
    ThresholdCrossing,
    Workspace,
)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
CUSTOMERS = [f"Customer {i}" for i in range(800)]
IMPACTS = ["lost_deal", "churn_risk", "blocked_onboarding", "support_load", "churn_risk,lost_deal", ""]
FREQUENCIES = ["first_time", "monthly", "weekly", "daily", ""]


def chunks(rows: list[dict], size: int = 5000):
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def generate(engine, *, pms: int, occurrences: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    areas_per_pm, requests_per_area, requesters = 2, 25, 2000
    with engine.begin() as conn:
        ws_id = conn.execute(
            insert(Workspace).values(team_id="TBENCH", enterprise_id="", name="", created_at=NOW)
        ).inserted_primary_key[0]
        people = [
            dict(
                workspace_id=ws_id,
                slack_user_id=f"U{i:06d}",
                name=f"Person {i}",
                tz="America/New_York",
                is_pm=i < pms,
                is_admin=False,
                digest_cadence="weekly",
                digest_weekday=0,
                digest_hour=9,
                last_digest_at=NOW - timedelta(days=7),
                created_at=NOW - timedelta(days=400),
            )
            for i in range(pms + requesters)
        ]
        for part in chunks(people):
            conn.execute(insert(Person), part)
        ids = [r[0] for r in conn.execute(text("SELECT id FROM person ORDER BY id"))]
        pm_ids, requester_ids = ids[:pms], ids[pms:]
        areas = [
            dict(
                workspace_id=ws_id,
                name=f"Area {p}-{k}",
                name_key=f"area {p}-{k}",
                pm_id=p,
                focus="Self-serve reporting",
                threshold_count=rng.choice([5, 8, 10]),
                threshold_days=rng.choice([30, 60, 90]),
                alert_mode="immediate",
                created_at=NOW - timedelta(days=400),
            )
            for p in pm_ids
            for k in range(areas_per_pm)
        ]
        conn.execute(insert(ProductArea), areas)
        area_ids = [r[0] for r in conn.execute(text("SELECT id FROM productarea ORDER BY id"))]
        requests = [
            dict(
                workspace_id=ws_id,
                area_id=a,
                title=f"Request {a}-{j}: export <b>things</b> & more",
                status=rng.choices(["open", "planned", "not_yet", "shipped"], [75, 8, 12, 5])[0],
                status_reason="After the Q1 launch",
                shipped_note="",
                shipped_link="",
                embedding_model="",
                created_at=NOW - timedelta(days=rng.randint(0, 120)),
                updated_at=NOW,
            )
            for a in area_ids
            for j in range(requests_per_area)
        ]
        for part in chunks(requests):
            conn.execute(insert(FeatureRequest), part)
        request_ids = [r[0] for r in conn.execute(text("SELECT id FROM feature_request ORDER BY id"))]
        # A skewed spread: a few requests are heard a lot, most rarely.
        weights = [1.0 / (1 + (i % 97)) for i in range(len(request_ids))]
        picks = rng.choices(request_ids, weights, k=occurrences)
        rows = []
        for rid in picks:
            cents = rng.choice([None, None, 500_000, 2_500_000, 12_000_000])
            rows.append(
                dict(
                    workspace_id=ws_id,
                    request_id=rid,
                    logged_by_id=rng.choice(requester_ids),
                    source="command",
                    text="A customer asked for it",
                    source_text="",
                    customer=rng.choice(CUSTOMERS),
                    amount_cents=cents,
                    currency="USD" if cents else "",
                    amount_text="",
                    frequency=rng.choice(FREQUENCIES),
                    frequency_detail="",
                    root_problem="Finance rebuilds it by hand",
                    impacts=rng.choice(IMPACTS),
                    impact_detail="",
                    focus_tie=rng.choice(["", "", "Feeds the dashboards"]),
                    channel_id="",
                    message_ts="",
                    thread_ts="",
                    permalink="",
                    created_at=NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 120)),
                )
            )
        for part in chunks(rows):
            conn.execute(insert(Occurrence), part)
        crossings = [
            dict(
                workspace_id=ws_id,
                request_id=rid,
                rule="count",
                window_key="count:w0:r0",
                crossed_at=NOW - timedelta(hours=rng.randint(1, 24 * 14)),
            )
            for rid in rng.sample(request_ids, len(request_ids) // 20)
        ]
        conn.execute(insert(ThresholdCrossing), crossings)
        # One request in ten linked to a tracker issue, with its last known state (shown beside it).
        links = [
            dict(
                workspace_id=ws_id,
                request_id=rid,
                kind="github",
                issue_key=f"acme/app#{rid}",
                url=f"https://github.com/acme/app/issues/{rid}",
                title=f"Issue for request {rid}",
                state=rng.choice(["open", "started", "done", ""]),
                state_label="",
                changes=0,
                created_at=NOW - timedelta(days=3),
            )
            for rid in rng.sample(request_ids, len(request_ids) // 10)
        ]
        conn.execute(insert(IssueLink), links)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
        conn.commit()


def bench(engine, label: str, pms: int, occurrences: int) -> None:
    started = time.perf_counter()
    migrate(engine)
    generate(engine, pms=pms, occurrences=occurrences)
    setup = time.perf_counter() - started
    counter = {"n": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args) -> None:
        counter["n"] += 1

    times, queries, shown, blocks = [], [], [], []
    with Session(engine) as session:
        pm_list = session.exec(select(Person).where(Person.is_pm.is_(True)).order_by(Person.id)).all()
    total_start = time.perf_counter()
    for pm in pm_list:
        counter["n"] = 0
        t = time.perf_counter()
        with Session(engine) as session:
            data = digest_data(session=session, pm=pm, since=pm.last_digest_at, now=NOW)
            built = digest_blocks(data)
        times.append(time.perf_counter() - t)
        queries.append(counter["n"])
        shown.append(len(data.crossed) + len(data.still_over) + len(data.close) + len(data.not_yet))
        blocks.append(len(built))
    total = time.perf_counter() - total_start
    ms = sorted(x * 1000 for x in times)
    print(f"\n== {label}: {len(pm_list)} PMs, {occurrences:,} occurrences (data generated in {setup:.1f}s)")
    print(f"total time for all digests : {total:.2f} s")
    print(
        f"per digest                 : mean {statistics.mean(ms):.1f} ms, median {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, max {ms[-1]:.1f} ms"
    )
    print(f"SQL queries per digest     : min {min(queries)}, max {max(queries)} (constant: no N+1)")
    print(
        f"requests shown per digest  : mean {statistics.mean(shown):.1f}, max {max(shown)}; blocks max {max(blocks)}"
    )
    assert max(queries) <= 8, "queries per digest grew with the data"
    assert max(blocks) <= 50, "a Slack message holds at most 50 blocks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pms", type=int, default=200)
    parser.add_argument("--occurrences", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            bench(engine, "SQLite file", args.pms, args.occurrences)
            engine.dispose()
    if args.db in ("postgres", "both"):
        name = f"partnerbot_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as e:  # noqa: BLE001
            print(f"\nPostgreSQL not reachable at {PG_ADMIN}: {e}")
            return 0 if args.db == "both" else 1
        engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
        try:
            bench(engine, "PostgreSQL", args.pms, args.occurrences)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
