"""Two real delivery worker processes race over one outbox while Slack answers 429, 500 and "stored,
then 500": every requester gets their thank-you exactly once, in every run, on SQLite and PostgreSQL.

Short by default (3 runs per database); `make stress` (STRESS_RUNS=50) is the long version.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.delivery import METADATA_EVENT
from bot.fake_slack import FakeSlack
from storage import outbox
from storage.db import make_engine, migrate, session_scope
from storage.models import Outbox
from tests.conftest import _empty_tables

ROOT = Path(__file__).resolve().parents[2]
REQUESTERS = 30
RUNS = int(os.environ.get("STRESS_RUNS", "3"))
# Never more faults for one message than it has tries: each must arrive, so a missing one is a bug.
MAX_FAULTS_PER_MESSAGE = 3


def fault_mix(seed: int):
    """(failure rule, after-store rule) answering about a third of the posts with 429, 500 or stored-then-500."""
    rng = random.Random(seed)
    faults: Counter = Counter()
    pending_after_store: set[int] = set()

    def key_of(args) -> str:
        meta = args.get("metadata") or {}
        return ((meta.get("event_payload") or {}).get("key")) or ""

    def before(method, args):
        if method != "chat.postMessage":
            return None
        key = key_of(args)
        if faults[key] >= MAX_FAULTS_PER_MESSAGE:
            return None
        roll = rng.random()
        if roll < 0.12:
            faults[key] += 1
            return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
        if roll < 0.22:
            faults[key] += 1
            return 500, {}, {"ok": False, "error": "internal_error"}
        if roll < 0.34:
            faults[key] += 1
            pending_after_store.add(id(args))
        return None

    def after(method, args):
        if id(args) in pending_after_store:
            pending_after_store.discard(id(args))
            return 500, {}, {"ok": False, "error": "internal_error"}
        return None

    return before, after


def queue_thank_yous(engine) -> None:
    with session_scope(engine) as s:
        for i in range(REQUESTERS):
            if i % 5 == 0:  # raised in a thread: the reply goes there
                payload = {"channel": f"C{i % 3}", "thread_ts": f"1700000000.{i:06d}", "text": f"thanks {i}"}
            else:
                payload = {"channel": f"U{i:04d}", "text": f"thanks {i}"}
            outbox.enqueue(session=s, key=f"thanks:7:{i}", payload=payload, kind="thanks")


def deliveries_per_person(fake: FakeSlack) -> Counter:
    keys: Counter = Counter()
    with fake._lock:
        for messages in fake.messages.values():
            for m in messages:
                meta = m.get("metadata") or {}
                if meta.get("event_type") == METADATA_EVENT:
                    keys[meta["event_payload"]["key"]] += 1
    return keys


def one_run(url: str, engine, seed: int, tmp_path: Path) -> dict:
    fake = FakeSlack().start()
    fake.history_delay = 0.2  # shorter than the workers' settle time, as Slack's is than ours
    before, after = fault_mix(seed)
    fake.failure_rules.append(before)
    fake.after_store_rules.append(after)
    try:
        queue_thank_yous(engine)
        procs = []
        for n in range(2):
            log = open(tmp_path / f"run{seed}-w{n}.log", "wb")  # noqa: SIM115 (the process writes it)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.bot.outbox_stress_worker",
                        url,
                        fake.api_url,
                        f"w{n}",
                        str(seed * 10 + n),
                    ],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        codes = [p.wait(timeout=110) for p in procs]
        logs = [(tmp_path / f"run{seed}-w{n}.log").read_text() for n in range(2)]
        assert codes == [0, 0], "\n".join(line[-3000:] for line in logs)
        with Session(engine) as s:
            statuses = Counter(r.status for r in s.exec(select(Outbox)))
        return {
            "per_person": deliveries_per_person(fake),
            "statuses": statuses,
            "stats": [json.loads(line.strip().splitlines()[-1]) for line in logs],
            "faults": Counter(c.status for c in fake.calls if c.method == "chat.postMessage"),
        }
    finally:
        fake.stop()


@pytest.mark.timeout(60 + 40 * RUNS)
@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_two_worker_processes_thank_each_requester_exactly_once_in_every_run(db, request, tmp_path):
    totals: Counter = Counter()
    for run in range(RUNS):
        if db == "postgres":
            url = request.getfixturevalue("pg_server_url")
            engine = request.getfixturevalue("_pg_engine")
            _empty_tables(engine)
        else:
            url = f"sqlite:///{tmp_path / f'stress{run}.db'}"
            engine = make_engine(url)
            migrate(engine)
        result = one_run(url, engine, seed=1000 + run, tmp_path=tmp_path)
        per_person = result["per_person"]
        twice = {k: n for k, n in per_person.items() if n != 1}
        assert not twice, f"run {run}: sent more than once: {twice}; {result}"
        assert len(per_person) == REQUESTERS, (
            f"run {run}: {REQUESTERS - len(per_person)} never arrived; {result}"
        )
        assert result["statuses"] == {"sent": REQUESTERS}, result
        for stats in result["stats"]:
            totals.update({k: v for k, v in stats.items() if isinstance(v, int) and not isinstance(v, bool)})
        totals.update({f"http_{k}": v for k, v in result["faults"].items()})
        if db == "sqlite":
            engine.dispose()
    # The faults and races really happened (over all runs), so "exactly once" was earned.
    assert totals["http_429"] and totals["http_500"] and totals["found_already_sent"], totals
    print(f"{db}: {RUNS} runs, {dict(totals)}")
