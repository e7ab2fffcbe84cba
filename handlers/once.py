"""Exactly once per Slack payload: every listener is registered through `Registrar`, which claims the
payload's own key (storage/handled.py) before the listener runs, so Slack's event retries and a person's
double submit reach it once, whichever worker or process gets them.

Keys are scoped by the installation that received the payload (handlers/installation.py) and come from
ids Slack puts in the payload: `event:{team}:{event_id}`, `command:{team}:{trigger_id}`,
`shortcut:{team}:{trigger_id}`, `action:{team}:{user}:{action_id}:{action_ts}` and
`view_submission:{team}:{view id}:{view hash}` (the hash is per view version, so a submit after the form
changed is new). A duplicate is acknowledged at once and does nothing.

The claim is its own short transaction, committed before the listener runs (no session is held around
it). When the listener raises, or answers a form with errors, the claim is released before the answer:
nothing happened, so Slack's retry (or the person's corrected submit) acts. Otherwise it is marked done
just after the answer, in the executor of the work after it (bot/background.py), keeping that write off
the answer's path: a claim turns duplicates away from the moment it is committed, done or not; "done"
only keeps it from being taken over after STALE_CLAIM, which is for a worker that died before answering
(Slack retries only what was not answered). A listener marked `claims_in_its_transaction` (`/request`)
claims for itself, in the transaction that stores its work, so one commit holds both. Two real clicks
are two payloads; the decisions they make are guarded by compare-and-set updates where they are stored.
A lazy listener (the reaction's offer) is covered through its ack function: what became of the claim is
known when the ack returns, so the lazy work starts once per payload and is never re-run by a retry.

Being the one place every payload passes, it also writes the payload's log line (team_id, user, listener,
latency, outcome) and its latency metric.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.kwargs_injection import build_required_kwargs
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_bolt.util.utils import get_arg_names_of_callable
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import metrics
from bot.oauth import acting_as
from handlers.installation import installation
from storage import handled
from storage.db import session_scope

log = logging.getLogger(__name__)

# Bolt's registration methods whose listeners act on a payload. Suggestions for a select menu (options)
# are answered afresh each time and stay out.
LISTENER_KINDS = frozenset(
    {
        "command",
        "action",
        "block_action",
        "view",
        "view_submission",
        "view_closed",
        "event",
        "shortcut",
        "global_shortcut",
        "message_shortcut",
        "message",
    }
)


# What became of the payload's claim, left in Bolt's context for the lazy listeners (which get a copy).
CLAIM = "partnerbot_claim"
WON = "won"


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def payload_key(body: dict[str, Any], team: str) -> tuple[str, str] | None:
    """(kind, key) for a payload, or None when it carries no id to tell a repeat by."""
    kind = body.get("type") or ""
    if kind == "event_callback" and body.get("event_id"):
        return "event", f"event:{team}:{body['event_id']}"
    if body.get("command") and body.get("trigger_id"):
        return "command", f"command:{team}:{body['trigger_id']}"
    user = (body.get("user") or {}).get("id") or ""
    if kind == "block_actions":
        action = (body.get("actions") or [{}])[0]
        when = action.get("action_ts") or body.get("trigger_id")
        if not when:
            return None
        return "action", f"action:{team}:{user}:{action.get('action_id', '')}:{when}"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view") or {}
        # Slack always sends the view's id and hash; a view built by hand (tests, the shell's replies)
        # may lack them, and then what was submitted tells one submission from another.
        version = view.get("hash") or _digest(user, view.get("private_metadata"), view.get("state"))
        return kind, f"{kind}:{team}:{view.get('id', '')}:{version}"
    if kind in ("message_action", "shortcut") and body.get("trigger_id"):
        return "shortcut", f"shortcut:{team}:{body['trigger_id']}"
    return None


def _fit(key: str) -> str:
    """Keys longer than the column keep their start and end in a digest, so they stay unique."""
    return key if len(key) <= 255 else f"{key[:180]}:{_digest(key)}"


def _refused(response: BoltResponse | None) -> bool:
    """The listener answered a form with errors: nothing was stored, the person will submit again."""
    if response is None or not isinstance(response.body, str) or "errors" not in response.body:
        return False
    try:
        return json.loads(response.body).get("response_action") == "errors"
    except ValueError:
        return False


def once(listener: Callable[..., Any], engine_of: Callable[[BoltRequest], Engine]) -> Callable[..., Any]:
    """`listener`, run at most once per payload key. Bolt passes the wrapper the request and builds the
    listener's own arguments from it, exactly as it would have."""
    names = get_arg_names_of_callable(listener)

    name = getattr(listener, "__name__", "listener")

    def run_once(request: BoltRequest, response: BoltResponse, logger: logging.Logger) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            # The payload's installation's token for every call the listener makes through deps.client
            # (bot/oauth.py; with one SLACK_BOT_TOKEN the client carries it already).
            with acting_as(request.context.bot_token or ""):
                result = claim_and_run(request, response, logger)
            claim = request.context.get(CLAIM)
            outcome = "done" if claim in (WON, None) else claim
            return result
        finally:
            _account(request, name, outcome, time.perf_counter() - started)

    def claim_and_run(request: BoltRequest, response: BoltResponse, logger: logging.Logger) -> Any:
        context = request.context
        # The installation's, not the team the payload names: in a Slack Connect channel both sides'
        # payloads for one action must meet on one key.
        team = installation(context).key
        found = payload_key(request.body, team)

        def call() -> Any:
            kwargs = build_required_kwargs(
                logger=logger,
                required_arg_names=names,
                request=request,
                response=response,
                this_func=listener,
                next_keys_required=False,
            )
            return listener(**kwargs)

        if found is None:
            context[CLAIM] = WON
            return call()
        kind, key = found[0], _fit(found[1])
        engine = engine_of(request)
        if getattr(listener, CLAIMS_ITSELF, False):
            return claimed_by_listener(request, call, engine, (kind, key, team))
        with session_scope(engine) as session:
            won = handled.claim_once(session=session, key=key, team_id=team, kind=kind)
        if not won:
            context[CLAIM] = "duplicate"
            logger.info(
                "%s was handled already (retry %s): nothing to do",
                key,
                request.headers.get("x-slack-retry-num", ["-"])[0],
            )
            if context.ack.response is None:
                context.ack()
            return None
        try:
            result = call()
        except BaseException:
            context[CLAIM] = "failed"
            _settle(engine, key, release=True)
            raise
        refused = _refused(context.ack.response)
        context[CLAIM] = "refused" if refused else WON
        if refused:
            _settle(engine, key, release=True)  # before the answer: the corrected submit may come at once
        else:
            _after_answer(request, lambda: _settle(engine, key, release=False))
        return result

    def claimed_by_listener(
        request: BoltRequest, call: Callable[[], Any], engine: Engine, pending: tuple[str, str, str]
    ) -> Any:
        context = request.context
        context[PENDING] = pending
        try:
            result = call()
        except BaseException:
            if context.get(CLAIM) == WON:  # its transaction may have committed the claim: let it go
                _settle(engine, pending[1], release=True)
            context[CLAIM] = "failed"
            raise
        if context.get(CLAIM) == "duplicate" and context.ack.response is None:
            context.ack()
        elif context.get(CLAIM) == WON and _refused(context.ack.response):
            context[CLAIM] = "refused"
            _settle(engine, pending[1], release=True)
        return result

    run_once.__name__ = name
    run_once.__qualname__ = getattr(listener, "__qualname__", run_once.__name__)
    run_once.__module__ = getattr(listener, "__module__", __name__)
    run_once.__doc__ = listener.__doc__
    return run_once


