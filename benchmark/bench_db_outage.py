"""How fast a person hears back, and /healthz answers, while the database misbehaves; how soon the bot
recovers. Drives the real gunicorn process with signed payloads, PostgreSQL behind the fault proxy
(tests/faults/db_proxy.py) and SQLite with its write lock held by another connection.

    .venv/bin/python benchmark/bench_db_outage.py               # both databases, 5 rounds
    .venv/bin/python benchmark/bench_db_outage.py --db sqlite --rounds 10

Targets: every answer inside Slack's 3 s (the person hears that nothing was saved, with their text);
/healthz 503 within 2 s; recovery without a restart once the database answers again.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from bot.driver import HttpDriver  # noqa: E402
from bot.fake_slack import FakeSlack  # noqa: E402
from storage.db import INTERACTIVE, make_engine  # noqa: E402
from tests.conftest import SIGNING_SECRET  # noqa: E402
from tests.e2e.conftest import start_server, stop_server  # noqa: E402
from tests.faults.db_proxy import DbProxy  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
UNAVAILABLE = "can't reach my database"


def timed(action) -> tuple[object, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def health(base: str) -> int:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def told(reply) -> bool:
    return UNAVAILABLE in reply.text


def until_healthy(base: str, d: HttpDriver) -> float:
    started = time.monotonic()
    while health(base) != 200 or told(d.command("U9", "/requests", "mine")):
        time.sleep(0.05)
    return time.monotonic() - started


def fresh_connect(url: str) -> float:
    """The worst case for a person: no pooled connection and no cooldown, so a connection is dialled."""
    engine = make_engine(url, patience=INTERACTIVE)
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError:
        pass
    took = time.monotonic() - started
    engine.dispose()
    return took


def bench_postgres(rounds: int, figures: dict[str, list[float]], workdir: Path) -> None:
    name = f"partnerbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    proxy = DbProxy.for_url(url).start()
    fake = FakeSlack().start()
    proc, base = start_server(proxy.url(url), fake, workdir / "pg.log")
    d = HttpDriver(base, fake, SIGNING_SECRET)
    try:
        for _ in range(rounds):
            d.command("U1", "/requests", "mine")  # a pooled connection, as in steady use
            proxy.stalling()
            reply, first = timed(lambda: d.command("U2", "/request", "SSO with Okta"))
            assert told(reply), reply
            figures["pg stall: first /request (pooled connection goes silent)"].append(first)
            reply, again = timed(lambda: d.command("U2", "/requests", "mine"))
            assert told(reply), reply
            figures["pg stall: next command within the cooldown"].append(again)
            status, took = timed(lambda: health(base))
            assert status == 503
            figures["pg stall: /healthz 503"].append(took)
            time.sleep(2.2)  # past this caller's cooldown (the web process's own worker may have renewed it)
            reply, later = timed(lambda: d.command("U2", "/request", "SSO with Okta"))
            assert told(reply), reply
            figures["pg stall: /request 2.2 s later"].append(later)
            figures["pg stall: a new connection gives up (connect timeout)"].append(
                fresh_connect(proxy.url(url))
            )
            proxy.passing()
            figures["pg: back to answering after the proxy passes again"].append(until_healthy(base, d))
    finally:
        proxy.passing()
        stop_server(proc)
        proxy.stop()
        fake.stop()
        with admin.connect() as conn:
            conn.execute(
                text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def bench_sqlite(rounds: int, figures: dict[str, list[float]], workdir: Path) -> None:
    path = workdir / "bench.db"
    fake = FakeSlack().start()
    proc, base = start_server(f"sqlite:///{path}", fake, workdir / "sqlite.log")
    d = HttpDriver(base, fake, SIGNING_SECRET)
    try:
        for _ in range(rounds):
            d.command("U1", "/requests", "mine")
            other = sqlite3.connect(path, isolation_level=None, timeout=10)
            other.execute("BEGIN IMMEDIATE")
            try:
                reply, took = timed(lambda: d.command("U2", "/request", "SSO with Okta"))
                assert told(reply), reply
                figures["sqlite locked: /request"].append(took)
                status, took = timed(lambda: health(base))
                assert status == 503
                figures["sqlite locked: /healthz 503"].append(took)
            finally:
                other.execute("ROLLBACK")
                other.close()
            figures["sqlite: back to answering after the lock is released"].append(until_healthy(base, d))
    finally:
        stop_server(proc)
        fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("both", "sqlite", "postgres"), default="both")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        if args.db in ("both", "postgres"):
            bench_postgres(args.rounds, figures, Path(tmp))
        if args.db in ("both", "sqlite"):
            bench_sqlite(args.rounds, figures, Path(tmp))
    width = max(len(k) for k in figures)
    print(f"{'':{width}}  median    max   (seconds, {args.rounds} rounds)")
    for label, values in figures.items():
        print(f"{label:{width}}  {statistics.median(values):6.2f} {max(values):6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
