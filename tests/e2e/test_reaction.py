"""Logging by emoji reaction, over signed HTTP."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from bot.payloads import buttons_in
from storage.models import Occurrence


def test_memo_reaction_offers_to_log_the_message(server):
    d, fake = server.driver, server.fake
    # The message the reaction is on, as it sits in the channel.
    fake.messages["C0DEALS"].append(
        {
            "type": "message",
            "ts": "1700000001.000200",
            "user": "U7AE",
            "text": "Prospect needs data residency in the EU <!here>",
        }
    )
    d.event(
        {
            "type": "reaction_added",
            "user": "U8REP",
            "reaction": "memo",
            "item": {"type": "message", "channel": "C0DEALS", "ts": "1700000001.000200"},
        }
    )
    offer = fake.wait_for(lambda: fake.posts_to("U8REP"))[0]
    assert "data residency" in json.dumps(offer.args) and "<!here>" not in json.dumps(offer.args)
    d.click(
        "U8REP",
        buttons_in(offer.args["blocks"])[0],
        channel=offer.response["channel"],
        message={"ts": offer.response["ts"]},
    )
    view = fake.wait_for(lambda: d.opened_views())[-1]
    d.submit("U8REP", view, {"customer": "Stark Industries"})
    occ = fake.wait_for(lambda: Session(server.engine).exec(select(Occurrence)).all())[0]
    assert (
        occ.source == "reaction"
        and occ.message_ts == "1700000001.000200"
        and occ.customer == "Stark Industries"
    )
    assert "data residency" in occ.source_text


def test_other_reactions_are_ignored(server):
    d, fake = server.driver, server.fake
    d.event(
        {
            "type": "reaction_added",
            "user": "U8REP",
            "reaction": "thumbsup",
            "item": {"type": "message", "channel": "C0DEALS", "ts": "1.2"},
        }
    )
    d.command("U8REP", "/focus", "")  # a later request proves the first was handled (or ignored)
    assert fake.posts_to("U8REP") == []
