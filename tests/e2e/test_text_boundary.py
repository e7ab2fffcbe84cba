"""Text a database would refuse, and angle brackets a person typed, over signed HTTP on both databases:
the same input is stored the same way, as typed, and shown escaped."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import Session, select

from storage.models import Occurrence, ProductArea

PING = re.compile(r"<!(channel|here|everyone)|<script", re.IGNORECASE)


@pytest.mark.parametrize("server", ["sqlite", "postgres"], indirect=True)
def test_nul_and_brackets_are_stored_as_typed_on_both_databases(server):
    d, fake = server.driver, server.fake
    d.command("U1ADMIN", "/partnerbot", "pm add <@U1ADMIN|admin> Reporting")
    # What Slack sends for "Reporting: close <fast>\0 & easy" typed in a command.
    focus = d.command("U1ADMIN", "/focus", "Reporting: close &lt;fast&gt;\x00 &amp; easy")
    assert focus.status == 200 and "close &lt;fast&gt;" in focus.text

    reply = d.command("U2REP", "/request", "Export &lt;script&gt;alert(1)&lt;/script&gt;\x00 to CSV")
    assert reply.status == 200
    view = fake.wait_for(lambda: d.opened_views())[-1]
    typed = next(b for b in view["blocks"] if b.get("block_id") == "request")["element"]["initial_value"]
    assert typed == "Export <script>alert(1)</script>\x00 to CSV"
    # Form fields arrive unescaped, exactly as typed.
    answer = d.submit(
        "U2REP",
        view,
        {"request": typed, "customer": "R&D <Labs>\x00", "root_problem": "They paste <b>\x00</b> by hand"},
    )
    assert answer.status == 200

    occ = fake.wait_for(lambda: [o for o in _occurrences(server.engine)])[0]
    assert occ.text == "Export <script>alert(1)</script> to CSV"
    assert occ.customer == "R&D <Labs>" and occ.root_problem == "They paste <b></b> by hand"
    with Session(server.engine) as s:
        assert s.exec(select(ProductArea)).one().focus == "close <fast> & easy"
    receipt = fake.wait_for(
        lambda: [c for c in fake.posts_to("U2REP") if "Logged for" in json.dumps(c.args)]
    )[0]
    shown = json.dumps(receipt.args, ensure_ascii=False)
    assert "Export &lt;script&gt;alert(1)&lt;/script&gt;" in shown and "R&amp;D &lt;Labs&gt;" in shown
    sent = [c for c in fake.calls if c.method.startswith("chat.")]
    assert not any(PING.search(json.dumps(c.args)) for c in sent)


def _occurrences(engine) -> list[Occurrence]:
    with Session(engine) as s:
        return list(s.exec(select(Occurrence).order_by(Occurrence.id)))
