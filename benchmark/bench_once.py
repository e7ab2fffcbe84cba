"""What acting once costs each Slack payload: the claim before the listener and its settling after, timed
over N payloads (and N duplicates turned away) with 100,000 older claims in the table.

    .venv/bin/python benchmark/bench_once.py                 # SQLite file and the local PostgreSQL
    .venv/bin/python benchmark/bench_once.py --db sqlite --payloads 2000 --backlog 100000

Every payload pays one claim (its own short transaction) and one settle (mark done); a duplicate pays one
failed claim. Both must stay a small part of Slack's 3 seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from storage import handled  # noqa: E402
from storage.db import make_engine, migrate, session_scope  # noqa: E402
from storage.models import HandledPayload  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def ms(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] * 1000


def bench(engine, label: str, payloads: int, backlog: int) -> None:
    migrate(engine)
    rows = [
        {
            "key": f"event:T1:Old{i}",
            "team_id": "T1",
            "kind": "event",
            "created_at": NOW - timedelta(hours=i % 23),
        }
        for i in range(backlog)
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(HandledPayload), rows[start : start + 5000])
    first, again = [], []
    for i in range(payloads):
        key = f"event:T1:Ev{i}"
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            assert handled.claim_once(session=session, key=key, team_id="T1", kind="event", now=NOW)
        with session_scope(engine) as session:
            handled.mark_done(session=session, key=key, now=NOW)
        first.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            assert not handled.claim_once(session=session, key=key, team_id="T1", kind="event", now=NOW)
        again.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    with session_scope(engine) as session:
        pruned = handled.prune(session=session, now=NOW + timedelta(days=1))
    prune_s = time.perf_counter() - t0
    print(
        f"{label:12} first: p50 {ms(first, 50):.2f} ms  p95 {ms(first, 95):.2f} ms | "
        f"duplicate: p50 {ms(again, 50):.2f} ms  p95 {ms(again, 95):.2f} ms | "
        f"prune {pruned:,} rows in {prune_s:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--payloads", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            bench(engine, "SQLite file", args.payloads, args.backlog)
            engine.dispose()
    if args.db in ("postgres", "both"):
        name = f"partnerbot_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as e:  # noqa: BLE001
            print(f"PostgreSQL not reachable at {PG_ADMIN}: {e}")
            return 0 if args.db == "both" else 1
        engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
        try:
            bench(engine, "PostgreSQL", args.payloads, args.backlog)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
