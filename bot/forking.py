"""What a process that loads the app once and then forks workers must do around the fork.

Threads do not survive a fork and pooled database connections must not be shared by two processes,
so the parent stops its delivery thread and closes its connections before forking, and each child
starts a delivery thread of its own (with its own worker id) on connections of its own.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from bot.delivery import DeliveryWorker

log = logging.getLogger(__name__)


def before_fork(deps: Any) -> None:
    """In the parent, once the app is loaded and before the first fork."""
    if deps.worker is not None:
        deps.worker.stop()
    deps.engine.dispose()
    # Objects allocated so far (the model, the index, the app) are never collected from now on, so
    # the collector does not write to their pages and un-share them in every child.
    gc.freeze()


def after_fork(deps: Any) -> None:
    """In each child, right after the fork."""
    deps.engine.dispose(close=False)  # drop (never close) anything pooled in the parent
    deps.worker = DeliveryWorker(
        engine=deps.engine, client=deps.client, token_for=deps.tokens.for_workspace if deps.tokens else None
    )
    if deps.settings.delivery_worker:
        deps.worker.start()
