"""HTTP mode: a WSGI app for gunicorn serving Slack at POST /slack/events and GET /healthz."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import create_app
from bot.settings import Settings
from storage.db import probe

log = logging.getLogger(__name__)

# A platform's health check gives up after a few seconds and counts that as down: this one answers within
# its own bound whatever the database does, so "down" always comes with a reason.
HEALTH_DEADLINE_S = 1.0


class PartnerbotWSGI:
    def __init__(self, app: App) -> None:
        self.app = app
        self.slack = SlackRequestHandler(app, path="/slack/events")
        # Two threads: a check stuck on a silent database (until its own timeouts end it) can't make
        # the next one wait, and checks never pile up beyond this.
        self.checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz")

    def healthz(self) -> tuple[str, dict[str, Any]]:
        check = self.checks.submit(probe, self.app.deps.engine)  # type: ignore[attr-defined]
        try:
            check.result(timeout=HEALTH_DEADLINE_S)
            return "200 OK", {"ok": True, "database": "ok"}
        except FutureTimeout:
            check.cancel()
            reason = f"no answer within {HEALTH_DEADLINE_S:g} s"
        except Exception as e:  # the check exists to report this
            reason = " ".join(str(getattr(e, "orig", None) or e).split())[:200]
        log.warning("health check: database unavailable: %s", reason)
        return "503 Service Unavailable", {"ok": False, "database": reason}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            status, body = self.healthz()
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        return self.slack(environ, start_response)


def create_wsgi_app(settings: Settings | None = None) -> PartnerbotWSGI:
    """gunicorn entry point: `gunicorn "bot.http:create_wsgi_app()"`."""
    from bot.logs import setup_logging

    setup_logging()
    settings = settings or Settings.from_env()
    settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    return PartnerbotWSGI(create_app(settings))
