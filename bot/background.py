"""The executor Bolt runs lazy listeners on (the work done after Slack has its answer), counted, so the
in-process driver (the shell, fast tests) can wait until that work is done before it shows what happened.

Created before gunicorn forks, it has no thread yet (the master serves nothing): each worker starts
threads of its own on its first lazy listener.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

# Lazy work per process at once: the repeat check after a form's answer queues on the matcher's lock
# anyway, and each thread holds a database connection while it works.
MAX_THREADS = 4


class Background(ThreadPoolExecutor):
    def __init__(self, max_workers: int = MAX_THREADS) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="after-ack")
        self._count_lock = threading.Condition()
        self._pending = 0
        self.submitted = 0  # ever handed in

    @property
    def pending(self) -> int:
        with self._count_lock:
            return self._pending

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._count_lock:
            self._pending += 1
            self.submitted += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future | None) -> None:
        with self._count_lock:
            self._pending -= 1
            self._count_lock.notify_all()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every piece of work handed in so far has finished; False on timeout."""
        with self._count_lock:
            return self._count_lock.wait_for(lambda: self._pending == 0, timeout=timeout)
