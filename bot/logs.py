"""Logging set-up for the run modes (never at import time): one JSON object per line (LOG_FORMAT=json, the
default of the web and clock processes, for a log platform to index by team_id, listener, outcome) or
plain text (LOG_FORMAT=text, the default in a terminal: the shell and Socket Mode)."""

import logging
import os

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_format(default: str = "json") -> str:
    chosen = (os.environ.get("LOG_FORMAT", "").strip().lower() or default).strip().lower()
    return chosen if chosen in ("json", "text") else default


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        # Fields passed with `extra=` (team_id, user, listener, latency_ms, outcome) become keys of the object.
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def setup_logging(level: str | None = None, *, default_format: str = "json") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format(default_format)))
    logging.basicConfig(level=(level or os.environ.get("LOG_LEVEL", "INFO")).upper(), handlers=[handler])
    # Bolt logs the whole body of a request with a bad signature at INFO; the edge logs the fact instead.
    logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)
    logging.getLogger("slack_bolt.App").addFilter(_not_the_client_token_warning)


def _not_the_client_token_warning(record: logging.LogRecord) -> bool:
    # Bolt reads SLACK_BOT_TOKEN from the environment itself and then warns, at every start, that the
    # client we hand it (which carries that very token, and the fake Slack's URL in tests) wins.
    return "`token` will be unused" not in record.getMessage()
