"""The executor of the work done after Slack has its answer (Bolt's lazy listeners, the request form's
repeat check), counted, so the in-process driver (the shell, fast tests) can wait until that work is done
before it shows what happened. Its threads run at a lower CPU priority than the ones answering Slack:
under load the answers keep their 3 seconds and the work after them waits instead.

Created before gunicorn forks, it has no thread yet (the master serves nothing): each worker starts
threads of its own on its first lazy listener.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

# Lazy work per process at once: the repeat check after a form's answer queues on the matcher's lock
# anyway, and each thread holds a database connection while it works.
MAX_THREADS = 4


# Added to the nice value of each after-the-answer thread (Linux sets it per thread).
NICENESS = 10


def _lower_priority() -> None:
    # Not Linux, or not allowed: the same priority, still correct.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)


class Background(ThreadPoolExecutor):
    def __init__(self, max_workers: int = MAX_THREADS) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="after-ack", initializer=_lower_priority)
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