# A listener marked by `claims_in_its_transaction` claims its payload itself, with `claim_in`, inside the
# transaction that stores what it acts on: one commit makes both the claim (already done) and its work
# durable, or neither. It must claim before anything a person could see (a form opened, a message sent).
CLAIMS_ITSELF = "partnerbot_claims_itself"
PENDING = "partnerbot_pending_claim"


def claims_in_its_transaction(listener: Callable[..., Any]) -> Callable[..., Any]:
    setattr(listener, CLAIMS_ITSELF, True)
    return listener


def claim_in(session: Session, context: Any) -> bool:
    """For a listener marked `claims_in_its_transaction`: claim its payload in `session` (committed, and
    marked done, with the session). False for a duplicate: then it does nothing more (its session may
    commit; the claim left nothing in it). A payload with nothing to tell a repeat by always acts."""
    pending = context.get(PENDING)
    if pending is None:
        context[CLAIM] = WON
        return True
    kind, key, team = pending
    won = handled.claim_once(session=session, key=key, team_id=team, kind=kind, done=True)
    context[CLAIM] = WON if won else "duplicate"
    if not won:
        log.info("%s was handled already: nothing to do", key)
    return won


def _user_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id") or "")
    event = body.get("event") or {}
    found = body.get("user_id") or user or event.get("user")
    if isinstance(found, dict):  # user_change carries the whole profile
        found = found.get("id")
    return str(found or "")


