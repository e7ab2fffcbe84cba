"""create_app(): the one Bolt app every run mode (socket, http, shell, tests) drives."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.error import BoltError, BoltUnhandledRequestError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, RetryState, default_retry_handlers
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from sqlalchemy.engine import Engine

from bot.background import Background
from bot.delivery import DeliveryWorker
from bot.oauth import RoutedWebClient, Tokens, acting_as, oauth_settings
from bot.outage import answer_outage
from bot.settings import WHERE_TO_GET, Settings, SettingsError
from handlers import register_listeners
from handlers.common import Deps
from handlers.installation import CONTEXT_KEY as INSTALLATION
from handlers.installation import USER_TEAM_KEY as USER_TEAM
from handlers.installation import installation_of, user_team
from handlers.lifecycle import resume_if_parked
from handlers.text import quote
from handlers.values import ForgedValue
from storage import handled
from storage.db import INTERACTIVE, Patience, database_unavailable, make_engine, migrate, session_scope

log = logging.getLogger(__name__)

# Set in the context once Bolt has verified the payload's signature (or it came over Socket Mode).
VERIFIED = "partnerbot_verified"


# The longest Retry-After a listener waits out before trying again: Slack wants its answer within 3 s,
# and a trigger id dies then too. A longer wait fails at once, and the listener says so where it was used.
LISTENER_MAX_RETRY_AFTER = 2


class ShortRateLimitRetry(RateLimitErrorRetryHandler):
    """slack-sdk's retry on HTTP 429, once, when Slack asks for a wait a listener can afford."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), ["1"])
        try:
            return int(wait[0] if isinstance(wait, list) else wait) <= LISTENER_MAX_RETRY_AFTER
        except (TypeError, ValueError):
            return False


