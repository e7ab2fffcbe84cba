"""Socket Mode: the quick start, no public URL needed."""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import create_app
from bot.logs import setup_logging
from bot.settings import Settings

log = logging.getLogger(__name__)


def run_socket_mode(settings: Settings) -> int:
    setup_logging(default_format="text")
    settings.require("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    app = create_app(settings)
    clock = None
    if settings.extra.get("clock", "1") != "0":
        # One process does it all in Socket Mode: the scheduler runs beside the listener.
        from bot.clock import start_in_process

        clock = start_in_process(app.deps)  # type: ignore[attr-defined]
    log.info("Partnerbot is connecting to Slack in Socket Mode")
    try:
        SocketModeHandler(app, settings.app_token).start()
    finally:
        if clock is not None:
            clock.shutdown(wait=False)
    return 0
