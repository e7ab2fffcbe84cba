"""handlers/once.py in the real app: which key each kind of payload claims, a listener that failed leaves
the payload to Slack's retry, a lazy listener runs only for the payload's first delivery, an attempt that never finished is taken over, and the clock prunes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from sqlmodel import Session, select

from bot import payloads
from bot.clock import prune_handled
from handlers.once import Registrar, payload_key
from storage.db import session_scope
from storage.models import Draft, HandledPayload

T = "T0PARTNER"


def body_of(form: str) -> dict:
    return json.loads(parse_qs(form)["payload"][0])


def test_each_kind_of_payload_is_keyed_by_the_ids_slack_gives_it():
    command = {
        k: v[0]
        for k, v in parse_qs(
            payloads.slash_command("/request", "x", user_id="U1", team_id=T, trigger_id="tr1")
        ).items()
    }
    assert payload_key(command, T) == ("command", f"command:{T}:tr1")
    event = json.loads(payloads.event({"type": "reaction_added"}, team_id=T, event_id="Ev42"))
    assert payload_key(event, T) == ("event", f"event:{T}:Ev42")
    click = body_of(
        payloads.block_actions(
            {"action_id": "req_planned", "value": "7"}, user_id="U1", team_id=T, action_ts="1700000000.5"
        )
    )
    assert payload_key(click, T) == ("action", f"action:{T}:U1:req_planned:1700000000.5")
    view = {"id": "V1", "hash": "h1", "blocks": []}
    submitted = body_of(payloads.view_submission(view, {}, user_id="U1", team_id=T))
    assert payload_key(submitted, T) == ("view_submission", f"view_submission:{T}:V1:h1")
    closed = body_of(payloads.view_closed(view, {}, user_id="U1", team_id=T))
    assert payload_key(closed, T) == ("view_closed", f"view_closed:{T}:V1:h1")
    shortcut = body_of(
        payloads.message_action({"text": "x", "ts": "1.2"}, user_id="U1", team_id=T, channel_id="C1")
    )
    assert payload_key(shortcut, T) == ("shortcut", f"shortcut:{T}:{shortcut['trigger_id']}")
    # A view without Slack's hash (built by hand): what was submitted tells submissions apart.
    plain = {"id": "VFAKE", "blocks": [], "private_metadata": '{"d": 1}'}
    one = payload_key(body_of(payloads.view_submission(plain, {}, user_id="U1", team_id=T)), T)
    again = payload_key(body_of(payloads.view_submission(plain, {}, user_id="U1", team_id=T)), T)
    other = payload_key(
        body_of(
            payloads.view_submission({**plain, "private_metadata": '{"d": 2}'}, {}, user_id="U1", team_id=T)
        ),
        T,
    )
    assert one == again != other


def reaction(fake, user="U8REP"):
    fake.messages["C0DEALS"].append(
        {
            "type": "message",
            "ts": "1700000001.000200",
            "user": "U7AE",
            "text": "Prospect needs data residency in the EU",
        }
    )
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": "memo",
        "item": {"type": "message", "channel": "C0DEALS", "ts": "1700000001.000200"},
    }


def offers(fake, user="U8REP"):
    return [c for c in fake.posts_to(user) if "Log as request" in json.dumps(c.args)]


def test_a_listener_that_failed_leaves_the_event_to_slacks_retry(bolt):
    """An event listener that raises (here a Slack call it makes in its ack function fails) releases its
    claim: Slack's retry acts, once."""
    d, fake = bolt.driver, bolt.fake
    acted = []

    def flaky_mention(event, client):
        if not acted:
            acted.append("failed")
            raise RuntimeError("the first attempt dies half-way")
        acted.append("done")
        client.chat_postMessage(channel=event["user"], text="Heard you")

    Registrar(bolt.app).event("app_mention")(flaky_mention)
    mention = {
        "type": "app_mention",
        "user": "U8REP",
        "text": "<@UBOT> hi",
        "channel": "C0DEALS",
        "ts": "1.2",
    }
    assert d.event(mention, event_id="EvFAIL1").status == 200  # the apology; Slack is told nothing failed
    assert acted == ["failed"]
    d.event(mention, event_id="EvFAIL1", retry_num=1, retry_reason="http_error")
    d.event(mention, event_id="EvFAIL1", retry_num=2, retry_reason="http_error")
    assert acted == ["failed", "done"]
    assert len([c for c in fake.posts_to("U8REP") if c.args.get("text") == "Heard you"]) == 1
    with Session(bolt.deps.engine) as s:
        claim = s.exec(select(HandledPayload).where(HandledPayload.key == f"event:{T}:EvFAIL1")).one()
        assert claim.done_at is not None


