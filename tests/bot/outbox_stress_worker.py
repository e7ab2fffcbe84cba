"""One delivery worker process for the outbox stress test (tests/bot/test_delivery_stress.py).

    python -m tests.bot.outbox_stress_worker DATABASE_URL SLACK_API_URL WORKER_ID SEED

The real DeliveryWorker with short timings, pausing at random between its read of due rows and its
claim, just before each post and just after it (now and then past its lease, so the other process takes
rows over). Prints its counters as JSON when nothing is left to send.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import timedelta

from slack_sdk import WebClient

from bot.delivery import DeliveryWorker
from storage.db import make_engine

POST_TIMEOUT = 1.0
SETTLE = timedelta(seconds=0.4)
# A batch's lease, long enough that most posts need no database confirmation (the lease they know is
# long enough) and some do (the post lease, (1 + 1) x POST_TIMEOUT + SETTLE, is 2.4 s).
LEASE = timedelta(seconds=3)
# Past either lease: the other process takes the row over.
STALL = max(LEASE.total_seconds(), 2 * POST_TIMEOUT + SETTLE.total_seconds()) + 0.6


def main(argv: list[str]) -> int:
    url, api_url, worker_id, seed = argv
    rng = random.Random(int(seed))
    engine = make_engine(url)
    worker = DeliveryWorker(
        engine=engine,
        client=WebClient(token="xoxb-stress", base_url=api_url),
        worker_id=worker_id,
        concurrency=3,
        batch=8,
        lease=LEASE,
        post_timeout=POST_TIMEOUT,
        settle=SETTLE,
    )
    worker.after_claim_read = lambda: time.sleep(rng.uniform(0, 0.03))

    def pause(point: str) -> None:
        if point == "after_post" and rng.random() < 0.03:
            time.sleep(STALL)
        else:
            time.sleep(rng.uniform(0, 0.01))

    worker.pause_at = pause
    done = worker.drain_all(timeout=90)
    print(json.dumps({"worker": worker_id, "done": done, **worker.stats}), flush=True)
    engine.dispose()
    return 0 if done else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
