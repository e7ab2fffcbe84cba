"""The process's metrics are made once, even when a worker's first payloads come on several threads at
once (a second registration of the same names raises, which once failed a form's repeat check)."""

from __future__ import annotations

import sys
import threading

from prometheus_client import REGISTRY

from bot import metrics


def test_metrics_made_on_many_threads_at_once_are_made_once():
    before = metrics._made
    if before is not None:  # made by an earlier test in this process: start from none
        for collector in vars(before).values():
            REGISTRY.unregister(collector)
        metrics._made = None
    start = threading.Barrier(16)
    made, failed = [], []

    def first_use() -> None:
        start.wait()
        try:
            made.append(metrics.get())
            with metrics.matcher_timer():
                pass
        except Exception as e:  # what the racing thread used to get
            failed.append(e)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often, as a busy worker's do: the race shows at once
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failed == []
    assert len(made) == 16 and all(m is made[0] for m in made)
    assert REGISTRY.get_sample_value("partnerbot_matcher_seconds_count") >= 16
