"""create_app(): the one Bolt app every run mode (socket, http, shell, tests) drives."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.delivery import DeliveryWorker
from bot.outage import answer_outage
from bot.settings import WHERE_TO_GET, Settings, SettingsError
from handlers import register_listeners
from handlers.common import Deps
from handlers.text import quote
from handlers.values import ForgedValue
from storage.db import INTERACTIVE, Patience, database_unavailable, make_engine, migrate

log = logging.getLogger(__name__)

# Set in the context once Bolt has verified the payload's signature (or it came over Socket Mode).
VERIFIED = "partnerbot_verified"


def make_client(settings: Settings) -> WebClient:
    return WebClient(token=settings.bot_token or None, base_url=settings.slack_api_url)


def build_deps(
    settings: Settings,
    *,
    engine: Engine | None = None,
    run_migrations: bool = True,
    start_worker: bool | None = None,
    with_matcher: bool = True,
    patience: Patience = INTERACTIVE,
) -> Deps:
    """`with_matcher=False` for processes that never take a request form (the clock); `patience=PATIENT`
    for those that answer nobody in real time."""
    engine = engine or make_engine(settings.database_url, patience=patience)
    if run_migrations:
        migrate(engine)
    client = make_client(settings)
    deps = Deps(settings=settings, engine=engine, client=client)
    if with_matcher:
        # Imported here: the embedding backend may pull in PyTorch, which only a running bot should pay for.
        from matching.live import MatchIndex

        deps.matcher = MatchIndex(prefer_embeddings=settings.prefer_embeddings)
        deps.matcher.warm_up(engine)
    deps.worker = DeliveryWorker(engine=engine, client=client)
    if settings.delivery_worker if start_worker is None else start_worker:
        deps.worker.start()
    return deps


def create_app(
    settings: Settings,
    deps: Deps | None = None,
    *,
    token_verification: bool = True,
    process_before_response: bool = True,
) -> App:
    """`process_before_response` (on in every mode) runs each listener to the end before Slack gets its
    answer: what a command stored is committed before the person can type the next one, which otherwise
    may read the database first. Listeners stay well inside Slack's 3 seconds; sends go via the outbox."""
    deps = deps or build_deps(settings)
    try:
        app = App(
            # The token travels with the client (whose base_url may point at a fake Slack).
            signing_secret=settings.signing_secret or None,
            client=deps.client,
            token_verification_enabled=token_verification and bool(settings.bot_token),
            name="partnerbot",
            process_before_response=process_before_response,
        )
    except BoltError as e:  # auth.test refused the token: revoked, from another app, or mistyped
        raise SettingsError(
            f"Slack did not accept SLACK_BOT_TOKEN ({e}). Copy it again from {WHERE_TO_GET['SLACK_BOT_TOKEN']}."
        ) from None

    def attach_deps(context: BoltContext, next: Any) -> None:  # noqa: A002 (Bolt's name)
        # Only hands listeners their dependencies; sessions are opened by the listeners themselves.
        # Global middleware runs after Bolt's signature check, so reaching here marks the payload genuine.
        context["deps"] = deps
        context[VERIFIED] = True
        next()

    app.use(attach_deps)
    register_listeners(app)

    @app.error
    def on_error(
        error: Exception, body: dict, context: BoltContext, request: Any, logger: logging.Logger
    ) -> BoltResponse:
        """Slack never gets a 5xx for a genuine payload: the person hears what went wrong (their text
        echoed back), and Slack gets what the listener had acknowledged, or a plain 200."""
        if not context.get(VERIFIED):
            # Failed before the payload was verified: nobody named in it may be messaged on its say-so.
            logger.warning("refused a request that failed before verification: %s", type(error).__name__)
            return BoltResponse(status=401, body={"error": "invalid request"})
        acked = context.ack.response if context.ack is not None else None
        if database_unavailable(error):
            logger.warning("database unavailable: %s: %s", type(error).__name__, error)
            answered = answer_outage(deps.client, body, request, typed_text(body), logger)
            return answered or (acked if acked is not None and acked.status == 200 else BoltResponse(200, ""))
        if isinstance(error, ForgedValue):
            logger.warning("refused a payload: %s", error)
            said = f"That {error.what} came back with values I never wrote, so I changed nothing."
        else:
            logger.error("listener failed", exc_info=error)
            said = "Sorry — something went wrong on my side, so I couldn't finish that."
        if acked is None and body.get("type") == "view_submission":
            field = first_input(body)
            if field:
                # The form stays open with everything typed in it; the message sits on its first field.
                return BoltResponse(
                    status=200,
                    body={
                        "response_action": "errors",
                        "errors": {field: f"{said} What you typed is still here."},
                    },
                )
        tell_user_about_failure(deps.client, body, logger, said)
        if acked is not None and acked.status == 200:
            return acked
        return BoltResponse(status=200, body="")

    app.deps = deps  # type: ignore[attr-defined]
    return app


def typed_text(body: dict[str, Any]) -> str:
    """What the user had typed in the payload that failed, so the apology can hand it back."""
    if body.get("command"):
        return f"{body['command']} {body.get('text') or ''}".strip()
    for block in _form_values(body).values():
        for element in block.values() if isinstance(block, dict) else ():
            if isinstance(element, dict) and element.get("value"):
                return str(element["value"])
    message = body.get("message")
    return str(message.get("text") or "") if isinstance(message, dict) else ""


def _form_values(body: dict[str, Any]) -> dict[str, Any]:
    """A submitted form's state values; {} for anything not shaped like one (a forged body may be)."""
    view = body.get("view")
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


def first_input(body: dict[str, Any]) -> str:
    """The block id of a submitted form's first input, where an error can be shown."""
    return next((k for k in _form_values(body) if isinstance(k, str) and k), "")


def tell_user_about_failure(
    client: WebClient,
    body: dict[str, Any],
    logger: logging.Logger,
    said: str = "Sorry — something went wrong on my side.",
) -> None:
    """DM the (verified) user what went wrong, handing back what they typed."""
    user = body.get("user_id")
    for holder in ("user", "event"):
        if not user and isinstance(body.get(holder), dict):
            user = body[holder].get("id" if holder == "user" else "user")
    if not user or not isinstance(user, str):
        return
    typed = typed_text(body)
    kept = f" Here is what you typed, so it isn't lost:\n> {quote(typed, 2500)}" if typed else ""
    try:
        client.chat_postMessage(
            channel=user,
            text=f"{said}{kept}\n"
            "Please try again in a minute; if it keeps happening, tell your Partnerbot admin.",
        )
    except Exception:  # Slack itself may be what failed; the log has the original error
        logger.warning("could not tell %s about the failure", user, exc_info=True)
