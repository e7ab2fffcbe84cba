"""Prometheus metrics of every process (web, clock, socket) and the /metrics page of the web process.

With gunicorn's several workers, each worker counts in its own memory; prometheus-client's multiprocess
mode adds them up for one scrape: bot/gunicorn_conf.py names a directory (PROMETHEUS_MULTIPROC_DIR) where
every worker keeps its counts. Without it (Socket Mode, the clock, a test's in-process app) the counts are
this process's own. The metrics are made on first use, never at import: in multiprocess mode making one
opens its file, and the directory is only ready once the web app is created.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# Slack wants an answer within 3 s: the buckets are finest there.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class Metrics:
    request_seconds: Histogram
    outbox_events: Counter
    matcher_seconds: Histogram
    digests_sent: Counter


_made: Metrics | None = None
_making = threading.Lock()


def get() -> Metrics:
    """The process's metrics, made once: the first payloads a worker serves arrive on several threads at
    once, and a second registration of the same names raises (it once failed a form's repeat check)."""
    global _made
    if _made is None:
        with _making:
            if _made is None:
                _made = _make()
    return _made


def _make() -> Metrics:
    return Metrics(
        request_seconds=Histogram(
            "partnerbot_request_seconds",
            "Time to handle one Slack payload, by kind (command, action, event, ...) and outcome.",
            ["kind", "outcome"],
            buckets=LATENCY_BUCKETS,
        ),
        outbox_events=Counter(
            "partnerbot_outbox_events",
            "What the delivery worker did with outbox rows: sent, failed, ratelimited (Slack's 429), ...",
            ["result"],
        ),
        matcher_seconds=Histogram(
            "partnerbot_matcher_seconds",
            "Time to look for likely repeats of a submitted request.",
            buckets=LATENCY_BUCKETS,
        ),
        digests_sent=Counter(
            "partnerbot_digests_sent", "Threshold digests and 1:1 agendas sent, by kind.", ["kind"]
        ),
    )


def observe_request(kind: str, outcome: str, seconds: float) -> None:
    get().request_seconds.labels(kind=kind, outcome=outcome).observe(seconds)


def outbox_event(result: str, kind: str = "") -> None:
    get().outbox_events.labels(result=result).inc()
    if result == "sent" and kind in ("digest", "agenda"):
        get().digests_sent.labels(kind=kind).inc()


@contextmanager
def matcher_timer() -> Iterator[None]:
    started = perf_counter()
    try:
        yield
    finally:
        get().matcher_seconds.observe(perf_counter() - started)


def prepare_multiprocess_dir() -> None:
    """An empty directory for the workers' counts (an earlier run's would be added to this one's). Called
    once, in gunicorn's master, before any metric exists and before the workers fork."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def exposition() -> tuple[bytes, str]:
    """The page for GET /metrics and its content type."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    get()
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
