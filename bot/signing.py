"""Slack's request signatures, checked strictly at the edge before any payload is read or acted on.

Bolt checks signatures too, but a malformed header makes its check raise (HTTP 500, then the app's
error handler runs on an unverified body), and it logs the whole body of every rejected request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

# Slack refuses to sign requests older than this; a replay of a captured request after it is refused.
MAX_AGE_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"\d{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def signature_problem(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: float | None = None
) -> str | None:
    """Why this request is not Slack's (None when its signature is good). Never raises."""
    if not secret:
        return "no signing secret is configured"
    if not timestamp or not _TIMESTAMP.fullmatch(timestamp.strip()):
        return "missing or malformed X-Slack-Request-Timestamp"
    if not signature or not _SIGNATURE.fullmatch(signature.strip()):
        return "missing or malformed X-Slack-Signature"
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > MAX_AGE_SECONDS:
        return f"timestamp {int(age)} s away from now (stale or replayed)"
    basestring = b"v0:" + timestamp.strip().encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip()):
        return "signature does not match"
    return None
