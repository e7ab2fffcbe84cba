"""Making user text safe to show in Slack: escaped so `<!channel>` never pings, clipped to block limits."""

from __future__ import annotations

import re

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def escape(text: str) -> str:
    """Slack's three control characters; after this `<!channel>` shows as text and pings nobody."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def quote(text: str, limit: int = 600) -> str:
    """User text for a message: escaped, clipped, with the full length noted when clipped."""
    text = text or ""
    if len(text) <= limit:
        return escape(text)
    return escape(text[:limit].rstrip()) + f"… _({len(text):,} characters, all kept)_"


def plain(text: str, limit: int) -> str:
    """For plain_text fields (not parsed for mentions, only clipped)."""
    return clip(" ".join((text or "").split()), limit)


def user_ids_in(text: str) -> list[str]:
    """User ids from Slack's escaped mentions (`<@U123|name>`) in command text."""
    return _MENTION.findall(text or "")


def strip_mentions(text: str) -> str:
    return " ".join(_MENTION.sub(" ", text or "").split())
