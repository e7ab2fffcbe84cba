"""HTTP mode: a WSGI app for gunicorn serving Slack at POST /slack/events, GET /healthz and GET /metrics, the
issue trackers' webhooks at POST /integrations/<github|linear|jira>, and with the OAuth install
(bot/oauth.py) GET /slack/install and /slack/oauth_redirect."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import metrics
from bot.app import create_app
from bot.oauth import INSTALL_PATH, REDIRECT_PATH
from bot.settings import Settings
from bot.signing import signature_problem
from handlers.issues import handle_webhook
from integrations.base import TRACKER_KINDS
from storage import handled, health
from storage.db import probe, session_scope
from storage.models import utcnow

log = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/integrations/"

# Slack's payloads are a few KB (a full form is under 100 KB); anything far larger is not Slack's.
MAX_BODY_BYTES = 1_000_000

# A platform's health check gives up after a few seconds and counts that as down: this one answers within
# its own bound whatever the database does, so "down" always comes with a reason.
HEALTH_DEADLINE_S = 1.0

# The clock ticks every minute: five minutes without a heartbeat means digests and agendas have stopped.
CLOCK_SILENT_AFTER = timedelta(minutes=5)


def clock_silent_after() -> timedelta:
    minutes = os.environ.get("PARTNERBOT_CLOCK_SILENT_MINUTES", "").strip()
    try:
        return timedelta(minutes=float(minutes)) if minutes else CLOCK_SILENT_AFTER
    except ValueError:
        return CLOCK_SILENT_AFTER


class PartnerbotWSGI:
    def __init__(self, app: App) -> None:
        self.app = app
        self.slack = SlackRequestHandler(app, path="/slack/events")
        # Two threads: a check stuck on a silent database (until its own timeouts end it) can't make
        # the next one wait, and checks never pile up beyond this.
        self.checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz")

    def healthz(self) -> tuple[str, dict[str, Any]]:
        check = self.checks.submit(self.check)
        try:
            report = check.result(timeout=HEALTH_DEADLINE_S)
        except FutureTimeout:
            check.cancel()
            reason = f"no answer within {HEALTH_DEADLINE_S:g} s"
        except Exception as e:  # the check exists to report this
            reason = " ".join(str(getattr(e, "orig", None) or e).split())[:200]
        else:
            if report["ok"]:
                return "200 OK", report
            log.warning("health check: %s", report["clock"]["problem"])
            return "503 Service Unavailable", report
        log.warning("health check: database unavailable: %s", reason)
        return "503 Service Unavailable", {"ok": False, "database": reason}

    def check(self) -> dict[str, Any]:
        """The database answers (raises otherwise), and what it knows that an operator should see: the
        outbox's backlog and its oldest waiting message, the clock's last heartbeat, and Slack's
        app_rate_limited notices of the last day (how many, and the minute the latest covers). Not ok
        when the clock has been silent too long; a database no clock ever ran against (one web process
        on its own) is not held against it."""
        engine = self.app.deps.engine  # type: ignore[attr-defined]
        probe(engine)
        now = utcnow()
        with session_scope(engine) as session:
            backlog = health.outbox_backlog(session=session, now=now)
            last = health.last_beat(session=session)
            limited = handled.rate_limited_summary(session=session)
        clock: dict[str, Any] = {"last_beat": None}
        if last is not None:
            silent = max(0.0, (now - health.aware(last)).total_seconds())
            clock = {"last_beat": health.aware(last).isoformat(), "silent_s": round(silent)}
            if silent > clock_silent_after().total_seconds():
                clock["problem"] = f"the clock has been silent for {silent / 60:.0f} min"
        return {
            "ok": "problem" not in clock,
            "database": "ok",
            "outbox": backlog,
            "clock": clock,
            "app_rate_limited": limited,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, *self.healthz())
        if path == "/metrics" and method in ("GET", "HEAD"):
            data, content_type = metrics.exposition()
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
            return [data]
        if path in (INSTALL_PATH, REDIRECT_PATH) and method == "GET" and self.app.oauth_flow is not None:
            # "Add to Slack" and Slack's redirect back: Bolt's OAuthFlow (state checked against its cookie).
            return self.slack(environ, start_response)
        if path.startswith(WEBHOOK_PREFIX) and path[len(WEBHOOK_PREFIX) :] in TRACKER_KINDS:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return self.tracker_webhook(path[len(WEBHOOK_PREFIX) :], environ, start_response)
        if path != "/slack/events":
            return _json(start_response, "404 Not Found", {"error": "not found"})
        if method != "POST":
            return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
        return self.slack_request(environ, start_response)

    def slack_request(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """Checks the signature before Bolt sees anything: an unsigned, forged, stale or malformed request
        gets 401 and is never parsed, so nothing in it can make the bot act (or DM anyone)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            log.warning("refused a request to /slack/events: body length %r", environ.get("CONTENT_LENGTH"))
            return _json(start_response, "413 Content Too Large", {"error": "request too large"})
        body = environ["wsgi.input"].read(length) if length else b""
        problem = signature_problem(
            self.signing_secret,
            body,
            environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
            environ.get("HTTP_X_SLACK_SIGNATURE"),
        )
        if problem:
            # The fact, never the body: an attacker's text has no business in our logs.
            log.warning(
                "refused an unverified request to /slack/events from %s: %s",
                environ.get("HTTP_X_FORWARDED_FOR") or environ.get("REMOTE_ADDR") or "?",
                problem,
            )
            return _json(start_response, "401 Unauthorized", {"error": "invalid request"})
        environ["wsgi.input"] = io.BytesIO(body)
        return self.slack(environ, start_response)

    def tracker_webhook(
        self, kind: str, environ: dict[str, Any], start_response: Callable
    ) -> Iterable[bytes]:
        """POST /integrations/<github|linear|jira>: not Slack's, so not Slack-signed. Each tracker signs its
        deliveries with the connection's webhook secret (handlers/issues.handle_webhook checks it): an
        unsigned, forged or replayed one gets 401 and changes nothing; a repeated delivery is a no-op."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length <= 0 or length > MAX_BODY_BYTES:
            return _json(start_response, "413 Content Too Large", {"error": "request too large"})
        body = environ["wsgi.input"].read(length)
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        try:
            answer = handle_webhook(self.app.deps.engine, kind, headers, body)  # type: ignore[attr-defined]
        except Exception:  # the database, most likely: the tracker retries later
            log.exception("the %s webhook could not be handled", kind)
            return _json(start_response, "503 Service Unavailable", {"error": "try again later"})
        if answer.acted:
            self.app.deps.kick()  # type: ignore[attr-defined]
        return _json(start_response, answer.status, answer.body)

    @property
    def signing_secret(self) -> str:
        return self.app.deps.settings.signing_secret  # type: ignore[attr-defined]


def _json(start_response: Callable, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def create_wsgi_app(settings: Settings | None = None) -> PartnerbotWSGI:
    """gunicorn entry point: `gunicorn "bot.http:create_wsgi_app()"`."""
    from bot.logs import setup_logging

    setup_logging()
    metrics.prepare_multiprocess_dir()
    settings = settings or Settings.from_env()
    settings.require_bot_token("SLACK_SIGNING_SECRET")
    return PartnerbotWSGI(create_app(settings))
