"""The delivery worker: sends what the outbox holds, retrying what Slack asks to retry."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from storage import outbox
from storage.db import session_scope
from storage.models import Outbox, utcnow

log = logging.getLogger(__name__)

# Errors that will not get better by retrying: the message goes to its fallback or is marked failed.
PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "user_not_found",
    "user_disabled",
    "account_inactive",
    "invalid_blocks",
    "msg_too_long",
    "no_text",
    "thread_not_found",
    "cannot_dm_bot",
    "message_not_found",
    "invalid_arguments",
}
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: 1s, 2s, 4s ... capped at 5 minutes."""
    return timedelta(seconds=min(300.0, 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2))


class DeliveryWorker:
    def __init__(self, *, engine: Engine, client: WebClient, worker_id: str | None = None) -> None:
        self.engine = engine
        self.client = client
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- one pass ------------------------------------------------------------------------------
    def deliver_due(self, limit: int = 20) -> int:
        """Send what is due now; returns how many rows were handled."""
        with self._lock:
            with session_scope(self.engine) as session:
                rows = outbox.claim_due(session=session, worker_id=self.worker_id, limit=limit)
            for row in rows:
                self._send(row)
            return len(rows)

    def drain(self, max_rounds: int = 100) -> None:
        """Deliver until nothing is due (the shell and tests use this to be deterministic)."""
        for _ in range(max_rounds):
            if not self.deliver_due():
                return

    def _send(self, row: Outbox) -> None:
        args = json.loads(row.payload)
        try:
            response = self.client.api_call(row.method, json=args)
        except SlackApiError as e:
            self._on_slack_error(row, args, e)
            return
        except Exception as e:  # connection reset, timeout, DNS: all worth a retry
            log.warning("outbox %s: %s; will retry", row.key, e)
            self._retry(row, backoff(row.attempts), f"{type(e).__name__}: {e}")
            return
        with session_scope(self.engine) as session:
            outbox.mark_sent(
                session=session,
                row_id=row.id,
                channel=str(response.get("channel") or args.get("channel") or ""),
                ts=str(response.get("ts") or response.get("message_ts") or ""),
            )

    def _on_slack_error(self, row: Outbox, args: dict, e: SlackApiError) -> None:
        status = e.response.status_code
        error = str(e.response.get("error") or "") if isinstance(e.response.data, dict) else ""
        if status == 429:
            retry_after = float(
                e.response.headers.get("Retry-After", e.response.headers.get("retry-after", 1)) or 1
            )
            # Rescheduled, not slept on: the worker goes on with other channels meanwhile.
            self._retry(row, timedelta(seconds=retry_after), "ratelimited", count_attempt=False)
            return
        if status >= 500 or error in (
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        ):
            self._retry(row, backoff(row.attempts), f"HTTP {status} {error}")
            return
        if error in PERMANENT and row.fallback_user_id and row.method == "chat.postMessage":
            fallback = dict(args)
            fallback.pop("thread_ts", None)
            fallback.pop("reply_broadcast", None)
            if fallback.get("channel") != row.fallback_user_id:
                fallback["channel"] = row.fallback_user_id
                with session_scope(self.engine) as session:
                    outbox.enqueue(
                        session=session,
                        key=f"{row.key}:fallback",
                        payload=fallback,
                        workspace_id=row.workspace_id,
                        kind=row.kind + ":fallback",
                    )
                    outbox.mark_failed(session=session, row_id=row.id, error=f"{error} (sent to DM instead)")
                self._wake.set()
                return
        with session_scope(self.engine) as session:
            outbox.mark_failed(session=session, row_id=row.id, error=error or f"HTTP {status}")
        log.error("outbox %s failed for good: %s", row.key, error or status)

    def _retry(self, row: Outbox, delay: timedelta, error: str, count_attempt: bool = True) -> None:
        with session_scope(self.engine) as session:
            if count_attempt and row.attempts >= MAX_ATTEMPTS:
                outbox.mark_failed(
                    session=session, row_id=row.id, error=f"gave up after {row.attempts} tries: {error}"
                )
                return
            outbox.mark_retry(session=session, row_id=row.id, at=utcnow() + delay, error=error)

    # -- background thread ---------------------------------------------------------------------
    def kick(self) -> None:
        self._wake.set()

    def start(self, interval: float = 1.0) -> DeliveryWorker:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    while self.deliver_due():
                        pass
                except Exception:
                    log.exception("delivery pass failed; trying again shortly")
                self._wake.wait(interval)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="outbox-delivery", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