def _account(request: BoltRequest, listener: str, outcome: str, seconds: float) -> None:
    """The payload's one log line and its latency, whatever became of it."""
    body = request.body if isinstance(request.body, dict) else {}
    found = payload_key(body, "")
    kind = found[0] if found else (body.get("type") or "other")
    try:
        team = installation(request.context).key
    except Exception:  # the line is still worth writing without it
        team = str(body.get("team_id") or "")
    metrics.observe_request(kind, outcome, seconds)
    log.info(
        "%s %s: %s in %.0f ms",
        kind,
        listener,
        outcome,
        seconds * 1000,
        extra={
            "team_id": team,
            "user": _user_of(body),
            "listener": listener,
            "kind": kind,
            "latency_ms": round(seconds * 1000, 1),
            "outcome": outcome,
        },
    )


def after_claim(lazy: Callable[..., Any]) -> Callable[..., Any]:
    """`lazy`, run only when its ack function won the payload's claim and finished: Bolt starts a lazy
    listener after the ack whatever became of it, so a duplicate (Slack's retry) would act again."""
    names = get_arg_names_of_callable(lazy)

    def run_after_claim(request: BoltRequest, response: BoltResponse, logger: logging.Logger) -> Any:
        outcome = request.context.get(CLAIM)
        if outcome != WON:
            logger.info("%s not run: its payload was %s", getattr(lazy, "__name__", "lazy listener"), outcome)
            return None
        kwargs = build_required_kwargs(
            logger=logger,
            required_arg_names=names,
            request=request,
            response=response,
            this_func=lazy,
            next_keys_required=False,
        )
        # Its own thread: the payload's installation's token is named again for its calls to Slack.
        with acting_as(request.context.bot_token or ""):
            return lazy(**kwargs)

    run_after_claim.__name__ = getattr(lazy, "__name__", "lazy")
    run_after_claim.__qualname__ = getattr(lazy, "__qualname__", run_after_claim.__name__)
    run_after_claim.__module__ = getattr(lazy, "__module__", __name__)
    run_after_claim.__doc__ = lazy.__doc__
    return run_after_claim


def _settle(engine: Engine, key: str, *, release: bool) -> None:
    try:
        with session_scope(engine) as session:
            if release:
                handled.release(session=session, key=key)
            else:
                handled.mark_done(session=session, key=key)
    except Exception:  # the listener's outcome stands; an unsettled claim only delays a retry
        log.exception("could not settle the claim on %s", key)


def _after_answer(request: BoltRequest, work: Callable[[], None]) -> None:
    """`work` in the executor of the work after Slack's answer (bot/background.py), or now without one."""
    deps = request.context.get("deps")
    background = getattr(deps, "background", None)
    if background is None:
        work()
        return
    try:
        background.submit(work)
    except RuntimeError:  # shutting down: no thread will take it
        work()


def _deps_engine(request: BoltRequest) -> Engine:
    return request.context["deps"].engine


class Registrar:
    """Stands in for the App while listeners register (`register(app)` in each handlers package):
    `registrar.command("/x")(fn)` registers `once(fn)`; everything else is the App's own."""

    def __init__(self, app: App, engine_of: Callable[[BoltRequest], Engine] = _deps_engine) -> None:
        self._app = app
        self._engine_of = engine_of

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._app, name)
        if name not in LISTENER_KINDS:
            return attr

        def registration(*args: Any, **kwargs: Any) -> Callable[..., Any]:
            decorate = attr(*args, **kwargs)

            def register(listener: Callable[..., Any], *lazy: Callable[..., Any]) -> Callable[..., Any]:
                decorate(once(listener, self._engine_of), *(after_claim(f) for f in lazy))
                return listener

            return register

        return registration
