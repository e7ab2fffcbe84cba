"""The delivery worker: sends what the outbox holds, exactly once, retrying what Slack asks to retry.

- Claims are atomic and carry a token (storage.outbox). Each row's lease is confirmed and extended to
  cover its own Slack calls (each at most POST_TIMEOUT) when its turn comes, and again just before the
  post, so no other worker can take a row over while this one may still post it.
- Rows for different channels are sent concurrently by a small thread pool, rows for one channel in
  order, and a 429 reschedules that channel's rows at Retry-After instead of sleeping.
- 5xx and connection errors retry with backoff; permanent errors go to the fallback DM, or are marked
  failed and reported to whoever the message names (`report_to`), so nothing is dropped silently.
- Every chat.postMessage carries message metadata with its outbox key. When a row may already have
  reached Slack (a worker died after posting, a 5xx, a timeout), the next attempt first looks for that
  key in the channel's recent history and marks the row sent instead of posting twice. It waits SETTLE
  seconds first (Slack does not promise a message is readable at once), and looks once more before
  giving up on a message whose last attempt may have arrived.

Run on its own with `python -m bot.delivery` (the web process runs one inside too unless DELIVERY_WORKER=0).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import metrics
from bot.oauth import RoutedWebClient, acting_as
from storage import lifecycle, outbox
from storage.db import session_scope
from storage.models import Outbox, Workspace, utcnow

log = logging.getLogger(__name__)

# The message metadata event type that carries an outbox key (needs no extra scope to post; reading it
# back needs channels:history, groups:history, im:history, mpim:history).
METADATA_EVENT = "partnerbot_outbox"

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
    "restricted_action",
}
# The app is no longer in the workspace (uninstalled, tokens revoked): the workspace's sends are parked until
# it is back, as when Slack's app_uninstalled event says so (which may come later, or not reach us).
APP_GONE = {"token_revoked", "account_inactive", "invalid_auth", "not_authed", "team_not_found"}
TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
# Errors worth trying the person's DM for, when the message was meant for a channel or thread.
FALLBACK_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "thread_not_found",
    "restricted_action",
}
MAX_ATTEMPTS = 8
HISTORY_PAGES = 5
# Each Slack call of the delivery worker gives up after this long: a row's lease is sized from it.
POST_TIMEOUT = 10.0
# After a call that may have reached Slack, wait this long before looking for the message in history.
SETTLE = timedelta(seconds=5)

# What the PM reads when a message could not be delivered.
REASONS = {
    "user_disabled": "their Slack account is deactivated",
    "account_inactive": "their Slack account is deactivated",
    "user_not_found": "Slack doesn't know that user any more",
    "channel_not_found": "the channel is gone or I can't see it",
    "not_in_channel": "I'm not in that channel",
    "is_archived": "the channel is archived",
    "thread_not_found": "the original thread is gone",
    "cannot_dm_bot": "it's a bot",
}


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: 1s, 2s, 4s ... capped at 5 minutes."""
    return timedelta(seconds=min(300.0, 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2))


def _retry_after(e: SlackApiError) -> float:
    headers = e.response.headers or {}
    value = headers.get("Retry-After", headers.get("retry-after", 1))
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0


def _error_code(e: SlackApiError) -> str:
    return str(e.response.get("error") or "") if isinstance(e.response.data, dict) else ""


def posting_client(client: WebClient, timeout: float = POST_TIMEOUT) -> WebClient:
    """The same Slack client without the SDK's automatic re-send on connection errors: a re-send of a
    message Slack already took would be a duplicate. Retries are the outbox's job. A short timeout
    bounds how long a row's lease must last."""
    return RoutedWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=min(client.timeout, timeout) if client.timeout else timeout,
        headers=dict(client.headers or {}),
        retry_handlers=[],
    )


