"""gunicorn settings of the web process (``gunicorn --config python:bot.gunicorn_conf``).

The app is loaded once in gunicorn's master before it forks the workers (``preload_app``), so the
sentence-embedding model (~90 MB of weights) and the index of stored requests are loaded once per
machine and shared by every worker's pages, instead of once per worker. What must not cross a fork is
handled here: the master's database connections are closed and its delivery thread stopped before
forking; each worker opens its own connections and starts its own delivery thread.
"""

from __future__ import annotations

import os
from typing import Any

preload_app = True

# Each worker counts its metrics in files here, and /metrics adds them up (prometheus-client's multiprocess
# mode). gunicorn puts it in the environment before it loads the app, so before prometheus-client reads it;
# the app empties it when it is created (bot.http.create_wsgi_app).
METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or f"/tmp/partnerbot-metrics-{os.getpid()}"
raw_env = [f"PROMETHEUS_MULTIPROC_DIR={METRICS_DIR}"]
# One BLAS thread per worker: the encoder's matrices are a sentence long, too small to gain from more,
# and OpenBLAS's extra threads spin while they wait, taking the CPU the threads answering Slack need.
# Set before the app (and numpy) is loaded. An operator's own setting wins.
raw_env += [f"{name}=1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if name not in os.environ]


def on_exit(server: Any) -> None:
    import shutil

    shutil.rmtree(METRICS_DIR, ignore_errors=True)


def _deps(server: Any) -> Any:
    app = getattr(server.app, "callable", None)  # PartnerbotWSGI, loaded by the master
    bolt = getattr(app, "app", None)
    return getattr(bolt, "deps", None)


def when_ready(server: Any) -> None:
    deps = _deps(server)
    if deps is not None:
        from bot.forking import before_fork

        before_fork(deps)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server: Any, worker: Any) -> None:
    deps = _deps(server)
    if deps is not None:
        from bot.forking import after_fork

        after_fork(deps)
