"""The edge's signature check: Slack's own scheme, and a plain refusal for anything malformed."""

from __future__ import annotations

import pytest

from bot import payloads
from bot.signing import signature_problem

SECRET = "s3cret"
NOW = 1_800_000_000
BODY = "command=%2Frequest&text=CSV+export"


def headers(secret: str = SECRET, body: str = BODY, ts: int = NOW) -> tuple[str, str]:
    signed = payloads.sign(secret, body, timestamp=ts)
    return signed["X-Slack-Request-Timestamp"], signed["X-Slack-Signature"]


def test_a_good_signature_passes():
    ts, sig = headers()
    assert signature_problem(SECRET, BODY.encode(), ts, sig, now=NOW + 10) is None


@pytest.mark.parametrize(
    "timestamp, signature, why",
    [
        (None, "v0=" + "0" * 64, "Timestamp"),
        ("abc", "v0=" + "0" * 64, "Timestamp"),
        ("-5", "v0=" + "0" * 64, "Timestamp"),
        ("1e9", "v0=" + "0" * 64, "Timestamp"),
        (str(NOW), None, "Signature"),
        (str(NOW), "", "Signature"),
        (str(NOW), "v1=" + "0" * 64, "Signature"),
        (str(NOW), "v0=xyz", "Signature"),
        (str(NOW), "v0=" + "0" * 64, "does not match"),
    ],
)
def test_malformed_or_wrong_headers_are_named_not_raised(timestamp, signature, why):
    problem = signature_problem(SECRET, BODY.encode(), timestamp, signature, now=NOW)
    assert problem is not None and why in problem


def test_stale_future_other_secret_and_changed_body_are_refused():
    ts, sig = headers()
    assert "stale" in signature_problem(SECRET, BODY.encode(), ts, sig, now=NOW + 301)
    assert "stale" in signature_problem(SECRET, BODY.encode(), ts, sig, now=NOW - 301)
    other_ts, other_sig = headers(secret="not-it")
    assert "does not match" in signature_problem(SECRET, BODY.encode(), other_ts, other_sig, now=NOW)
    assert "does not match" in signature_problem(SECRET, (BODY + "x").encode(), ts, sig, now=NOW)
    assert "no signing secret" in signature_problem("", BODY.encode(), ts, sig, now=NOW)