class DeliveryWorker:
    def __init__(
        self,
        *,
        engine: Engine,
        client: WebClient,
        worker_id: str | None = None,
        concurrency: int = 1,
        batch: int | None = None,
        lease: timedelta | None = None,
        post_timeout: float = POST_TIMEOUT,
        settle: timedelta = SETTLE,
        token_for: Callable[[int | None], str] | None = None,
    ) -> None:
        """`lease`: how long a claimed batch waits for its turn before another worker may take rows
        over; `post_timeout` and `settle` size each row's own lease (see _lease_for)."""
        self.engine = engine
        self.client = posting_client(client, post_timeout)
        # A row's workspace -> the bot token to send it with (one per installation in an OAuth install).
        self.token_for = token_for
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}"
        self.concurrency = max(1, concurrency)
        self.batch = batch or max(20, 4 * self.concurrency)
        self.lease = outbox.CLAIM_LEASE if lease is None else lease
        self.post_timeout = post_timeout
        self.settle = settle
        self.stats: Counter[str] = Counter()
        self._pool = (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="outbox-send")
            if self.concurrency > 1
            else None
        )
        self._blocked: dict[str, float] = {}  # channel -> time.monotonic() until which Slack said wait
        # Workspaces parked during this batch: their rows still claimed in it are not sent (they are
        # parked in the database already; a lease still running spares _confirm a look there).
        self._gone: set[int] = set()
        self._state_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sqlite_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        # Tests set these to run another worker between this one's read of due rows and its claim, and
        # to pause at named points ("before_post", "after_post").
        self.after_claim_read: Callable[[], None] | None = None
        self.pause_at: Callable[[str], None] | None = None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A unit of work. On SQLite the sender threads take turns: one writer at a time anyway, and
        waiting on a Python lock is far quicker than SQLite's sleeping busy handler."""
        if self._sqlite_lock is None:
            with session_scope(self.engine) as session:
                yield session
            return
        with self._sqlite_lock, session_scope(self.engine) as session:
            yield session

    # -- one pass ------------------------------------------------------------------------------
    def deliver_due(self, limit: int | None = None) -> int:
        """Send what is due now; returns how many rows were handled."""
        with self._lock:
            with self._session() as session:
                rows = outbox.claim_due(
                    session=session,
                    worker_id=self.worker_id,
                    limit=limit or self.batch,
                    lease=self.lease,
                    after_read=self.after_claim_read,
                )
            if not rows:
                return 0
            self._gone.clear()
            # One channel's messages go in order, one at a time; different channels go in parallel.
            groups: dict[str, list[Outbox]] = {}
            for row in rows:
                groups.setdefault(self._channel_of(row), []).append(row)
            if self._pool is not None and len(groups) > 1:
                list(self._pool.map(self._send_group, groups.values()))
            else:
                for group in groups.values():
                    self._send_group(group)
            return len(rows)

    def drain(self, max_rounds: int = 100) -> None:
        """Deliver until nothing is due (the shell and tests use this to be deterministic)."""
        for _ in range(max_rounds):
            if not self.deliver_due():
                return

    def drain_all(self, timeout: float = 60.0) -> bool:
        """Deliver until nothing is pending or sending, waiting out retries; True when all done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.deliver_due():
                continue
            with self._session() as session:
                left = outbox.counts(session=session)
                due = outbox.next_due_at(session=session)
            if not left.get("pending") and not left.get("sending"):
                return True
            wait = (due - utcnow()).total_seconds() if due else 0.2
            time.sleep(min(max(wait, 0.02), 1.0))
        return False

    @staticmethod
    def _channel_of(row: Outbox) -> str:
        try:
            return str(json.loads(row.payload).get("channel") or "")
        except ValueError:
            return ""

    def _send_group(self, rows: list[Outbox]) -> None:
        for i, row in enumerate(rows):
            try:
                with acting_as(self.token_for(row.workspace_id) if self.token_for else ""):
                    wait_until = self._send(row)
            except Exception as e:  # a bug or the database: never leave the row claimed until stale
                log.exception("outbox %s: unexpected failure", row.key)
                self._retry(row, backoff(row.attempts), f"{type(e).__name__}: {e}", uncertain=True)
                continue
            if wait_until is not None:
                # Slack asked this channel to slow down: the rest wait too, without a call each.
                for rest in rows[i + 1 :]:
                    self._reschedule(rest, wait_until, "waiting for the channel's rate limit")
                return

    # -- sending one row -----------------------------------------------------------------------
    def _send(self, row: Outbox) -> datetime | None:
        """Send one row. Returns when its channel may be posted to again if Slack rate-limited it."""
        if row.workspace_id in self._gone:
            return None
        args = json.loads(row.payload)
        channel = str(args.get("channel") or "")
        blocked = self._blocked_until(channel)
        if blocked is not None:
            self._reschedule(row, blocked, "waiting for the channel's rate limit")
            return blocked
        if row.method == "chat.postMessage":
            args.setdefault("metadata", {"event_type": METADATA_EVENT, "event_payload": {"key": row.key}})
            if row.check_before_send:
                if not self._confirm(row, calls=HISTORY_PAGES + 2):  # conversations.open, history, post
                    return None
                try:
                    found = self._find_sent(row, args)
                except SlackApiError as e:
                    if e.response.status_code == 429 or e.response.status_code >= 500:
                        return self._on_slack_error(row, args, e)
                    # Without the history scopes we cannot look; posting risks a duplicate, never a loss.
                    log.warning("outbox %s: could not look for an earlier send: %s", row.key, _error_code(e))
                    found = None
                except Exception as e:
                    self._retry(row, backoff(row.attempts), f"{type(e).__name__}: {e}", uncertain=True)
                    return None
                if found is not None:
                    with self._session() as session:
                        outbox.mark_sent(
                            session=session,
                            row_id=row.id,
                            token=row.claim_token,
                            channel=found[0],
                            ts=found[1],
                            note="already in Slack from an interrupted attempt; not posted again",
                        )
                    self._count("found_already_sent")
                    return None
                if row.attempts > MAX_ATTEMPTS:  # the last look before giving up: it never arrived
                    self._fail(row, f"gave up after {MAX_ATTEMPTS} tries: {row.last_error}")
                    return None
        # Just before the post: still ours, and ours for longer than this call can take.
        if not self._confirm(row, calls=1):
            return None
        self._pause("before_post")
        try:
            response = self.client.api_call(row.method, json=args)
        except SlackApiError as e:
            return self._on_slack_error(row, args, e)
        except Exception as e:  # connection reset, timeout, DNS: all worth a retry, and may have arrived
            log.warning("outbox %s: %s; will retry", row.key, e)
            self._retry(row, backoff(row.attempts), f"{type(e).__name__}: {e}", uncertain=True)
            return None
        self._pause("after_post")
        with self._session() as session:
            marked = outbox.mark_sent(
                session=session,
                row_id=row.id,
                token=row.claim_token,
                channel=str(response.get("channel") or args.get("channel") or ""),
                ts=str(response.get("ts") or response.get("message_ts") or ""),
            )
        if not marked:
            # Only if this worker stalled past its lease after posting: the row's new holder looks in
            # Slack first (a takeover always does) and finds this message.
            log.warning("outbox %s: posted, but the claim had been taken over meanwhile", row.key)
            self._count("taken_over_after_post")
            return None
        self._count("sent", row.kind)
        return None

    def _lease_for(self, calls: int) -> timedelta:
        """Longer than `calls` Slack calls at their timeout, plus time for the message to show in history
        (so a takeover right after the lease still finds it) and for the database writes around them."""
        return timedelta(seconds=(calls + 1) * self.post_timeout) + self.settle

    def _confirm(self, row: Outbox, *, calls: int) -> bool:
        """Is the row still ours for longer than its next `calls` Slack calls can take?

        Nobody can take a row over before its lease ends, and only a takeover changes the token, so a
        lease this worker knows still runs long enough needs no database round trip; a shorter one is
        extended in the database, which also tells whether the row was taken over meanwhile."""
        now = utcnow()
        lease = self._lease_for(calls)
        if row.lease_until is not None and row.lease_until >= now + lease:
            return True
        with self._session() as session:
            held = outbox.confirm_claim(
                session=session, row_id=row.id, token=row.claim_token, lease=lease, now=now
            )
        if not held:
            log.info("outbox %s: another worker took it over; leaving it to them", row.key)
            self._count("claim_lost")
            return False
        row.lease_until = now + lease
        self._count("leases_extended")
        return True

    def _pause(self, point: str) -> None:
        if self.pause_at is not None:
            self.pause_at(point)

    def _find_sent(self, row: Outbox, args: dict[str, Any]) -> tuple[str, str] | None:
        """(channel, ts) of a message in Slack that carries this row's key, if an earlier attempt posted it."""
        channel = str(args.get("channel") or "")
        if channel.startswith(("U", "W")):  # a DM by user id: history needs the DM channel's id
            if row.dm_channel:
                channel = row.dm_channel
            else:
                channel = self.client.conversations_open(users=channel)["channel"]["id"]
                row.dm_channel = channel
                with self._session() as session:
                    outbox.remember_dm_channel(
                        session=session, row_id=row.id, token=row.claim_token, channel=channel
                    )
        thread_ts = str(args.get("thread_ts") or "")
        oldest = f"{(row.created_at - timedelta(minutes=1)).timestamp():.6f}"
        cursor = ""
        self._count("history_lookups")
        for _ in range(HISTORY_PAGES):
            params: dict[str, Any] = dict(
                channel=channel, include_all_metadata=True, limit=200, oldest=oldest
            )
            if cursor:
                params["cursor"] = cursor
            if thread_ts:
                page = self.client.conversations_replies(ts=thread_ts, **params)
            else:
                page = self.client.conversations_history(**params)
            for message in page.get("messages") or []:
                meta = message.get("metadata") or {}
                if (
                    meta.get("event_type") == METADATA_EVENT
                    and (meta.get("event_payload") or {}).get("key") == row.key
                ):
                    return channel, str(message.get("ts") or "")
            cursor = ((page.get("response_metadata") or {}).get("next_cursor")) or ""
            if not cursor:
                break
        return None

    def _on_slack_error(self, row: Outbox, args: dict, e: SlackApiError) -> datetime | None:
        status = e.response.status_code
        error = _error_code(e)
        if status == 429 or error == "ratelimited":
            # Rescheduled, not slept on: the worker goes on with other channels meanwhile.
            until = utcnow() + timedelta(seconds=_retry_after(e))
            self._block(str(args.get("channel") or ""), until)
            self._reschedule(row, until, "ratelimited")
            self._count("ratelimited")
            return until
        if status >= 500 or error in TRANSIENT:
            # A 5xx may come after Slack stored the message: the next attempt looks first.
            self._retry(row, backoff(row.attempts), f"HTTP {status} {error}".strip(), uncertain=True)
            self._count("server_errors")
            return None
        if error in APP_GONE and row.workspace_id is not None:
            with self._session() as session:
                workspace = session.get(Workspace, row.workspace_id)
                if workspace is not None:
                    self._gone.add(workspace.id)
                    parked = lifecycle.park(session=session, workspace=workspace, reason=error)
                    log.warning("outbox %s: Slack said %s; parked %s message(s)", row.key, error, parked)
                    self._count("parked")
                    return None
        channel = str(args.get("channel") or "")
        if (
            error in FALLBACK_ERRORS
            and row.fallback_user_id
            and row.method == "chat.postMessage"
            and channel != row.fallback_user_id
        ):
            fallback = dict(args)
            fallback.pop("thread_ts", None)
            fallback.pop("reply_broadcast", None)
            fallback.pop("metadata", None)
            fallback["channel"] = row.fallback_user_id
            with self._session() as session:
                if not outbox.mark_failed(
                    session=session,
                    row_id=row.id,
                    token=row.claim_token,
                    error=f"{error} (sent to DM instead)",
                ):
                    return None
                outbox.enqueue(
                    session=session,
                    key=f"{row.key}:fallback",
                    payload=fallback,
                    workspace_id=row.workspace_id,
                    kind=row.kind + ":fallback",
                    report_to=row.report_to,
                    report_label=row.report_label,
                )
            self._count("fell_back_to_dm")
            self._wake.set()
            return None
        self._fail(row, error or f"HTTP {status}")
        return None

    def _fail(self, row: Outbox, error: str) -> None:
        """Failed for good: recorded on the row, and told to whoever should know."""
        with self._session() as session:
            if not outbox.mark_failed(session=session, row_id=row.id, token=row.claim_token, error=error):
                return
            if row.report_to:
                label = row.report_label or f"a message ({row.kind or row.method})"
                reason = REASONS.get(error.split(" ")[0], f"Slack said `{error[:200]}`")
                outbox.enqueue(
                    session=session,
                    key=f"{row.key}:undeliverable",
                    payload={
                        "channel": row.report_to,
                        "text": f":warning: I couldn't deliver {label}: {reason}. "
                        "It's recorded; you may want to reach them another way.",
                    },
                    workspace_id=row.workspace_id,
                    kind="undeliverable",
                )
                self._wake.set()
        self._count("failed")
        log.error("outbox %s failed for good: %s", row.key, error)

    def _retry(self, row: Outbox, delay: timedelta, error: str, *, uncertain: bool = False) -> None:
        may_be_in_slack = uncertain or row.check_before_send
        if row.attempts >= MAX_ATTEMPTS and not (
            may_be_in_slack and row.method == "chat.postMessage" and row.attempts == MAX_ATTEMPTS
        ):
            self._fail(row, f"gave up after {min(row.attempts, MAX_ATTEMPTS)} tries: {error}")
            return
        if uncertain:
            # Slack may have stored it: give it time to show in history before anyone looks.
            delay = max(delay, self.settle)
        # After the last try, a row that may have arrived gets one more attempt: a look, never a post.
        with self._session() as session:
            outbox.mark_retry(
                session=session,
                row_id=row.id,
                token=row.claim_token,
                at=utcnow() + delay,
                error=error,
                uncertain=uncertain,
            )

    def _reschedule(self, row: Outbox, at: datetime, error: str) -> None:
        """Back to the queue without using up an attempt (Slack did not try to deliver it)."""
        with self._session() as session:
            outbox.mark_retry(
                session=session,
                row_id=row.id,
                token=row.claim_token,
                at=at,
                error=error,
                refund_attempt=True,
            )

    # -- per-channel rate limits ---------------------------------------------------------------
    def _block(self, channel: str, until: datetime) -> None:
        if not channel:
            return
        with self._state_lock:
            self._blocked[channel] = time.monotonic() + (until - utcnow()).total_seconds()

    def _blocked_until(self, channel: str) -> datetime | None:
        with self._state_lock:
            ends = self._blocked.get(channel)
            if ends is None:
                return None
            left = ends - time.monotonic()
            if left <= 0:
                del self._blocked[channel]
                return None
        return utcnow() + timedelta(seconds=left)

    def _count(self, what: str, kind: str = "") -> None:
        with self._state_lock:
            self.stats[what] += 1
        metrics.outbox_event(what, kind)

    # -- background thread ---------------------------------------------------------------------
    def kick(self) -> None:
        self._wake.set()

    def _seconds_to_next_due(self, interval: float) -> float:
        try:
            with self._session() as session:
                due = outbox.next_due_at(session=session)
        except Exception:
            log.exception("could not read the outbox")
            return interval
        if due is None:
            return interval
        return min(interval, max(0.05, (due - utcnow()).total_seconds()))

    def run(self, interval: float = 1.0) -> None:
        """Deliver until stop(): each pass sends what is due, then waits for a kick or the next due row."""
        while not self._stop.is_set():
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("delivery pass failed; trying again shortly")
            self._wake.wait(self._seconds_to_next_due(interval))
            self._wake.clear()

    def start(self, interval: float = 1.0) -> DeliveryWorker:
        self._thread = threading.Thread(
            target=self.run, args=(interval,), name="outbox-delivery", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def timings_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """OUTBOX_LEASE_SECONDS, OUTBOX_POST_TIMEOUT and OUTBOX_SETTLE_SECONDS, for the ones that are set."""
    timings: dict[str, Any] = {}
    if env.get("OUTBOX_LEASE_SECONDS", "").strip():
        timings["lease"] = timedelta(seconds=float(env["OUTBOX_LEASE_SECONDS"]))
    if env.get("OUTBOX_POST_TIMEOUT", "").strip():
        timings["post_timeout"] = float(env["OUTBOX_POST_TIMEOUT"])
    if env.get("OUTBOX_SETTLE_SECONDS", "").strip():
        timings["settle"] = timedelta(seconds=float(env["OUTBOX_SETTLE_SECONDS"]))
    return timings


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.delivery [--concurrency N] [--once]`: a delivery worker process of its own."""
    from bot.app import make_client
    from bot.logs import setup_logging
    from bot.settings import Settings, SettingsError
    from storage.db import make_engine, migrate

    parser = argparse.ArgumentParser(prog="python -m bot.delivery", description=main.__doc__)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(os.environ.get("OUTBOX_CONCURRENCY", "8")),
        help="messages sent at once to different channels (default 8, env OUTBOX_CONCURRENCY)",
    )
    parser.add_argument("--once", action="store_true", help="send everything pending, then exit")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        settings = Settings.from_env()
        settings.require_bot_token()
    except SettingsError as e:
        print(f"partnerbot: {e}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    migrate(engine)
    from bot.oauth import Tokens

    worker = DeliveryWorker(
        engine=engine,
        client=make_client(settings),
        token_for=Tokens(settings, engine).for_workspace,
        worker_id=os.environ.get("WORKER_ID") or None,
        concurrency=args.concurrency,
        **timings_from_env(os.environ),
    )
    if args.once:
        done = worker.drain_all()
        print(f"delivery: {dict(worker.stats)}")
        return 0 if done else 1

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %s: finishing the current pass, then stopping", signum)
        worker._stop.set()
        worker._wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("delivery worker %s started (concurrency %s)", worker.worker_id, worker.concurrency)
    worker.run()
    log.info("delivery worker stopped: %s", dict(worker.stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
