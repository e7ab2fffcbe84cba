"""Logging set-up for the run modes (never at import time)."""

import logging
import os


def setup_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Bolt logs the whole body of a request with a bad signature at INFO; the edge logs the fact instead.
    logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)
    logging.getLogger("slack_bolt.App").addFilter(_not_the_client_token_warning)


def _not_the_client_token_warning(record: logging.LogRecord) -> bool:
    # Bolt reads SLACK_BOT_TOKEN from the environment itself and then warns, at every start, that the
    # client we hand it (which carries that very token, and the fake Slack's URL in tests) wins.
    return "`token` will be unused" not in record.getMessage()