def make_client(settings: Settings) -> WebClient:
    """The listeners' client: the SDK's default retry on connection errors, plus one on rate limits.
    (The delivery worker builds its own without either: re-sending is the outbox's decision.)"""
    return RoutedWebClient(
        token=settings.bot_token or None,
        base_url=settings.slack_api_url,
        retry_handlers=[*default_retry_handlers(), ShortRateLimitRetry(max_retry_count=1)],
    )


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
    deps = Deps(
        settings=settings,
        engine=engine,
        client=client,
        tokens=Tokens(settings, engine),
        background=Background(),
    )
    if with_matcher:
        # Imported here: the embedding backend may pull in PyTorch, which only a running bot should pay for.
        from matching.live import MatchIndex

        deps.matcher = MatchIndex(prefer_embeddings=settings.prefer_embeddings)
        deps.matcher.warm_up(engine)
    deps.worker = DeliveryWorker(engine=engine, client=client, token_for=deps.tokens.for_workspace)
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
    may read the database first. Listeners stay well inside Slack's 3 seconds; sends go via the outbox, and
    work that must call Slack several times (the reaction's offer) runs as a lazy listener after the answer.
    Every verified payload gets a 200, also one nothing here handles (`raise_error_for_unhandled_request`
    routes it to on_error): Slack disables the event subscriptions of apps that fail deliveries."""
    deps = deps or build_deps(settings)
    if deps.background is None:
        deps.background = Background()
    # One installation (SLACK_BOT_TOKEN), or the OAuth install's, each payload with its own (bot/oauth.py).
    per_installation = (
        {"oauth_settings": oauth_settings(settings, deps.tokens)} if settings.oauth and deps.tokens else {}
    )
    try:
        app = App(
            # The token travels with the client (whose base_url may point at a fake Slack).
            signing_secret=settings.signing_secret or None,
            client=deps.client,
            token_verification_enabled=token_verification and bool(settings.bot_token),
            name="partnerbot",
            process_before_response=process_before_response,
            raise_error_for_unhandled_request=True,
            listener_executor=deps.background,
            **per_installation,
        )
    except BoltError as e:  # auth.test refused the token: revoked, from another app, or mistyped
        raise SettingsError(
            f"Slack did not accept SLACK_BOT_TOKEN ({e}). Copy it again from {WHERE_TO_GET['SLACK_BOT_TOKEN']}."
        ) from None

    def attach_deps(body: dict, context: BoltContext, next: Any) -> None:  # noqa: A002 (Bolt's name)
        # Only hands listeners their dependencies; sessions are opened by the listeners themselves.
        # Global middleware runs after Bolt's signature check, so reaching here marks the payload genuine.
        context["deps"] = deps
        context[VERIFIED] = True
        context[INSTALLATION] = installation_of(
            body, context.authorize_result, context.team_id or "", context.enterprise_id or ""
        )
        context[USER_TEAM] = user_team(body)
        resume_if_parked(deps, context[INSTALLATION], body)
        next()

    def rate_limit_notice(body: dict, next: Any) -> BoltResponse | None:  # noqa: A002 (Bolt's name)
        # Slack sends this without a subscription and without an inner event: no listener could match it.
        if body.get("type") != "app_rate_limited":
            next()
            return None
        # Answered here, never passed on: the short session below ends before Bolt goes any further.
        note_rate_limited(deps, body)
        return BoltResponse(status=200, body="")

    app.use(attach_deps)
    app.use(rate_limit_notice)
    register_listeners(app)

    @app.error
    def on_error(
        error: Exception, body: dict, context: BoltContext, request: Any, logger: logging.Logger
    ) -> BoltResponse:
        # The apology goes out with the payload's installation's token, like the listener's own calls.
        with acting_as(context.bot_token or ""):
            return answer_error(error, body, context, request, logger)

    def answer_error(
        error: Exception, body: dict, context: BoltContext, request: Any, logger: logging.Logger
    ) -> BoltResponse:
        """Slack never gets a 5xx for a genuine payload: the person hears what went wrong (their text
        echoed back), and Slack gets what the listener had acknowledged, or a plain 200."""
        if not context.get(VERIFIED):
            # Failed before the payload was verified: nobody named in it may be messaged on its say-so.
            logger.warning("refused a request that failed before verification: %s", type(error).__name__)
            return BoltResponse(status=401, body={"error": "invalid request"})
        if isinstance(error, BoltUnhandledRequestError):
            # An event type, button or callback nothing here listens to: Slack only needs to hear it arrived.
            logger.info("answered 200 to a payload no listener handles: %s", payload_kind(body))
            if body.get("command"):  # configured in Slack but not here: the person still hears something
                return BoltResponse(
                    status=200,
                    body={
                        "text": f"I don't have a {quote(str(body['command']), 40)} command. Try `/request help`."
                    },
                )
            return BoltResponse(status=200, body="")
        acked = context.ack.response if context.ack is not None else None
        if database_unavailable(error):
            logger.warning("database unavailable: %s: %s", type(error).__name__, error)
            answered = answer_outage(deps.client, body, request, typed_text(body), logger)
            return answered or (acked if acked is not None and acked.status == 200 else BoltResponse(200, ""))
        if isinstance(error, ForgedValue):
            logger.warning("refused a payload: %s", error)
            said = f"That {error.what} came back with values I never wrote, so I changed nothing."
        elif isinstance(error, SlackApiError):
            code = slack_error(error)
            logger.error(
                "listener failed: Slack answered %s", code or error.response.status_code, exc_info=error
            )
            said = (
                "Sorry — Slack is rate-limiting me right now, so I couldn't finish that."
                if code == "ratelimited" or error.response.status_code == 429
                else f"Sorry — Slack refused what I tried ({code or 'an error'}), so I couldn't finish that."
            )
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


def payload_kind(body: dict[str, Any]) -> str:
    """A payload's kind for the log (an event's own type), never its content."""
    event = body.get("event")
    if isinstance(event, dict) and event.get("type"):
        return f"{body.get('type')}/{event.get('type')}"
    return str(body.get("type") or body.get("command") or "?")[:80]


def slack_error(error: SlackApiError) -> str:
    data = error.response.data if error.response is not None else None
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def note_rate_limited(deps: Deps, body: dict[str, Any]) -> None:
    """Slack held back our events from `minute_rate_limited` on (more than 30,000 in an hour from one
    workspace, or too many failed deliveries): logged, and counted in /healthz."""
    try:
        minute = datetime.fromtimestamp(int(body.get("minute_rate_limited") or 0), UTC)
    except (TypeError, ValueError, OverflowError):
        minute = datetime.fromtimestamp(0, UTC)
    team = str(body.get("team_id") or "")[:32]
    log.warning("Slack is rate-limiting events for %s from %s UTC", team or "?", f"{minute:%Y-%m-%d %H:%M}")
    try:
        with session_scope(deps.engine) as session:
            handled.note_rate_limited(session=session, team_id=team, minute=minute)
    except Exception:  # the answer to Slack matters more than the count
        log.exception("could not record the rate-limit notice")


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
    """DM the (verified) user what went wrong, handing back what they typed; when Slack won't take the DM
    (a Slack Connect user from another organisation, say), tell them only-you in the channel they used."""
    user = body.get("user_id")
    for holder in ("user", "event"):
        if not user and isinstance(body.get(holder), dict):
            user = body[holder].get("id" if holder == "user" else "user")
    if not user or not isinstance(user, str):
        return
    typed = typed_text(body)
    kept = f" Here is what you typed, so it isn't lost:\n> {quote(typed, 2500)}" if typed else ""
    text = f"{said}{kept}\nPlease try again in a minute; if it keeps happening, tell your Partnerbot admin."
    try:
        client.chat_postMessage(channel=user, text=text)
        return
    except Exception:  # Slack itself may be what failed; the log has the original error
        logger.warning("could not DM %s about the failure", user, exc_info=True)
    channel = channel_of(body)
    if not channel:
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except Exception:
        logger.warning("could not tell %s about the failure in %s either", user, channel, exc_info=True)


def channel_of(body: dict[str, Any]) -> str:
    """The channel a payload came from (the surface the person used), or ""."""
    channel = body.get("channel")
    container = body.get("container")
    event = body.get("event")
    item = event.get("item") if isinstance(event, dict) else None
    for found in (
        body.get("channel_id"),
        channel.get("id") if isinstance(channel, dict) else None,
        container.get("channel_id") if isinstance(container, dict) else None,
        event.get("channel") if isinstance(event, dict) else None,
        item.get("channel") if isinstance(item, dict) else None,
    ):
        if isinstance(found, str) and found:
            return found
    return ""
