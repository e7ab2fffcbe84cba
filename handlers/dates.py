"""Dates in messages as Slack's date tokens, so each reader sees them in their own time zone and locale;
the fallback (in the zone given, else UTC) is what clients that cannot render the token show."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except Exception:  # an unknown zone name from Slack: the fallback in UTC is still right enough
        return ZoneInfo("UTC")


def slack_date(when: datetime, fmt: str = "{date_short}", fallback: str = "%b %-d, %Y", tz: str = "") -> str:
    """`<!date^…>` for `when` (aware; naive is read as UTC), e.g. "Nov 3, 2026" in the reader's zone."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"<!date^{int(when.timestamp())}^{fmt}|{when.astimezone(_zone(tz)):{fallback}}>"


def slack_time(when: datetime, tz: str = "") -> str:
    """Date and time: "Nov 3, 2026 at 9:00 AM" in the reader's zone."""
    if not tz:
        return slack_date(when, "{date_short} at {time}", "%b %-d, %Y %H:%M UTC")
    return slack_date(when, "{date_short} at {time}", "%a %b %-d, %H:%M %Z", tz=tz)


def slack_day(day: date) -> str:
    """A calendar day (a 1:1's date), e.g. "Tuesday, March 3rd, 2026" or "tomorrow" in the reader's locale.
    A day has no zone, so the token points at noon UTC: the same day for every reader from UTC-11 to UTC+11."""
    noon = datetime.combine(day, time(12), tzinfo=UTC)
    return f"<!date^{int(noon.timestamp())}^{{date_long_pretty}}|{day:%a %b} {day.day}>"
