"""Thank 1,000 requesters through the outbox against a fake Slack that allows one message per second per
channel; report the total time and that each thank-you arrived exactly once.

    .venv/bin/python benchmark/bench_thankyou.py                       # SQLite, 1 and 16 sender threads
    .venv/bin/python benchmark/bench_thankyou.py --db postgres --concurrency 16
    .venv/bin/python benchmark/bench_thankyou.py --requesters 1000 --threaded 200 --channels 20

Most thank-yous go to different DMs (parallelizable); `--threaded` of them go to threads spread over
`--channels` channels, where Slack's per-channel limit (HTTP 429 + Retry-After) sets the pace. The messages
are the real ones (handlers.thanks.queue_thanks) and are sent by the real DeliveryWorker.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bot.delivery import METADATA_EVENT, DeliveryWorker  # noqa: E402
from bot.fake_slack import TEAM_ID, FakeSlack  # noqa: E402
from handlers.thanks import queue_thanks  # noqa: E402
from storage import decisions, outbox, people  # noqa: E402
from storage import requests as store  # noqa: E402
from storage.db import make_engine, migrate, session_scope  # noqa: E402
from storage.models import utcnow  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def seed_and_queue(engine, requesters: int, threaded: int, channels: int) -> int:
    with session_scope(engine) as s:
        ws = people.ensure_workspace(session=s, team_id=TEAM_ID)
        pm = people.ensure_person(session=s, workspace=ws, slack_user_id="UPM", name="Pat")
        people.set_pm(session=s, person=pm, is_pm=True)
        area = people.ensure_area(session=s, workspace_id=ws.id, name="Reporting", pm=pm)
        req = store.create_request(session=s, workspace_id=ws.id, area_id=area.id, title="CSV export")
        for i in range(requesters):
            person = people.ensure_person(session=s, workspace=ws, slack_user_id=f"U{i:05d}", name=f"Rep {i}")
            fields = {}
            if i < threaded:
                fields = dict(channel_id=f"C{i % channels:03d}", message_ts=f"1700000000.{i:06d}")
            occ = store.record_occurrence(
                session=s,
                request=req,
                logged_by_id=person.id,
                text="CSV export",
                customer=f"Customer {i}",
                **fields,
            )
            occ.created_at = utcnow() - timedelta(days=10)
        decision = decisions.set_status(
            session=s, request=req, status="shipped", by=pm, note="Reports > Export"
        )
        queued = queue_thanks(session=s, request=req, decision=decision, pm=pm, report_to=pm.slack_user_id)
        return queued.people


def count_keys(fake: FakeSlack) -> Counter:
    keys: Counter = Counter()
    for messages in fake.messages.values():
        for m in messages:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT:
                keys[meta["event_payload"]["key"]] += 1
    return keys


def run(url: str, args: argparse.Namespace, concurrency: int) -> dict:
    engine = make_engine(url)
    migrate(engine)
    fake = FakeSlack().start()
    fake.per_channel_interval = 1.0
    try:
        queued = seed_and_queue(engine, args.requesters, args.threaded, args.channels)
        worker = DeliveryWorker(
            engine=engine,
            client=WebClient(token="xoxb-bench", base_url=fake.api_url),
            concurrency=concurrency,
        )
        started, wall = time.perf_counter(), time.time()
        done = worker.drain_all(timeout=args.timeout)
        elapsed = time.perf_counter() - started
        ok_posts = [c for c in fake.calls_to("chat.postMessage") if "thread_ts" not in c.args]
        threaded = [c for c in fake.calls_to("chat.postMessage") if "thread_ts" in c.args]
        dms_done = max((c.at for c in ok_posts), default=wall) - wall
        threads_done = max((c.at for c in threaded), default=wall) - wall
        keys = count_keys(fake)
        with session_scope(engine) as s:
            statuses = outbox.counts(session=s, key_prefix="thanks:")
        worker.stop()
        return {
            "concurrency": concurrency,
            "queued": queued,
            "done": done,
            "seconds": elapsed,
            "dms_done": dms_done,
            "threads_done": threads_done,
            "distinct": len(keys),
            "exactly_once": all(v == 1 for v in keys.values()) and len(keys) == queued,
            "duplicates": sum(v - 1 for v in keys.values()),
            "answered_429": sum(1 for c in fake.calls if c.status == 429),
            "posts": sum(1 for c in fake.calls if c.method == "chat.postMessage"),
            "statuses": statuses,
        }
    finally:
        fake.stop()
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requesters", type=int, default=1000)
    parser.add_argument("--threaded", type=int, default=200, help="how many thank-yous go to threads")
    parser.add_argument("--channels", type=int, default=20, help="channels those threads are spread over")
    parser.add_argument(
        "--concurrency", default="1,16", help="sender threads; a comma-separated list runs each"
    )
    parser.add_argument("--timeout", type=float, default=170.0)
    args = parser.parse_args()
    per_channel = -(-args.threaded // args.channels) if args.channels else 0
    print(
        f"Thanking {args.requesters:,} requesters ({args.requesters - args.threaded:,} by DM, {args.threaded:,} in "
        f"threads over {args.channels} channels → at least ~{max(0, per_channel - 1)} s at 1 message/s/channel), "
        f"database: {args.db}"
    )
    ok = True
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        if args.db == "sqlite":
            tmp = tempfile.TemporaryDirectory()
            result = run(f"sqlite:///{tmp.name}/bench.db", args, concurrency)
            tmp.cleanup()
        else:
            name = f"partnerbot_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                result = run(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", args, concurrency)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
        rate = result["distinct"] / result["seconds"] if result["seconds"] else 0.0
        print(
            f"  {concurrency:>2} sender thread(s): {result['seconds']:6.1f} s total, {rate:6.1f} thank-yous/s; "
            f"{result['distinct']:,}/{result['queued']:,} arrived, "
            f"{'each exactly once' if result['exactly_once'] else 'NOT exactly once'} "
            f"(duplicates: {result['duplicates']}); {result['posts']:,} chat.postMessage calls, "
            f"{result['answered_429']} answered 429; outbox: {result['statuses']}\n"
            f"      all DMs delivered after {result['dms_done']:.1f} s, all thread replies after "
            f"{result['threads_done']:.1f} s (paced by the per-channel limit)"
        )
        ok = ok and result["exactly_once"] and result["done"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
