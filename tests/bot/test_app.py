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
