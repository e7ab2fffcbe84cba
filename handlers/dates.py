"""Dates in messages as Slack's date tokens, so each reader sees them in their own time zone and locale;
the fallback (UTC) is what clients that cannot render the token show."""

from __future__ import annotations

from datetime import UTC, datetime


def slack_date(when: datetime, fmt: str = "{date_short}", fallback: str = "%b %-d, %Y") -> str:
    """`<!date^…>` for `when` (aware; naive is read as UTC), e.g. "Nov 3, 2026" in the reader's zone."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"<!date^{int(when.timestamp())}^{fmt}|{when.astimezone(UTC):{fallback}}>"


def slack_time(when: datetime) -> str:
    """Date and time: "Nov 3, 2026 at 9:00 AM" in the reader's zone."""
    return slack_date(when, "{date_short} at {time}", "%b %-d, %Y %H:%M UTC")
