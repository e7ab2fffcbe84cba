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
from storage.db import INTERACTIVE, Patience, database_unavailable, make_engine, migrate

log = logging.getLogger(__name__)


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
        from handlers.matching import MatchIndex

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
        context["deps"] = deps
        next()

    app.use(attach_deps)
    register_listeners(app)

    @app.error
    def on_error(error: Exception, body: dict, request: Any, logger: logging.Logger) -> BoltResponse | None:
        logger.error("listener failed", exc_info=error)
        if database_unavailable(error):
            return answer_outage(deps.client, body, request, typed_text(body), logger)
        tell_user_about_failure(deps.client, body, logger)
        return None

    app.deps = deps  # type: ignore[attr-defined]
    return app


def typed_text(body: dict[str, Any]) -> str:
    """What the user had typed in the payload that failed, so the apology can hand it back."""
    if body.get("command"):
        return f"{body['command']} {body.get('text') or ''}".strip()
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    for block in values.values():
        for element in block.values():
            if isinstance(element, dict) and element.get("value"):
                return str(element["value"])
    return str((body.get("message") or {}).get("text") or "")


def tell_user_about_failure(client: WebClient, body: dict[str, Any], logger: logging.Logger) -> None:
    user = body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
    if not user:
        return
    typed = typed_text(body)
    kept = f" Here is what you typed, so it isn't lost:\n> {quote(typed, 2500)}" if typed else ""
    try:
        client.chat_postMessage(
            channel=user,
            text=f"Sorry — something went wrong on my side.{kept}\n"
            "Please try again in a minute; if it keeps happening, tell your Partnerbot admin.",
        )
    except Exception:  # Slack itself may be what failed; the log has the original error
        logger.warning("could not tell %s about the failure", user, exc_info=True)
