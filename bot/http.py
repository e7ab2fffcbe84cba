"""HTTP mode: a WSGI app for gunicorn serving Slack at POST /slack/events and GET /healthz."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text

from bot.app import create_app
from bot.settings import Settings

log = logging.getLogger(__name__)


class PartnerbotWSGI:
    def __init__(self, app: App) -> None:
        self.app = app
        self.slack = SlackRequestHandler(app, path="/slack/events")

    def healthz(self) -> tuple[str, dict[str, Any]]:
        try:
            with self.app.deps.engine.connect() as conn:  # type: ignore[attr-defined]
                conn.execute(text("SELECT 1"))
            return "200 OK", {"ok": True, "database": "ok"}
        except Exception as e:  # the check exists to report this
            log.warning("health check: database unreachable: %s", e)
            return "503 Service Unavailable", {"ok": False, "database": str(e)[:200]}

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