def test_an_attempt_that_never_finished_is_taken_over_by_the_retry(bolt):
    d, fake = bolt.driver, bolt.fake
    with session_scope(bolt.deps.engine) as s:
        # What a worker killed mid-listener leaves behind: a claim, never done.
        s.add(
            HandledPayload(
                key=f"event:{T}:EvDIED", team_id=T, kind="event", created_at=datetime(2020, 1, 1, tzinfo=UTC)
            )
        )
    d.event(reaction(fake), event_id="EvDIED", retry_num=1)
    assert len(fake.wait_for(lambda: offers(fake))) == 1


def test_the_clock_forgets_handled_payloads_after_a_day_at_most_hourly(bolt):
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    with session_scope(bolt.deps.engine) as s:
        for key, age in (("a", timedelta(days=2)), ("b", timedelta(hours=1))):
            s.add(HandledPayload(key=key, created_at=now - age))
    assert prune_handled(bolt.deps, now) == 1
    with session_scope(bolt.deps.engine) as s:
        s.add(HandledPayload(key="c", created_at=now - timedelta(days=3)))
    assert prune_handled(bolt.deps, now + timedelta(minutes=30)) == 0  # pruned within the hour
    assert prune_handled(bolt.deps, now + timedelta(hours=1)) == 1
    with Session(bolt.deps.engine) as s:
        assert s.exec(select(HandledPayload.key)).all() == ["b"]


def test_request_claims_with_its_draft_so_a_command_sent_twice_opens_one_form(bolt):
    """/request claims in the transaction that stores its draft: the claim is stored done with it, and the
    same command again (one trigger id) opens nothing and keeps no second draft."""
    d, fake = bolt.driver, bolt.fake
    assert d.command("U1", "/request", "CSV export", trigger_id="1.2.twice").status == 200
    assert d.command("U1", "/request", "CSV export", trigger_id="1.2.twice").status == 200
    assert len(fake.calls_to("views.open")) == 1
    with Session(bolt.deps.engine) as s:
        assert [draft.text for draft in s.exec(select(Draft)).all()] == ["CSV export"]
        claim = s.exec(select(HandledPayload).where(HandledPayload.key == f"command:{T}:1.2.twice")).one()
        assert claim.kind == "command" and claim.done_at is not None
    d.command("U1", "/request", "CSV export", trigger_id="1.2.again")  # another trigger: another form
    assert len(fake.calls_to("views.open")) == 2


def test_request_whose_form_failed_on_our_side_leaves_no_claim(bolt, monkeypatch):
    """A /request that fails after its transaction committed releases its claim (nothing was opened)."""
    d, fake = bolt.driver, bolt.fake
    from handlers.views import request_form

    def broken(**kwargs):
        raise RuntimeError("the form could not be built")

    monkeypatch.setattr(request_form, "request_modal", broken)
    d.command("U1", "/request", "CSV export", trigger_id="1.2.broken")
    assert fake.calls_to("views.open") == []
    with Session(bolt.deps.engine) as s:
        assert (
            s.exec(select(HandledPayload).where(HandledPayload.key == f"command:{T}:1.2.broken")).all() == []
        )
