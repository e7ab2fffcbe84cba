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
