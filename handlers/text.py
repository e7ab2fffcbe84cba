"""Making user text safe to show in Slack: escaped so `<!channel>` never pings, clipped to block limits."""

from __future__ import annotations

import re
from collections.abc import Callable

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


# Only what Slack itself writes between angle brackets: a user, a channel, a special mention, a link.
# Slack sends a `<` a person typed as `&lt;`, so anything else in brackets reached us raw (a client that
# does not escape, the local shell): the person's own text, kept as typed.
_SLACK_TOKEN = re.compile(
    r"<((?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|![a-z][\w\-]*(?:\^[^<>|]*)?|(?:https?|mailto|ftp|tel|slack):[^<>|\s]+)"
    r"(?:\|[^<>]*)?)>"
)
_BROADCASTS = {"channel", "here", "everyone"}


def from_slack(text: str, names: Callable[[str], str] | None = None) -> str:
    """Slack's markup as the person typed it: `<@U1|dana>` -> @dana, `<!channel>` -> @channel,
    `<#C1|general>` -> #general, `<https://x|docs>` -> docs (https://x), `&amp;` -> &. What comes back is
    plain text, stored as such and escaped again on output, so it reads well and pings nobody.
    `names` turns a bare `<@U1>` (as in message text) into a name."""

    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            uid = target[1:]
            return "@" + (label or (names(uid) if names else "") or uid)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            word = target[1:].split("^")[0]
            if word in _BROADCASTS:
                return "@" + word
            return label or "@" + word
        if label:
            return f"{label} ({target})"
        return target.removeprefix("mailto:")

    decoded = _SLACK_TOKEN.sub(token, text or "")
    return decoded.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """Slack's three control characters; after this `<!channel>` shows as text and pings nobody."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_link(link: str) -> str:
    """A URL for `<url|label>`: the characters that would end or split the link are percent-encoded."""
    return link.replace(">", "%3E").replace("<", "%3C").replace("|", "%7C").replace(" ", "%20")


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
