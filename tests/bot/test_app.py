"""The app as a whole: a failing listener tells the user and hands back what they typed."""

from __future__ import annotations

from sqlalchemy import text


def test_a_failure_apologises_and_echoes_what_was_typed(bolt):
    with bolt.deps.engine.begin() as conn:
        conn.execute(text("DROP TABLE draft"))  # the next /request cannot keep its draft
    bolt.driver.command("U1", "/request", "SCIM provisioning for Acme <!everyone>")
    dm = bolt.fake.posts_to("U1")
    assert len(dm) == 1
    said = dm[0].args["text"]
    assert "something went wrong" in said and "SCIM provisioning for Acme" in said
    assert "<!everyone>" not in said and "&lt;!everyone&gt;" in said


def test_a_request_that_breaks_before_verification_messages_nobody(bolt):
    """In-process too (the shell, Socket Mode's sibling path): Bolt's own check raises on a malformed
    timestamp; the error handler must not take the unverified body's user at its word."""
    from bot import payloads

    body = payloads.slash_command(
        "/request", "re-login at https://evil.example", user_id="UVICTIM", team_id="T1"
    )
    reply = bolt.driver.send(
        body,
        "application/x-www-form-urlencoded",
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=deadbeef"},
    )
    assert reply.status != 200
    assert bolt.fake.posts_to("UVICTIM") == []
    assert [c.method for c in bolt.fake.calls if c.method.startswith(("chat.", "views."))] == []
