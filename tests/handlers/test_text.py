"""Slack's markup read as the person typed it: only Slack's own tokens are markup."""

from __future__ import annotations

from handlers.text import escape, from_slack


def test_slack_tokens_are_read_and_everything_else_in_brackets_is_kept():
    assert from_slack("<@U1|dana> <#C1|general> <!here> <!subteam^S1|@eng> <https://x.test|docs>") == (
        "@dana #general @here @eng docs (https://x.test)"
    )
    assert from_slack("<@U1>", lambda uid: "Dana") == "@Dana"
    # Slack sends a typed `<` as `&lt;`; one that arrives raw was typed too, and is kept.
    assert from_slack("fix &lt;script&gt;alert(1)&lt;/script&gt;") == "fix <script>alert(1)</script>"
    assert from_slack("fix <script>alert(1)</script> a<b>c") == "fix <script>alert(1)</script> a<b>c"
    assert escape(from_slack("<script>")) == "&lt;script&gt;"
