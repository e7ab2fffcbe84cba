"""The "Same thing?" step's search (storage/search.py) at 10,000 and 100,000 stored requests.

    .venv/bin/python benchmark/bench_search.py                         # SQLite and PostgreSQL, 10k and 100k
    .venv/bin/python benchmark/bench_search.py --db sqlite --n 10000 --queries 200 --no-http

One workspace holds N requests titled like real ones (bench_matching.synthetic: templates x vocabulary,
mentions and ids included); one in five has a second, differently worded phrasing confirmed as it, as a
"Same as" answer leaves it; a second workspace holds N/10 more (they must never be found). Everything
is written through the ordinary inserts, so the triggers build the index as they would in use ("load s").

Timed per database and size, each over --queries look-ups of what a person types:

* words: two or three whole words of a stored title or phrasing;
* prefix: the same with the last word half typed ("export wee");
* short: one two- or three-letter prefix ("ok", "exp"): the broadest a typeahead asks (min_query_length 2);
* http: the whole signed block_suggestion round trip through the real gunicorn server (the app's options
  listener: the person and draft checks, the search, the counts) over loopback, as Slack would send it.

Figures are p50 / p95 in ms and, because the machine is shared and noisy, p95 as a ratio to a baseline
measured in the same run over the same queries: what the index replaces, a `lower(title) LIKE '%word%'`
scan of the workspace's titles that finds every match (as ranking needs; titles only, so it finds less).
Below 1 = the index is faster.
Slack gives an options request 3 s; the goal is p95 <= 50 ms at 100k.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_matching import synthetic  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from storage.db import make_engine, migrate  # noqa: E402
from storage.models import Draft, FeatureRequest, Occurrence, Person, ProductArea, Workspace  # noqa: E402
from storage.search import search_requests, words  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
CHUNK = 5000


def _ids(conn, table: str) -> list[int]:
    return [r[0] for r in conn.execute(text(f"SELECT id FROM {table} ORDER BY id"))]


def generate(engine, n: int, team_id: str, seed: int = 11) -> tuple[int, int, int, list[str], float]:
    """(workspace id, person id, draft id, the stored texts, seconds to load) for the main workspace."""
    rng = random.Random(seed)
    texts = synthetic(int(n * 1.3) + n // 10, seed=seed)
    titles, extra, theirs = texts[:n], texts[n : int(n * 1.3)], texts[int(n * 1.3) :]
    started = time.perf_counter()
    spaces = []
    with engine.begin() as conn:
        for team, batch in ((team_id, titles), ("TOTHER", theirs)):
            ws = conn.execute(insert(Workspace).values(team_id=team, created_at=NOW)).inserted_primary_key[0]
            person = conn.execute(
                insert(Person).values(
                    workspace_id=ws, slack_user_id="U0BENCH", name="Bench", created_at=NOW, tz="UTC"
                )
            ).inserted_primary_key[0]
            area = conn.execute(
                insert(ProductArea).values(
                    workspace_id=ws, name="General", name_key="general", focus="", created_at=NOW
                )
            ).inserted_primary_key[0]
            first = max(_ids(conn, "feature_request") or [0])
            for i in range(0, len(batch), CHUNK):
                conn.execute(
                    insert(FeatureRequest),
                    [
                        dict(
                            workspace_id=ws,
                            area_id=area,
                            title=t[:150],
                            status=rng.choices(["open", "planned", "not_yet", "shipped"], [75, 8, 12, 5])[0],
                            created_at=NOW,
                            updated_at=NOW,
                        )
                        for t in batch[i : i + CHUNK]
                    ],
                )
            rids = [r for r in _ids(conn, "feature_request") if r > first]
            occs = [(rid, t) for rid, t in zip(rids, batch, strict=True)]
            if team == team_id:
                occs += [(rng.choice(rids), t) for t in extra]
            for i in range(0, len(occs), CHUNK):
                conn.execute(
                    insert(Occurrence),
                    [
                        dict(workspace_id=ws, request_id=rid, logged_by_id=person, text=t, created_at=NOW)
                        for rid, t in occs[i : i + CHUNK]
                    ],
                )
            draft = conn.execute(
                insert(Draft).values(workspace_id=ws, person_id=person, text="bench", created_at=NOW)
            ).inserted_primary_key[0]
            spaces.append((ws, person, draft))
    ws, person, draft = spaces[0]
    return ws, person, draft, titles + extra, time.perf_counter() - started


def queries(texts: list[str], kind: str, count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        w = [x for x in words(rng.choice(texts)) if len(x) > 2 and not x.isdigit()]
        if len(w) < 2:
            continue
        if kind == "short":
            word = rng.choice(w)
            out.append(word[: rng.choice([2, 3])])
            continue
        start = rng.randrange(0, max(1, len(w) - 2))
        picked = w[start : start + rng.choice([2, 3])]
        if kind == "prefix":
            last = picked[-1]
            picked[-1] = last[: max(2, len(last) // 2)]
        out.append(" ".join(picked))
    return out


def timed(fn, items) -> list[float]:
    spent = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        spent.append((time.perf_counter() - t) * 1000)
    return spent


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def scan(session: Session, ws: int, typed: str) -> list[int]:
    """The baseline: what the index replaces, a LIKE over every title of the workspace (titles only), every
    match found (ranking them needs them all)."""
    terms = words(typed)
    where = " AND ".join(f"lower(title) LIKE :w{i}" for i in range(len(terms)))
    statement = text(
        f"SELECT id FROM feature_request WHERE workspace_id = :ws AND status IN ('open', 'planned', 'not_yet') "
        f"AND {where}"
    )
    params = {"ws": ws, **{f"w{i}": f"%{t}%" for i, t in enumerate(terms)}}
    return [row[0] for row in session.execute(statement, params)]


def http_round_trip(url: str, ws_person_draft: tuple[int, int, int], items: list[str]) -> list[float]:
    from bot.driver import HttpDriver
    from bot.fake_slack import FakeSlack
    from handlers.views.repeat_builder import repeat_choice_view
    from tests.conftest import SIGNING_SECRET
    from tests.e2e.conftest import start_server, stop_server

    _, _, draft = ws_person_draft
    view = repeat_choice_view(draft_id=draft, text="bench", suggestions=[], stats={})
    fake = FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(url, fake, Path(tmp) / "server.log")
        try:
            driver = HttpDriver(base, fake, SIGNING_SECRET)
            for warm in items[:5]:
                driver.suggest("U0BENCH", view, "search", warm)
            return timed(lambda q: driver.suggest("U0BENCH", view, "search", q), items)
        finally:
            stop_server(proc)
            fake.stop()


def bench(engine, url: str, label: str, n: int, count: int, http: bool) -> list[dict]:
    from bot.fake_slack import TEAM_ID

    migrate(engine)
    ws, person, draft, texts, load_s = generate(engine, n, TEAM_ID)
    rows = []
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
            session.commit()
        kinds = {k: queries(texts, k, count) for k in ("words", "prefix", "short")}
        for kind, items in kinds.items():
            base = pct(timed(lambda q: scan(session, ws, q), items), 0.95)
            for warm in items[:5]:
                search_requests(session, workspace_id=ws, text=warm)
            found: list[list[int]] = []
            spent = timed(
                lambda q, out=found: out.append(search_requests(session, workspace_id=ws, text=q)), items
            )
            hit = sum(1 for f in found if f) / len(found)
            rows.append(dict(db=label, n=n, kind=kind, spent=spent, base=base, hit=hit, load_s=load_s))
    if http:
        base = rows[1]["base"]  # the scan over the same ("prefix") queries
        spent = http_round_trip(url, (ws, person, draft), kinds["prefix"])
        rows.append(dict(db=label, n=n, kind="http", spent=spent, base=base, hit=None, load_s=load_s))
    return rows


def print_table(rows: list[dict]) -> None:
    print("| db | requests | load s | query | found | p50 ms | p95 ms | p95 / LIKE scan p95 |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        p50, p95 = statistics.median(r["spent"]), pct(r["spent"], 0.95)
        found = "" if r["hit"] is None else f"{r['hit']:.0%}"
        print(
            f"| {r['db']} | {r['n']:,} | {r['load_s']:.0f} | {r['kind']} | {found} | {p50:.1f} | {p95:.1f} "
            f"| {p95 / r['base']:.2f} |"
        )
    bases = {f"{r['db']} {r['n']:,} {r['kind']}": round(r["base"], 1) for r in rows if r["kind"] != "http"}
    print(f"\n(the LIKE scan's p95 in ms, same queries, same run: {json.dumps(bases)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-http", dest="http", action="store_false")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for n in args.n:
        if args.db in ("sqlite", "both"):
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.db"
                engine = make_engine(url)
                rows += bench(engine, url, "SQLite", n, args.queries, args.http)
                engine.dispose()
        if args.db in ("postgres", "both"):
            name = f"partnerbot_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as e:  # noqa: BLE001
                print(f"PostgreSQL not reachable at {PG_ADMIN}: {e}")
                continue
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
            engine = make_engine(url)
            try:
                rows += bench(engine, url, "PostgreSQL", n, args.queries, args.http)
            finally:
                engine.dispose()
                with admin.connect() as conn:
                    conn.execute(
                        text(
                            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                        )
                    )
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                admin.dispose()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
